"""Quantization modes: what each one is, where it runs, and applying it to loaded models.

Modes (``Renderer(quantization=...)`` and ``--quantization``):

* ``bf16``: no quantization; weights in the compute dtype (``none`` is an alias).
* ``fp8-weights``: weights stored as float8 e4m3 with one scale per output row,
  dequantised to the compute dtype at every forward (torchao
  ``Float8WeightOnlyConfig``). Halves weight memory; any device, CPU and MPS
  included; no speed-up.
* ``fp8``: fp8 *compute* on GPUs with fp8 tensor cores (CUDA compute capability
  8.9 or newer: Ada, Hopper, Blackwell). The transformer blocks' matrix products
  run as row-wise scaled fp8 GEMMs with activations quantized on the fly
  (torchao ``Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())``).
  On a device without fp8 tensor cores ``fp8`` means ``fp8-weights``, so
  scripts written when ``fp8`` meant storage only keep working there; the
  resolved mode is the one recorded.
* ``nf4``: bitsandbytes 4-bit NF4 weights for both DiTs and the text encoder,
  bf16 compute. CUDA only.
* ``auto``: the fastest mode that fits the device's free memory (see
  :func:`captionkit.render.plan.choose`).

The text encoder runs once per caption, so in the fp8 modes it keeps fp8
*storage* only (its speed does not matter, its memory does).

>>> normalize_mode("none"), normalize_mode("FP8-Weights")
('bf16', 'fp8-weights')
>>> is_dit_matmul("layers.3.feed_forward.w2"), is_dit_matmul("final_layer.linear")
(True, False)
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from captionkit.render.errors import RenderError

__all__ = [
    "ALIASES",
    "MODES",
    "fp8_compute_support",
    "is_dit_matmul",
    "is_dit_weight",
    "is_text_weight",
    "module_bytes",
    "normalize_mode",
    "quantize_pipeline",
]

MODES = ("auto", "bf16", "fp8", "fp8-weights", "nf4")
"""Every mode name accepted, aliases aside."""

ALIASES = {"none": "bf16"}
"""Older names and what they mean now."""

# The DiT's big matrix products: attention projections and the SwiGLU MLP of
# each repeated block (about 97% of its 9.28B parameters).
_DIT_MATMUL = re.compile(r"^layers\.\d+\.(attention\.(to_q|to_k|to_v|to_out\.0)|feed_forward\.w[123])$")
# Further DiT weights worth storing small but not worth fp8 compute: the
# per-block modulation (one row per image) and the 53,248-wide text projection.
_DIT_EXTRA = re.compile(r"^(layers\.\d+\.adaln_modulation|llm_cond_proj)$")
# The text encoder's decoder layers (the vision tower is never called).
_TEXT = re.compile(r"(^|\.)layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)$")

_DITS = ("transformer", "unconditional_transformer")


def normalize_mode(mode: str) -> str:
    """The canonical name of a quantization mode.

    Raises:
        RenderError: an unknown name.
    """
    name = str(mode).strip().lower()
    name = ALIASES.get(name, name)
    if name not in MODES:
        raise RenderError(
            f"unknown quantization {mode!r}; choose {', '.join(MODES)} (or none, an alias of bf16)"
        )
    return name


def is_dit_matmul(name: str) -> bool:
    """Whether a DiT ``nn.Linear`` (by qualified name) gets fp8 compute in ``fp8`` mode."""
    return _DIT_MATMUL.match(name) is not None


def is_dit_weight(name: str) -> bool:
    """Whether a DiT ``nn.Linear`` is stored quantized (``nf4``, ``fp8-weights``, ``fp8``)."""
    return is_dit_matmul(name) or _DIT_EXTRA.match(name) is not None


def is_text_weight(name: str) -> bool:
    """Whether a text-encoder ``nn.Linear`` is stored quantized."""
    return _TEXT.search(name) is not None and "visual" not in name


def fp8_compute_support(device: str) -> tuple[bool, str]:
    """Whether ``device`` can run ``fp8`` compute, and why not.

    >>> fp8_compute_support("cpu")
    (False, 'cpu has no fp8 tensor cores')
    """
    if not str(device).startswith("cuda"):
        return False, f"{device} has no fp8 tensor cores"
    import torch

    major, minor = torch.cuda.get_device_capability(torch.device(device))
    if (major, minor) < (8, 9):
        name = torch.cuda.get_device_name(torch.device(device))
        return False, f"{name} (compute capability {major}.{minor}) has no fp8 tensor cores; they need 8.9 or newer"
    if importlib.util.find_spec("torchao") is None:
        return False, "torchao is not installed"
    return True, ""


def _linears(module: Any, keep: Callable[[str], bool]) -> Iterator[tuple[str, Any]]:
    """Plain ``nn.Linear`` layers to quantize; already quantized ones are left alone."""
    import torch
    from torch.utils._python_dispatch import is_traceable_wrapper_subclass

    for name, child in module.named_modules():
        if type(child) is torch.nn.Linear and keep(name) and not is_traceable_wrapper_subclass(child.weight):
            yield name, child


def _torchao() -> Any:
    if importlib.util.find_spec("torchao") is None:
        raise RenderError("the fp8 modes need torchao: pip install torchao (part of captionkit[render])")
    import torchao.quantization as tq

    return tq


def _fp8_weights(module: Any, keep: Callable[[str], bool], device: Any = None) -> int:
    tq = _torchao()
    names = {n for n, _ in _linears(module, keep)}
    if names:
        tq.quantize_(module, tq.Float8WeightOnlyConfig(set_inductor_config=False), filter_fn=lambda m, fqn: fqn in names, device=device)
    return len(names)


def _fp8_compute(module: Any, keep: Callable[[str], bool], device: Any = None) -> int:
    tq = _torchao()
    names = {n for n, _ in _linears(module, keep)}
    if names:
        # set_inductor_config=False: torchao would otherwise switch on inductor's coordinate-descent
        # tuning for the whole process, which re-tunes every kernel in every new process (measured:
        # most of a warm-cache first call) for no measurable gain on these blocks
        config = tq.Float8DynamicActivationFloat8WeightConfig(granularity=tq.PerRow(), set_inductor_config=False)
        tq.quantize_(module, config, filter_fn=lambda m, fqn: fqn in names, device=device)
    return len(names)


def _nf4(module: Any, keep: Callable[[str], bool], compute_dtype: Any, device: Any) -> int:
    """Swap every kept ``nn.Linear`` for a bitsandbytes NF4 ``Linear4bit`` on ``device``.

    The bf16 weight is quantized while it moves to ``device`` (bitsandbytes
    quantizes on transfer), so only one layer's full weight is ever there in
    addition to what is already resident.
    """
    import bitsandbytes as bnb
    import torch

    count = 0
    for name, lin in list(_linears(module, keep)):
        parent_name, _, attr = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        new = bnb.nn.Linear4bit(
            lin.in_features, lin.out_features, bias=lin.bias is not None,
            compute_dtype=compute_dtype, quant_type="nf4", device="meta",
        )
        new.weight = bnb.nn.Params4bit(lin.weight.data, requires_grad=False, quant_type="nf4")
        if lin.bias is not None:
            new.bias = torch.nn.Parameter(lin.bias.data.to(compute_dtype), requires_grad=False)
        new.to(device)
        new.requires_grad_(False)
        setattr(parent, attr, new)
        count += 1
    return count


def quantize_pipeline(pipe: Any, mode: str, *, device: str, dtype: Any,
                      after: Callable[[str], Any] | None = None, text_encoder: bool = True,
                      placement: Mapping[str, str] | None = None) -> dict[str, int]:
    """Quantize the text encoder and both DiTs of a loaded pipeline in place.

    Used for pipelines built in memory and for weights loaded in bf16 (the fp8
    modes); nf4 checkpoints and on-load nf4 go through the loaders'
    bitsandbytes support instead, which produces the same ``Linear4bit`` layers.
    The text encoder goes first, and ``after`` runs after each component, so
    a memory plan can park a component before the next one reaches the GPU.

    Args:
        pipe: The diffusers pipeline; its modules may sit on the CPU, each
            quantized layer lands on ``device``.
        mode: ``bf16``, ``fp8-weights``, ``fp8`` or ``nf4`` (resolved, not ``auto``).
        device: Where the quantized layers go.
        dtype: Compute dtype.
        after: Called with each component's name once it is quantized.
        text_encoder: Whether to quantize the text encoder too (the fp8 modes
            leave it in bf16 when a memory plan parks it: float8 tensors
            cannot move between devices).
        placement: Components quantized onto another device than ``device``
            (the guidance split's second GPU).

    Returns:
        Quantized layer counts per component.

    Raises:
        RenderError: a mode this device cannot run, or a missing package.
    """
    counts: dict[str, int] = {}
    if mode == "bf16":
        return counts
    if mode == "nf4":
        if not str(device).startswith("cuda"):
            raise RenderError(f"nf4 weights need a CUDA GPU (device is {device}); use --quantization fp8-weights or bf16")
        if importlib.util.find_spec("bitsandbytes") is None:
            raise RenderError("nf4 needs bitsandbytes: pip install bitsandbytes (Linux with CUDA)")
    placement = dict(placement or {})
    if mode == "fp8":
        for where in {device, *placement.values()}:
            ok, why = fp8_compute_support(where)
            if not ok:
                raise RenderError(f"fp8 compute is not available: {why}; use --quantization fp8-weights")
    te = getattr(pipe, "text_encoder", None)
    if te is not None and text_encoder:
        if mode == "nf4":
            counts["text_encoder"] = _nf4(te, is_text_weight, dtype, device)
        else:
            counts["text_encoder"] = _fp8_weights(te, is_text_weight, device)
    if te is not None and after is not None:
        after("text_encoder")
    for name in _DITS:
        dit = getattr(pipe, name, None)
        if dit is None:
            continue
        where = placement.get(name, device)
        if mode == "nf4":
            counts[name] = _nf4(dit, is_dit_weight, dtype, where)
        elif mode == "fp8-weights":
            counts[name] = _fp8_weights(dit, is_dit_weight, where)
        else:  # fp8 compute for the block matmuls, fp8 storage for the rest
            counts[name] = _fp8_compute(dit, is_dit_matmul, where)
            counts[name] += _fp8_weights(dit, lambda n: is_dit_weight(n) and not is_dit_matmul(n), where)
        if after is not None:
            after(name)
    return counts


def _tensor_bytes(t: Any, seen: set[int]) -> int:
    """Bytes of device storage behind a tensor, tensor subclasses and bitsandbytes state included."""
    from torch.utils._python_dispatch import is_traceable_wrapper_subclass

    if is_traceable_wrapper_subclass(t):
        names, _ctx = t.__tensor_flatten__()
        return sum(_tensor_bytes(getattr(t, n), seen) for n in names)
    total = 0
    try:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in seen or key == 0:
            seen.add(key)
            total += storage.nbytes()
    except (RuntimeError, NotImplementedError):
        total += t.numel() * t.element_size()
    state = getattr(t, "quant_state", None)
    if state is not None:  # bitsandbytes 4-bit: absmax (and its own quantization state)
        for inner in (getattr(state, "absmax", None), getattr(getattr(state, "state2", None), "absmax", None),
                      getattr(getattr(state, "state2", None), "code", None), getattr(state, "offset", None)):
            if inner is not None and hasattr(inner, "untyped_storage"):
                total += _tensor_bytes(inner, seen)
    return total


def module_bytes(module: Any, device_type: str | None = None) -> int:
    """Bytes held by a module's parameters and buffers, optionally only those on one device type.

    Counts what the storage really holds: an fp8 tensor subclass counts its
    fp8 data and scales, an NF4 parameter its packed bytes and absmax.

    >>> import torch
    >>> module_bytes(torch.nn.Linear(4, 2, dtype=torch.bfloat16))
    20
    """
    seen: set[int] = set()
    total = 0
    for t in list(module.parameters()) + list(module.buffers()):
        if device_type is not None and t.device.type != device_type:
            continue
        total += _tensor_bytes(t, seen)
    return total
