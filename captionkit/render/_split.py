"""The guidance split: the conditional and unconditional DiTs on two devices, one step at a time, in parallel.

Ideogram 4 runs two separate transformers at every step, and diffusers' loop
calls them one after the other::

    pos = transformer(cat([text_padding, latents]), t, features, ...)   # conditional
    neg = unconditional_transformer(latents, t, zeros, neg_layout...)  # unconditional
    v = w * pos + (1 - w) * neg

With the unconditional DiT on a second device, the two passes of a step can
run at once. CUDA work is asynchronous, so one thread suffices: when the
conditional DiT is called, this module first sends the unconditional pass's
inputs to the second device and queues that pass there, then queues the
conditional pass on the first device; when the loop then asks for the
unconditional prediction, the output already queued is returned. No thread
waits for a GPU in between.

Ordering is by stream: PyTorch orders a copy between two CUDA devices with an
event on each side (the destination stream waits for the copy, the copy waits
for the work already queued on both), so the second device starts only once
the step's latents exist, and the first device uses the unconditional
prediction only once it has arrived. The input copy is queued *before* the
conditional pass, so it does not wait for it.

Why the early pass computes the same thing: the unconditional input of a
step is ``latents`` cast to the DiTs' dtype, which is exactly the image part
of the conditional input (the text part is zeros put in front); the timestep
is the same tensor object for both calls, and the other unconditional inputs
(zero features, the image part of the layout) are built once per call of the
pipeline. The early result is used only when the loop's call passes those
same objects, the same timestep object and the same shape; otherwise (the
first step of each pipeline call, or any other caller) the pass runs there
and then, in order, and the result is the same, only not overlapped.

The output comes back to the first device only when the loop asks for it,
after the conditional pass is queued: a copy between devices makes the
destination's stream wait for it, so copying any earlier would hold the
conditional pass back until the unconditional one had finished.

A device pair of the same CPU runs the same bookkeeping without parallelism
(the tests use it to prove the outputs equal an unsplit run).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["GuidanceSplit", "SplitStats", "parse_devices"]

_NEG_KEYS = ("encoder_hidden_states", "position_ids", "segment_ids", "indicator")


@dataclass
class SplitStats:
    """What the split did in the last pipeline calls.

    Attributes:
        early: Unconditional passes queued on the second device before the
            conditional pass (the overlapped ones).
        inline: Unconditional passes run when the loop asked for them (the
            first step of each call, or inputs the split could not match).
        discarded: Early passes whose result was not used (the loop's inputs
            did not match), recomputed inline.
    """

    early: int = 0
    inline: int = 0
    discarded: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Neg:
    """The unconditional inputs that stay the same for a whole pipeline call."""

    originals: tuple[Any, ...]
    moved: dict[str, Any]
    tokens: int
    rest: dict[str, Any] = field(default_factory=dict)

    def matches(self, originals: tuple[Any, ...], rest: Mapping[str, Any]) -> bool:
        """Whether a call passes these very objects (identity: the loop builds them once per call)."""
        return (all(a is b for a, b in zip(self.originals, originals, strict=True))
                and self.rest.keys() == rest.keys() and all(self.rest[k] is rest[k] for k in rest))


@dataclass
class _Pending:
    """An unconditional pass queued early, and what it was computed from."""

    timestep: Any
    shape: tuple[int, ...]
    neg: _Neg
    output: Any


def parse_devices(text: str | None) -> list[str] | None:
    """Read ``--devices``: ``0,1`` (CUDA indexes) or device names (``cuda:0,cuda:1``, ``cpu,cpu``).

    >>> parse_devices("0,1"), parse_devices("cuda:1, cuda:0"), parse_devices(None)
    (['cuda:0', 'cuda:1'], ['cuda:1', 'cuda:0'], None)
    """
    if text is None:
        return None
    parts = [p.strip() for p in str(text).split(",")]
    return [f"cuda:{p}" if p.isdigit() else p for p in parts]


class GuidanceSplit:
    """Runs the unconditional DiT on ``secondary`` alongside the conditional DiT on ``primary``.

    Args:
        primary: Device of the conditional DiT, the text encoder, the VAE and
            the latents.
        secondary: Device of the unconditional DiT.
    """

    def __init__(self, primary: str, secondary: str) -> None:
        self.primary = primary
        self.secondary = secondary
        self.stats = SplitStats()
        self._neg: _Neg | None = None
        self._pending: _Pending | None = None

    # ---------------------------------------------------------------- plumbing

    def _guard(self) -> Any:
        """Make ``secondary`` the current CUDA device while its work is queued (kernels go to its stream)."""
        if self.secondary.startswith("cuda"):
            import torch

            return torch.cuda.device(self.secondary)
        return contextlib.nullcontext()

    def _to(self, value: Any, device: str) -> Any:
        return value.to(device, non_blocking=True) if hasattr(value, "to") else value

    def reset(self) -> None:
        """Forget the inputs of the previous pipeline call (called before each call, and after)."""
        self._neg = None
        self._pending = None

    def _run(self, forward: Callable[..., Any], hidden: Any, timestep: Any, neg: _Neg) -> Any:
        """Queue the unconditional pass on ``secondary``; its output stays there (see :meth:`_fetch`)."""
        with self._guard():
            return forward(
                hidden_states=self._to(hidden, self.secondary),
                timestep=self._to(timestep, self.secondary),
                **neg.moved,
                **neg.rest,
                return_dict=False,
            )[0]

    def _fetch(self, output: Any) -> Any:
        """Queue the output's copy to ``primary``.

        Only once the conditional pass is queued: a copy between two devices
        makes the destination's stream wait for it, so an earlier copy would
        hold the conditional pass back until the unconditional one is done.
        """
        return output.to(self.primary, non_blocking=True)

    # ---------------------------------------------------------------- the two calls

    def conditional(self, forward: Callable[..., Any], uncond_forward: Callable[..., Any], will_guide: bool,
                    args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """The conditional DiT's call: queue this step's unconditional pass first when its inputs are known."""
        self._pending = None
        neg = self._neg
        hidden = kwargs.get("hidden_states")
        timestep = kwargs.get("timestep")
        if (will_guide and neg is not None and not args and hidden is not None and timestep is not None
                and hidden.dim() == 3 and hidden.shape[1] >= neg.tokens
                and hidden.shape[0] == neg.originals[0].shape[0]):
            # contiguous like the loop's own ``latents.to(dtype)`` (one layout for the compiled blocks)
            image = hidden[:, hidden.shape[1] - neg.tokens:].contiguous()
            output = self._run(uncond_forward, image, timestep, neg)
            self._pending = _Pending(timestep, tuple(image.shape), neg, output)
            self.stats.early += 1
        return forward(*args, **kwargs)

    def unconditional(self, forward: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """The unconditional DiT's call: the early result when it was computed from these inputs."""
        pending, self._pending = self._pending, None
        return_dict = kwargs.get("return_dict", True)
        if args or any(k not in kwargs for k in ("hidden_states", "timestep", *_NEG_KEYS)):
            # not the pipeline's keyword call: run it as given, on its own device
            if pending is not None:
                self.stats.discarded += 1
            self.stats.inline += 1
            with self._guard():
                moved_args = tuple(self._to(a, self.secondary) for a in args)
                moved = {k: self._to(v, self.secondary) for k, v in kwargs.items()}
                out = forward(*moved_args, **moved)
            return _back(out, self.primary)
        hidden, timestep = kwargs["hidden_states"], kwargs["timestep"]
        originals = tuple(kwargs[k] for k in _NEG_KEYS)
        rest = {k: v for k, v in kwargs.items() if k not in ("hidden_states", "timestep", "return_dict", *_NEG_KEYS)}
        if pending is not None:
            if (pending.timestep is timestep and pending.shape == tuple(hidden.shape)
                    and pending.neg.matches(originals, rest)):
                return _wrap(self._fetch(pending.output), return_dict)
            self.stats.discarded += 1
        neg = self._neg
        if neg is None or not neg.matches(originals, rest):
            moved = {k: self._to(kwargs[k], self.secondary) for k in _NEG_KEYS}
            neg = _Neg(originals, moved, int(hidden.shape[1]), rest)
            self._neg = neg
        self.stats.inline += 1
        return _wrap(self._fetch(self._run(forward, hidden, timestep, neg)), return_dict)


def _wrap(output: Any, return_dict: bool) -> Any:
    if return_dict:
        from diffusers.models.modeling_outputs import Transformer2DModelOutput

        return Transformer2DModelOutput(sample=output)
    return (output,)


def _back(out: Any, device: str) -> Any:
    """Move a transformer's output (a tuple or an output object) to ``device``."""
    if isinstance(out, tuple):
        return tuple(o.to(device, non_blocking=True) if hasattr(o, "to") else o for o in out)
    sample = getattr(out, "sample", None)
    if sample is not None:
        out.sample = sample.to(device, non_blocking=True)
    return out
