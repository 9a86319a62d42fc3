"""Memory: what a variant needs before loading, and where the memory went afterwards.

Weight sizes come from the component shapes (see the render spec): each DiT
holds 9.28B parameters, 8.66B of them in the repeated blocks' matrix products;
the text encoder about 8.15B, 6.95B of them in its decoder layers' matrix
products; the VAE 84M. Quantized modes store those matrix products small and
keep the rest (embeddings, norms, small projections) in bf16.

>>> round(weights_gib("bf16"), 1)
49.9
>>> weights_gib("nf4") < weights_gib("fp8") == weights_gib("fp8-weights") < weights_gib("bf16")
True
>>> {k: round(v, 2) for k, v in component_gib("nf4").items()}
{'transformer': 4.52, 'unconditional_transformer': 4.52, 'text_encoder': 5.58, 'vae': 0.16}
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from captionkit.render.errors import RenderError

__all__ = [
    "COMPONENTS",
    "MemoryReport",
    "PeakTracker",
    "activation_gib",
    "component_gib",
    "decode_gib",
    "free_bytes",
    "memory_report",
    "weights_gib",
]

_GIB = 1024**3
COMPONENTS = ("transformer", "unconditional_transformer", "text_encoder", "vae")

# parameters per component: (stored quantized, kept in bf16)
_DIT = (8_663_334_912 + 320_864_256 + 245_366_784, 49_722_496)
_TEXT = (6_945_767_424, 1_204_232_576)
_VAE = (0, 84_000_000)
# bytes per quantized parameter: fp8 is one byte plus a float32 scale per row
# (negligible); nf4 is half a byte plus an 8-bit absmax per 64 values (double
# quantization). Measured on an H200: 8.70 GiB per fp8 DiT, 4.53 per nf4 DiT.
_BYTES = {"bf16": 2.0, "fp8": 1.0, "fp8-weights": 1.0, "nf4": 0.5 + 1 / 64, "fp32": 4.0}

# Activations on the GPU beyond the resident weights, in GiB: the DiT step
# (both branches, exact-length text) and the VAE decode, per megapixel of
# image. Measured on an H200 with full-size random weights (benchmarks/render_gpu.py).
# (2048x2048: 5.8 GiB denoising, 9.5 GiB decoding whole, 2.4 GiB in tiles;
# 1536x1024: 4.6 and 3.6; 1024x1024: 3.7 and 2.4; encoding 0.3-0.6.)
_DENOISE_BASE_GIB = 2.3
_DENOISE_PER_MP_GIB = 0.9
_DECODE_PER_MP_GIB = 2.4
_DECODE_TILE_GIB = 2.6  # one 1024-pixel tile, whatever the image size
_ENCODE_GIB = 0.6


def component_gib(quantization: str) -> dict[str, float]:
    """Estimated GiB of weights per component of the full-size pipeline.

    Args:
        quantization: ``bf16``, ``fp8``, ``fp8-weights``, ``nf4`` or ``fp32``
            (``none`` counts as ``bf16``).
    """
    per = _BYTES.get("bf16" if quantization == "none" else quantization, 2.0)
    keep = 4.0 if quantization == "fp32" else 2.0

    def size(parts: tuple[int, int]) -> float:
        return (parts[0] * per + parts[1] * keep) / _GIB

    dit = size(_DIT)
    return {"transformer": dit, "unconditional_transformer": dit, "text_encoder": size(_TEXT), "vae": size(_VAE)}


def weights_gib(quantization: str) -> float:
    """Estimated GiB of weights for the full pipeline in a storage format."""
    return sum(component_gib(quantization).values())


def activation_gib(width: int, height: int) -> float:
    """Estimated GiB of activations for one denoising step at a size (one image).

    >>> activation_gib(1024, 1024) < activation_gib(2048, 2048)
    True
    """
    return _DENOISE_BASE_GIB + _DENOISE_PER_MP_GIB * width * height / 2**20


def decode_gib(width: int, height: int, *, tiled: bool = False) -> float:
    """Estimated GiB the VAE decode needs at a size, whole or in tiles.

    >>> decode_gib(2048, 2048, tiled=True) < decode_gib(2048, 2048)
    True
    """
    whole = _DECODE_PER_MP_GIB * width * height / 2**20
    return min(whole, _DECODE_TILE_GIB) if tiled else whole


def encode_gib() -> float:
    """Estimated GiB of activations while the text encoder runs."""
    return _ENCODE_GIB


@dataclass(frozen=True)
class MemoryReport:
    """Memory figures after (or during) a render, in bytes.

    Attributes:
        device: ``cuda:N`` or ``cpu``.
        gpu_allocated: Bytes held by tensors now (0 on CPU).
        gpu_reserved: Bytes held by the caching allocator now.
        gpu_peak: Peak bytes held by tensors during the last render (since
            the last reset otherwise).
        gpu_total: The card's memory.
        rss: This process's resident set size.
        ram_total: System memory.
        ram_available: System memory available without swapping.
        weights: Bytes of weights per component on the render device now.
        parked: Bytes of weights per component parked in CPU memory by the
            memory plan (offloaded between uses).
        phases: Peak bytes per phase of the last render (``encode``,
            ``denoise``, ``decode``).
        activations: Peak bytes above the weights resident during each phase.
        second: The guidance split's second GPU (its weights, allocated,
            reserved and peak), None without a split.
    """

    device: str
    gpu_allocated: int
    gpu_reserved: int
    gpu_peak: int
    gpu_total: int
    rss: int
    ram_total: int
    ram_available: int
    weights: Mapping[str, int] = field(default_factory=dict)
    parked: Mapping[str, int] = field(default_factory=dict)
    phases: Mapping[str, int] = field(default_factory=dict)
    activations: Mapping[str, int] = field(default_factory=dict)
    second: MemoryReport | None = None

    @property
    def ram_pressure(self) -> float:
        """Share of system memory in use, 0..1.

        >>> MemoryReport("cpu", 0, 0, 0, 0, 1, 100, 25).ram_pressure
        0.75
        """
        return 1.0 - self.ram_available / self.ram_total if self.ram_total else 0.0

    @property
    def activations_peak(self) -> int:
        """The largest activation peak over the phases of the last render (0 when none was tracked)."""
        return max(self.activations.values(), default=0)

    def _repr_html_(self) -> str:
        # Notebooks: the dark four-bar panel, each bar red past 85%. The notebook leaf draws it,
        # loaded by name on first display like the lazy exports (a layer may reach up only to a leaf).
        return importlib.import_module("captionkit.notebook._display").memory_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain figures for JSON output, pressure included."""
        out = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in self.__dict__.items() if k != "second"}
        if self.second is not None:
            out["second"] = {k: v for k, v in self.second.to_dict().items() if k.startswith("gpu_") or k in (
                "device", "weights")}
        out["ram_pressure"] = round(self.ram_pressure, 4)
        out["activations_peak"] = self.activations_peak
        return out

    def format(self) -> str:
        """One line for people.

        >>> MemoryReport("cpu", 0, 0, 0, 0, 2 * 1024**3, 16 * 1024**3, 8 * 1024**3).format()
        'memory: process RSS 2.00 GiB; system RAM 50% used (8.00 of 16.00 GiB available)'
        >>> r = MemoryReport("cuda:0", 6 * 2**30, 7 * 2**30, 8 * 2**30, 24 * 2**30, 2**30, 16 * 2**30, 8 * 2**30,
        ...                  weights={"transformer": 5 * 2**30, "vae": 2**30}, parked={"text_encoder": 6 * 2**30},
        ...                  activations={"denoise": 2**30, "decode": 2 * 2**30})
        >>> r.format().split("; ")[0]
        'memory: cuda:0 weights 6.00 GiB (transformer 5.00, vae 1.00 | parked on CPU: text_encoder 6.00)'
        >>> r.format().split("; ")[1]
        'activations peak 2.00 GiB (denoise 1.00, decode 2.00)'
        """
        g = _GIB
        parts = []
        if self.gpu_total:
            if self.weights:
                inner = ", ".join(f"{k} {v / g:.2f}" for k, v in self.weights.items())
                if self.parked:
                    inner += " | parked on CPU: " + ", ".join(f"{k} {v / g:.2f}" for k, v in self.parked.items())
                parts.append(f"{self.device} weights {sum(self.weights.values()) / g:.2f} GiB ({inner})")
            if self.activations:
                inner = ", ".join(f"{k} {v / g:.2f}" for k, v in self.activations.items())
                parts.append(f"activations peak {self.activations_peak / g:.2f} GiB ({inner})")
            parts.append(
                f"{'' if self.weights else self.device + ' '}allocated {self.gpu_allocated / g:.2f} GiB, "
                f"reserved {self.gpu_reserved / g:.2f} GiB, peak {self.gpu_peak / g:.2f} GiB of {self.gpu_total / g:.1f} GiB"
            )
        if self.second is not None and self.second.gpu_total:
            o = self.second
            inner = ", ".join(f"{k} {v / g:.2f}" for k, v in o.weights.items())
            parts.append(f"{o.device} weights {sum(o.weights.values()) / g:.2f} GiB ({inner}), allocated "
                         f"{o.gpu_allocated / g:.2f} GiB, peak {o.gpu_peak / g:.2f} GiB of {o.gpu_total / g:.1f} GiB")
        parts.append(f"process RSS {self.rss / g:.2f} GiB")
        parts.append(
            f"system RAM {self.ram_pressure:.0%} used ({self.ram_available / g:.2f} of {self.ram_total / g:.2f} GiB available)"
        )
        return "memory: " + "; ".join(parts)


