"""Memory: what a variant needs before loading, and what a render used afterwards.

Weight sizes come from the component shapes (see the render spec): both DiTs
hold 9.28B parameters each, the text encoder about 8.15B, the VAE 84M.

>>> round(weights_gib("bf16"), 1)
49.9
>>> weights_gib("nf4") < weights_gib("fp8") < weights_gib("bf16")
True
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from typing import Any

from captionkit.render.errors import RenderError

__all__ = ["MemoryReport", "check_fits", "memory_report", "weights_gib"]

_GIB = 1024**3
_DIT_PARAMS = 9_279_288_448
_TEXT_PARAMS = 8_150_000_000
_VAE_PARAMS = 84_000_000

# bytes per parameter for the big linear layers; the VAE stays bf16.
_BYTES = {"bf16": 2.0, "fp8": 1.0, "nf4": 0.56, "fp32": 4.0}
# activations and workspace at 1024x1024 with exact-length text (measured peak
# 53.0 GiB against 51.5 GiB of bf16 weights, rounded up for 2048x2048).
_WORKSPACE_GIB = 8.0


def weights_gib(quantization: str) -> float:
    """Estimated GiB of weights for the full pipeline in a storage format.

    Args:
        quantization: ``bf16``, ``fp8``, ``nf4`` or ``fp32``.
    """
    per = _BYTES.get(quantization, 2.0)
    return ((2 * _DIT_PARAMS + _TEXT_PARAMS) * per + _VAE_PARAMS * 2) / _GIB


def check_fits(quantization: str, available_bytes: int, where: str, needed_gib: float | None = None) -> None:
    """Refuse a variant that cannot fit, before loading.

    Args:
        quantization: The storage format about to be loaded.
        available_bytes: Free memory on the target (GPU memory, or RAM for CPU).
        where: The target's name for the message (``cuda:0``, ``cpu``).
        needed_gib: Known size (for example the sum of local weight files);
            the estimate for the full model when None.

    Raises:
        RenderError: the weights plus workspace exceed the available memory.

    >>> check_fits("nf4", 80 * 1024**3, "cuda:0")
    >>> check_fits("bf16", 24 * 1024**3, "cuda:0")
    Traceback (most recent call last):
    ...
    captionkit.render.errors.RenderError: not enough memory on cuda:0 for bf16 weights: need about 57.9 GiB, 24.0 GiB free; try --quantization nf4
    """
    need = (needed_gib if needed_gib is not None else weights_gib(quantization)) + _WORKSPACE_GIB
    have = available_bytes / _GIB
    if need > have:
        hint = "; try --quantization nf4" if quantization != "nf4" and where.startswith("cuda") else ""
        raise RenderError(
            f"not enough memory on {where} for {quantization} weights: need about {need:.1f} GiB, "
            f"{have:.1f} GiB free{hint}"
        )


@dataclass(frozen=True)
class MemoryReport:
    """Memory figures after (or during) a render, in bytes.

    Attributes:
        device: ``cuda:N`` or ``cpu``.
        gpu_allocated: Bytes held by tensors now (0 on CPU).
        gpu_reserved: Bytes held by the caching allocator now.
        gpu_peak: Peak bytes held by tensors since the last reset.
        gpu_total: The card's memory.
        rss: This process's resident set size.
        ram_total: System memory.
        ram_available: System memory available without swapping.
    """

    device: str
    gpu_allocated: int
    gpu_reserved: int
    gpu_peak: int
    gpu_total: int
    rss: int
    ram_total: int
    ram_available: int

    @property
    def ram_pressure(self) -> float:
        """Share of system memory in use, 0..1.

        >>> MemoryReport("cpu", 0, 0, 0, 0, 1, 100, 25).ram_pressure
        0.75
        """
        return 1.0 - self.ram_available / self.ram_total if self.ram_total else 0.0

    def _repr_html_(self) -> str:
        # Notebooks: the dark four-bar panel, each bar red past 85%. The notebook leaf draws it,
        # loaded by name on first display like the lazy exports (a layer may reach up only to a leaf).
        return importlib.import_module("captionkit.notebook._display").memory_html(self)

    def to_dict(self) -> dict[str, Any]:
        """Plain figures for JSON output, pressure included."""
        return {**self.__dict__, "ram_pressure": round(self.ram_pressure, 4)}

    def format(self) -> str:
        """One line for people.

        >>> MemoryReport("cpu", 0, 0, 0, 0, 2 * 1024**3, 16 * 1024**3, 8 * 1024**3).format()
        'memory: process RSS 2.00 GiB; system RAM 50% used (8.00 of 16.00 GiB available)'
        """
        g = _GIB
        parts = []
        if self.gpu_total:
            parts.append(
                f"{self.device} allocated {self.gpu_allocated / g:.2f} GiB, reserved {self.gpu_reserved / g:.2f} GiB, "
                f"peak {self.gpu_peak / g:.2f} GiB of {self.gpu_total / g:.1f} GiB"
            )
        parts.append(f"process RSS {self.rss / g:.2f} GiB")
        parts.append(
            f"system RAM {self.ram_pressure:.0%} used ({self.ram_available / g:.2f} of {self.ram_total / g:.2f} GiB available)"
        )
        return "memory: " + "; ".join(parts)


def memory_report(device: Any = None) -> MemoryReport:
    """Read memory figures now.

    Args:
        device: A torch device or name; GPU figures are read when it is a CUDA
            device (torch is imported only then).
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
    vm = psutil.virtual_memory()
    rss = psutil.Process(os.getpid()).memory_info().rss
    return MemoryReport(name, alloc, reserved, peak, total, rss, vm.total, vm.available)


def free_bytes(device: str) -> int:
    """Free memory on a device: GPU memory for CUDA, available RAM otherwise."""
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)
