"""Memory plans: which weights live on the GPU when, and choosing a mode that fits.

Four offload plans, from fastest to smallest:

* ``none``: every component stays on the GPU.
* ``text-encoder``: the text encoder lives in CPU memory. It comes to the GPU
  to encode a caption the renderer has not encoded yet, and leaves as soon as
  the caption is encoded, before the first denoising step. Seeds and batches
  of the same caption reuse the encoding and never bring it back.
* ``model``: model CPU offload by phase. As above, and the two DiTs also step
  off the GPU while the text encoder encodes, so the encoder and the DiTs are
  never there together. Costs one round trip of the weights per new caption.
* ``dit-swap``: one large model on the GPU at a time: as ``model``, and the two
  DiTs take turns on the GPU at every step. Slow (each step moves a DiT
  across PCIe), for cards that cannot hold both DiTs.

In the fp8 modes the quantized weights are torchao tensor subclasses, which
torchao 0.18 cannot move between the GPU and CPU memory (measured: "Attempted
to set the storage of a tensor on device cpu to a storage on device cuda:0").
So with fp8 the DiTs never move (``model`` and ``dit-swap`` are refused), and
under ``text-encoder`` the text encoder stays in bf16 (plain tensors) so that
it can be parked.

diffusers' ``enable_model_cpu_offload`` is not used: its chained hooks only
offload the *previous* model, so for this pipeline both DiTs stay resident and
the peak does not drop, and the text encoder it leaves on the CPU runs there
(render spec, section 8).

The VAE (0.16 GiB) always stays on the GPU; tiling splits its decode where the
whole image would not fit (:func:`needs_tiling`).

``auto`` picks the first candidate, fastest first, whose estimated peak fits
the free memory: see :data:`CANDIDATES` and :func:`choose`.

>>> p = choose(budget_gib=22.3, cuda=True, fp8_compute=False, nf4=True)
>>> (p.quantization, p.offload)
('nf4', 'none')
>>> choose(budget_gib=14.9, cuda=True, fp8_compute=False, nf4=True).offload
'model'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from captionkit.render.errors import RenderError
from captionkit.render.memory import activation_gib, component_gib, decode_gib, encode_gib

__all__ = ["CANDIDATES", "FP8_MODES", "OFFLOADS", "movable", "Plan", "Shuttle", "choose", "move_module", "needs_tiling", "peak_gib",
           "secondary_gib"]

OFFLOADS = ("auto", "none", "text-encoder", "model", "dit-swap")

CANDIDATES: tuple[tuple[str, str], ...] = tuple(
    [(m, o) for m in ("fp8", "bf16", "nf4", "fp8-weights") for o in ("none", "text-encoder", "model")]
    + [(m, "dit-swap") for m in ("nf4", "fp8", "fp8-weights", "bf16")]
)
"""(quantization, offload) pairs in the order ``auto`` tries them: modes by
measured s/step on an H200 (fp8 0.18, bf16 0.30, nf4 0.32 compiled;
fp8-weights dequantises at every forward), each mode's plans from least to
most traffic (a round trip per new caption costs about a second; per-step
swaps cost more than they save), and swapping DiTs every step last."""

_DITS = ("transformer", "unconditional_transformer")
FP8_MODES = ("fp8", "fp8-weights")
"""Modes whose quantized weights cannot move between devices (torchao tensor subclasses)."""


def movable(quantization: str, offload: str, cuda: bool = True) -> bool:
    """Whether a plan can run with a mode: in the fp8 modes the DiTs never move.

    >>> movable("fp8", "text-encoder"), movable("fp8", "model"), movable("nf4", "dit-swap")
    (True, False, True)
    """
    return not (cuda and quantization in FP8_MODES and offload in ("model", "dit-swap"))


def peak_gib(quantization: str, offload: str, width: int = 1024, height: int = 1024, *,
             tiled: bool = False, scale: float = 1.0, split: bool = False) -> float:
    """Estimated peak GPU memory of a render, in GiB.

    Args:
        quantization: Resolved mode.
        offload: ``none``, ``text-encoder`` or ``model``.
        width: Image width.
        height: Image height.
        tiled: Whether the VAE decodes in tiles.
        scale: Size of the model relative to the full Ideogram 4 (1.0); the
            weights and activations of a smaller test model scale with it.
        split: The guidance split: the unconditional DiT lives on a second
            device (see :func:`secondary_gib`), so the first holds one DiT.

    >>> round(peak_gib("bf16", "none", split=True), 1) < round(peak_gib("bf16", "none"), 1)
    True
    >>> [round(peak_gib("nf4", o), 1) for o in ("none", "text-encoder", "model", "dit-swap")]
    [18.0, 15.4, 12.4, 7.9]
    """
    w = {k: v * scale for k, v in component_gib(quantization).items()}
    if split:
        w["unconditional_transformer"] = 0.0
    if offload != "none" and quantization in FP8_MODES:
        w["text_encoder"] = component_gib("bf16")["text_encoder"] * scale  # parked in bf16 (see above)
    act = activation_gib(width, height) * min(scale, 1.0)
    dec = decode_gib(width, height, tiled=tiled) * min(scale, 1.0)
    enc = encode_gib() * min(scale, 1.0)
    dits = w["transformer"] + w["unconditional_transformer"]
    if offload == "none":
        resident = dits + w["text_encoder"] + w["vae"]
        return resident + max(act, dec, enc)
    if offload == "text-encoder":
        return max(dits + w["vae"] + max(act, dec), dits + w["vae"] + w["text_encoder"] + enc)
    if offload == "model":
        return max(w["text_encoder"] + enc, dits + max(act, dec)) + w["vae"]
    # dit-swap: one big model at a time
    return max(w["text_encoder"] + enc, w["transformer"] + act, w["transformer"] + dec) + w["vae"]


def secondary_gib(quantization: str, width: int = 1024, height: int = 1024, *, scale: float = 1.0) -> float:
    """Estimated peak on the second device of the guidance split: the unconditional DiT and its activations.

    >>> secondary_gib("nf4") < secondary_gib("bf16")
    True
    """
    w = component_gib(quantization)["unconditional_transformer"] * scale
    return w + activation_gib(width, height) * min(scale, 1.0)


def needs_tiling(quantization: str, offload: str, width: int, height: int, budget_gib: float,
                 scale: float = 1.0, split: bool = False) -> bool:
    """Whether the VAE must decode in tiles for this size to fit ``budget_gib``.

    >>> needs_tiling("nf4", "model", 2048, 2048, 14.9), needs_tiling("nf4", "model", 1024, 1024, 14.9)
    (True, False)
    """
    return peak_gib(quantization, offload, width, height, scale=scale, split=split) > budget_gib


@dataclass(frozen=True)
class Plan:
    """A chosen quantization and memory plan.

    Attributes:
        quantization: Resolved mode (``bf16``, ``fp8``, ``fp8-weights``, ``nf4``).
        offload: ``none``, ``text-encoder`` or ``model``.
        need_gib: Estimated peak at 1024x1024.
        budget_gib: Free memory it was chosen against (None: not checked).
        reason: One line saying why.
    """

    quantization: str
    offload: str
    need_gib: float
    budget_gib: float | None
    reason: str


def _describe(mode: str, offload: str) -> str:
    where = {"none": "", "text-encoder": " with the text encoder off the GPU between captions",
             "model": " with model offload (the text encoder and the DiTs take turns on the GPU)",
             "dit-swap": " with one model on the GPU at a time (the DiTs swap every step)"}[offload]
    return f"{mode}{where}"


def choose(*, budget_gib: float | None, cuda: bool, fp8_compute: bool, nf4: bool, quantization: str = "auto",
           offload: str = "auto", scale: float = 1.0, where: str = "cuda:0", why_not_fp8: str = "",
           prequantized: str | None = None, split: bool = False) -> Plan:
    """Choose the quantization and the offload plan.

    Args:
        budget_gib: Free memory on the render device (None: assume it fits).
        cuda: Whether the device is a CUDA GPU (offload plans and nf4 need one).
        fp8_compute: Whether ``fp8`` compute can run here.
        nf4: Whether bitsandbytes is installed.
        quantization: Requested mode or ``auto``.
        offload: Requested plan or ``auto``.
        scale: Model size relative to the full model.
        where: Device name for messages.
        why_not_fp8: Why fp8 compute is unavailable (for the reason line).
        prequantized: The stored format when the weights are already quantized.
        split: The guidance split (the unconditional DiT on a second device):
            ``budget_gib`` is the first device's, and ``dit-swap`` does not
            apply (under ``model`` only the first device's DiT makes way for
            the text encoder).

    Raises:
        RenderError: nothing requested fits the budget.
    """
    if prequantized == "nf4":
        quantization = "nf4" if quantization == "auto" else quantization
    modes = [quantization] if quantization != "auto" else [m for m, _ in CANDIDATES]
    if not cuda:
        if offload not in ("auto", "none"):
            raise RenderError(f"--offload {offload} moves weights between CPU and GPU; the device is {where}")
        plans: Sequence[str] = ("none",)
    else:
        plans = OFFLOADS[1:] if offload == "auto" else (offload,)
    if split:
        if offload == "dit-swap":
            raise RenderError(
                "--offload dit-swap takes turns between the DiTs on one GPU; the guidance split keeps one DiT on "
                "each device: use --offload none, text-encoder or model"
            )
        plans = tuple(p for p in plans if p != "dit-swap")

    if quantization in FP8_MODES and offload in ("model", "dit-swap") and cuda:
        raise RenderError(
            f"--offload {offload} with --quantization {quantization}: torchao's float8 weights cannot move between "
            "the GPU and CPU memory; use --offload text-encoder, or --quantization nf4"
        )

    def allowed(mode: str) -> bool:
        if mode == "fp8":
            return fp8_compute
        if mode == "nf4":
            return cuda and nf4
        return True

    tried: list[str] = []
    pairs = [(m, o) for m, o in CANDIDATES if m in modes and o in plans] if quantization == "auto" else [
        (quantization, o) for o in plans]
    pairs = [(m, o) for m, o in pairs if movable(m, o, cuda)]
    for mode, plan in pairs:
        if quantization == "auto" and not allowed(mode):
            continue
        need = peak_gib(mode, plan, scale=scale, split=split)
        if budget_gib is None or need <= budget_gib:
            reason = _reason(quantization, offload, mode, plan, need, budget_gib, where, tried, why_not_fp8, prequantized)
            return Plan(mode, plan, need, budget_gib, reason)
        tried.append(f"{_describe(mode, plan)} needs about {need:.1f} GiB")
    what = _describe(quantization, offload) if quantization != "auto" and offload != "auto" else (
        quantization if quantization != "auto" else "any mode")
    smallest = min((peak_gib(m, o, scale=scale, split=split) for m, o in pairs), default=0.0)
    # fp8 weights cannot move, so model offload is no way out for them
    options = [] if offload == "model" or not cuda or split or quantization in FP8_MODES else ["--offload model"]
    if quantization not in ("nf4", "auto") and cuda:
        options.append("--quantization nf4")
    hint = f"; try {' or '.join(options)}" if options else ""
    raise RenderError(
        f"not enough memory on {where} for {what}: need about {smallest:.1f} GiB at 1024x1024, "
        f"{(budget_gib or 0):.1f} GiB free{hint}"
    )


def _reason(q: str, o: str, mode: str, plan: str, need: float, budget: float | None, where: str,
            tried: list[str], why_not_fp8: str, prequantized: str | None) -> str:
    fit = f"needs about {need:.1f} GiB" + (f" of {budget:.1f} GiB free on {where}" if budget is not None else "")
    head = f"{'auto chose ' if q == 'auto' else ''}{_describe(mode, plan)}: {fit}"
    because = []
    if prequantized == "nf4" and q in ("auto", "nf4"):
        because.append("the weights are stored as nf4")
    if tried:
        because.append(tried[-1])
    if q == "auto" and mode != "fp8" and why_not_fp8:
        because.append(f"no fp8 compute: {why_not_fp8}")
    return head + (f" ({'; '.join(because)})" if because else "")


def move_module(module: Any, device: str) -> Any:
    """``module.to(device)``, swapping tensors in place where a parameter is a tensor subclass.

    torchao's float8 weights are wrapper tensor subclasses, whose storage
    cannot be re-pointed to another device; ``torch.utils.swap_tensors`` (what
    ``nn.Module.to`` uses when asked to swap) moves them and keeps each
    parameter object, so compiled code and hooks still see the same parameters.
    """
    import torch
    from torch.utils._python_dispatch import is_traceable_wrapper_subclass

    if not any(is_traceable_wrapper_subclass(p) for p in module.parameters()):
        return module.to(device)
    before = torch.__future__.get_swap_module_params_on_conversion()
    torch.__future__.set_swap_module_params_on_conversion(True)
    try:
        return module.to(device)
    finally:
        torch.__future__.set_swap_module_params_on_conversion(before)


class Shuttle:
    """Moves weights between the render device and CPU memory as a plan says.

    Args:
        pipe: The diffusers pipeline (None while its components are still loading).
        plan: ``none``, ``text-encoder`` or ``model``.
        device: The render device.
        home: Where parked weights wait (``cpu``).
        mover: Moves a module to a device (``module.to(device)`` by default);
            tests record the moves through it.
        placement: Components that live on another device than ``device``
            (the guidance split puts ``unconditional_transformer`` on the
            second GPU); they stay there under every plan.

    Attributes:
        where: The device of each component it has placed.
        skip: A predicate naming components whose next forward is skipped
            (the guidance cut); a skipped DiT is not brought to the GPU.
    """

    def __init__(self, pipe: Any, plan: str, device: str, home: str = "cpu",
                 mover: Callable[[Any, str], Any] | None = None, placement: dict[str, str] | None = None) -> None:
        self.pipe = pipe
        self.plan = plan
        self.device = device
        self.placement = dict(placement or {})
        self.home = home
        self.mover = mover or move_module
        self.where: dict[str, str] = {}
        self.skip: Callable[[str], bool] | None = None
        self._modules: dict[str, Any] = {}
        self._hooks: list[Any] = []

    def _module(self, name: str) -> Any:
        if self.pipe is not None:
            module = getattr(self.pipe, name, None)
            if module is not None:
                return module
        return self._modules.get(name)

    def _move(self, name: str, dev: str) -> None:
        module = self._module(name)
        if module is None or self.where.get(name) == dev:
            return
        self.mover(module, dev)
        self.where[name] = dev

    def resting(self, name: str) -> str:
        """Where a component waits between renders under this plan."""
        if name in self.placement:
            return self.placement[name]
        if name == "vae" or self.plan == "none":
            return self.device
        if name == "text_encoder" or self.plan == "dit-swap":
            return self.home
        return self.device

    def settle(self, name: str, module: Any = None) -> None:
        """Move one component to its resting place as soon as it is loaded (or quantized)."""
        if module is not None:
            self._modules[name] = module
        self._move(name, self.resting(name))
        self._empty_cache()

    def place(self) -> None:
        """Put every component where the plan keeps it between renders (parked ones first)."""
        names = ("text_encoder", *_DITS, "vae")
        for name in sorted(names, key=lambda n: self.resting(n) == self.device):
            self._move(name, self.resting(name))
        self._empty_cache()
        if self.plan == "dit-swap" and not self._hooks:
            for name in _DITS:
                module = self._module(name)
                if module is not None:
                    self._hooks.append(module.register_forward_pre_hook(self._swap_in(name)))

    def _swap_in(self, name: str) -> Callable[..., None]:
        def hook(module: Any, args: Any) -> None:
            if self.skip is not None and self.skip(name):
                return
            for other in _DITS:
                if other != name:
                    self._move(other, self.home)
            self._move(name, self.device)

        return hook

    def before_encode(self) -> None:
        """Bring the text encoder to the render device (the DiTs leave first under ``model`` and ``dit-swap``)."""
        if self.plan in ("model", "dit-swap"):
            for name in _DITS:
                if name not in self.placement:
                    self._move(name, self.home)
            self._empty_cache()
        self._move("text_encoder", self.device)

    def after_encode(self) -> None:
        """Send the text encoder back to CPU memory, and the DiTs back to the GPU under ``model``."""
        if self.plan == "none":
            return
        self._move("text_encoder", self.home)
        self._empty_cache()
        if self.plan == "model":
            for name in _DITS:
                self._move(name, self.resting(name))

    def _empty_cache(self) -> None:
        if str(self.device).startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    def remove(self) -> None:
        """Remove the swap hooks."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