class PeakTracker:
    """Peak GPU memory per render phase.

    Each :meth:`phase` call closes the phase before it (recording its peak and
    the bytes allocated when it began) and resets the CUDA peak counter, so a
    phase's peak is its own. A no-op on devices other than CUDA.
    """

    def __init__(self, device: str | None) -> None:
        self.cuda = bool(device and str(device).startswith("cuda"))
        self.device = device
        self.peaks: dict[str, int] = {}
        self.activations: dict[str, int] = {}
        self._current: str | None = None
        self._start = 0

    def _torch(self) -> Any:
        import torch

        return torch

    def phase(self, name: str | None) -> None:
        """Close the current phase and begin ``name`` (None only closes)."""
        if not self.cuda:
            return
        torch = self._torch()
        dev = torch.device(self.device)
        if self._current is not None:
            peak = int(torch.cuda.max_memory_allocated(dev))
            self.peaks[self._current] = max(self.peaks.get(self._current, 0), peak)
            self.activations[self._current] = max(self.activations.get(self._current, 0), peak - self._start)
        torch.cuda.reset_peak_memory_stats(dev)
        self._current = name
        self._start = int(torch.cuda.memory_allocated(dev))

    @property
    def peak(self) -> int:
        """The highest phase peak so far."""
        return max(self.peaks.values(), default=0)


