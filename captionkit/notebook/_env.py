"""What this machine can render: hardware, the precision that fits, and the local model cache.

>>> env = Environment(python="3.11.9", torch=None, devices=(), ram_total=16 * 1024**3, cached=())
>>> print(env.suggestion())
no render extra: authoring only (pip install 'captionkit[render]')
"""

from __future__ import annotations

import importlib.util
import platform
from dataclasses import dataclass
from html import escape
from typing import Any

from captionkit.render.errors import RenderError
from captionkit.render.hub import list_cached_models
from captionkit.render.memory import weights_gib
from captionkit.render.plan import peak_gib

__all__ = ["Device", "Environment", "environment"]

_GIB = 1024**3


@dataclass(frozen=True)
class Device:
    """One CUDA GPU.

    Attributes:
        name: ``cuda:N``.
        model: The card's name.
        total: Memory in bytes.
        free: Free memory in bytes now.
        bf16: Whether the card computes in bfloat16.
    """

    name: str
    model: str
    total: int
    free: int
    bf16: bool


@dataclass(frozen=True)
class Environment:
    """Hardware and cache facts for choosing a model variant.

    Attributes:
        python: Python version.
        torch: torch version, or None without the render extra.
        devices: CUDA GPUs.
        ram_total: System memory in bytes (0 when unknown).
        cached: Ideogram 4 models in the Hugging Face cache (``CachedModel`` records).
        bitsandbytes: Whether bitsandbytes (nf4) is installed.
    """

    python: str
    torch: str | None
    devices: tuple[Device, ...]
    ram_total: int
    cached: tuple[Any, ...]
    bitsandbytes: bool = False

    def fits(self) -> dict[str, bool]:
        """Which precisions fit the first GPU with room for 1024x1024 activations."""
        if not self.devices:
            return {q: False for q in ("bf16", "fp8", "nf4")}
        device = self.devices[0]
        return {q: _fits(q, device) for q in ("bf16", "fp8", "nf4")}

    def suggestion(self) -> str:
        """The variant to load here, in one line."""
        if self.torch is None:
            return "no render extra: authoring only (pip install 'captionkit[render]')"
        if not self.devices:
            return "no CUDA GPU: use the tiny pipeline to try the playground (the real model needs a GPU)"
        fits = self.fits()
        if fits["bf16"]:
            return "bf16 fits: quantization none (fastest, full quality)"
        if fits["fp8"]:
            return "fp8 fits: quantization fp8 (fp8 storage, bf16 compute)"
        if fits["nf4"] and self.bitsandbytes:
            return "nf4 fits: quantization nf4 (bitsandbytes)"
        if fits["nf4"]:
            return "nf4 would fit: pip install bitsandbytes, then quantization nf4"
        return "not enough GPU memory for any variant at once; see docs/render.md on offload"

    @property
    def cached_model(self) -> str | None:
        """The repo id of the largest complete Ideogram 4 model in the local cache, if any."""
        return next((m.repo_id for m in self.cached if getattr(m, "complete", False)), None)

    def _repr_html_(self) -> str:
        cell = "padding:2px 8px;text-align:left;vertical-align:top"
        rows = [("Python", self.python), ("torch", self.torch or "not installed")]
        for d in self.devices:
            rows.append((d.name, f"{d.model} · {d.total / _GIB:.1f} GiB ({d.free / _GIB:.1f} free) · bf16 {'yes' if d.bf16 else 'no'}"))
        if not self.devices:
            rows.append(("GPU", "none"))
        if self.ram_total:
            rows.append(("system RAM", f"{self.ram_total / _GIB:.1f} GiB"))
        if self.devices:
            fits = self.fits()
            rows.append(("fits", ", ".join(f"{q} {'✓' if ok else '✗'} ({weights_gib(q):.0f} GiB)" for q, ok in fits.items())))
        rows.append(("suggestion", self.suggestion()))
        if self.cached:
            for m in self.cached:
                state = "complete" if m.complete else "incomplete"
                rows.append(("cached", f"{m.repo_id} · {m.size_on_disk / _GIB:.2f} GiB · {m.layout} · {state}"))
        else:
            rows.append(("cached", "no Ideogram 4 model in the Hugging Face cache"))
        body = "".join(
            f'<tr><th style="{cell};color:#6b7280;font-weight:500">{escape(k)}</th><td style="{cell}">{escape(v)}</td></tr>'
            for k, v in rows
        )
        return (
            f'<table class="ck-environment" data-gpus="{len(self.devices)}" data-cached="{len(self.cached)}" '
            f'style="border-collapse:collapse;font-family:system-ui,sans-serif;font-size:13px">{body}</table>'
        )


def _fits(quantization: str, device: Device) -> bool:
    # everything resident on the card at 1024x1024 (the render's memory plans can go lower)
    return peak_gib(quantization, "none") <= device.free / 2**30


def environment(cache_dir: Any = None) -> Environment:
    """Detect Python, torch, CUDA GPUs, system memory and the cached Ideogram 4 models.

    Args:
        cache_dir: The Hugging Face hub cache (``HF_HUB_CACHE`` / ``HF_HOME`` when None).
    """
    torch_version = None
    devices: list[Device] = []
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch_version = torch.__version__
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                free, total = torch.cuda.mem_get_info(i)
                devices.append(Device(f"cuda:{i}", props.name, int(total), int(free), torch.cuda.is_bf16_supported()))
    ram = 0
    if importlib.util.find_spec("psutil") is not None:
        import psutil

        ram = int(psutil.virtual_memory().total)
    cached: tuple[Any, ...] = ()
    if importlib.util.find_spec("huggingface_hub") is not None:
        cached = tuple(list_cached_models(cache_dir))
    return Environment(
        python=platform.python_version(),
        torch=torch_version,
        devices=tuple(devices),
        ram_total=ram,
        cached=cached,
        bitsandbytes=importlib.util.find_spec("bitsandbytes") is not None,
    )