def memory_report(device: Any = None, *, weights: Mapping[str, int] | None = None,
                  parked: Mapping[str, int] | None = None, tracker: PeakTracker | None = None) -> MemoryReport:
    """Read memory figures now.

    Args:
        device: A torch device or name; GPU figures are read when it is a CUDA
            device (torch is imported only then).
        weights: Bytes of weights per component on the device.
        parked: Bytes of weights per component parked on the CPU.
        tracker: Per-phase peaks of the last render.
    """
    import psutil

    name = str(device) if device is not None else "cpu"
    alloc = reserved = peak = total = 0
    if name.startswith("cuda"):
        import torch

        dev = torch.device(name)
        alloc = torch.cuda.memory_allocated(dev)
        reserved = torch.cuda.memory_reserved(dev)
        peak = torch.cuda.max_memory_allocated(dev)
        total = torch.cuda.get_device_properties(dev).total_memory
        if tracker is not None and tracker.peaks:
            peak = max(tracker.peak, peak)
    vm = psutil.virtual_memory()
    rss = psutil.Process(os.getpid()).memory_info().rss
    return MemoryReport(
        name, alloc, reserved, peak, total, rss, vm.total, vm.available,
        weights=dict(weights or {}), parked=dict(parked or {}),
        phases=dict(tracker.peaks) if tracker else {}, activations=dict(tracker.activations) if tracker else {},
    )


def free_bytes(device: str) -> int:
    """Free memory on a device: GPU memory for CUDA, available RAM otherwise.

    On CUDA this honours a per-process cap set with
    ``torch.cuda.set_per_process_memory_fraction`` (how the benchmark emulates
    smaller cards): the free memory is the smaller of what the card has free
    and what the cap leaves.
    """
    if device.startswith("cuda"):
        import torch

        dev = torch.device(device)
        free, total = torch.cuda.mem_get_info(dev)
        getter = getattr(torch.cuda, "get_per_process_memory_fraction", None)
        if getter is not None:
            fraction = float(getter(dev))
            if fraction < 1.0:
                free = min(free, int(fraction * total) - torch.cuda.memory_reserved(dev))
        return max(int(free), 0)
    import psutil

    return int(psutil.virtual_memory().available)
