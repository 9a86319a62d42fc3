"""The local magic prompt (``--backend local``): no network, no key.

The local Ideogram 4 pipeline's own text encoder becomes generative with diffusers' optional
prompt-enhancer head (``Ideogram4Pipeline.upsample_prompt``, diffusers 0.42). Its output goes
through the same repair loop and verifier as every other backend. The enhancer cannot take a
follow-up turn, so where a chat backend would re-ask, the local backend samples again (with the
next seed). Generation is schema-constrained when ``outlines`` is installed (diffusers builds the
logits processor); without it, every result says so in its warnings.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

from captionkit.magic._aspect import resolve_aspect
from captionkit.magic._backends import Backend
from captionkit.magic._core import _repair_error
from captionkit.magic._repair import process_reply
from captionkit.magic._result import ExpandResult
from captionkit.magic.errors import ConfigurationError
from captionkit.render.pipeline import Renderer

__all__ = ["LOCAL_BACKEND", "LocalMagicPrompt", "expand_local"]

#: The registry entry of the local backend (it talks to no server).
LOCAL_BACKEND = Backend(
    key="local",
    protocol="local",  # type: ignore[arg-type]
    base_url=None,
    path="",
    model=None,
    key_env=(),
    key_required=False,
    description="the local pipeline's text encoder with diffusers' prompt-enhancer head (no network, no key)",
)

_PROMPT_ID = "diffusers-ideogram4-enhancer"
_UNCONSTRAINED = (
    "outlines is not installed: the local enhancer decoded without the caption schema "
    "(pip install outlines for schema-constrained output)"
)


class _Config:
    """The few fields the shared repair-error builder reads."""

    def __init__(self) -> None:
        self.backend = LOCAL_BACKEND


def constrained_decoding() -> bool:
    """Whether diffusers can constrain the enhancer to the caption schema (``outlines`` installed)."""
    return importlib.util.find_spec("outlines") is not None


class LocalMagicPrompt:
    """Expand ideas with a local pipeline's prompt enhancer, then repair and verify.

    Args:
        model: A model folder or hub id for :class:`captionkit.render.Renderer` (its folder must
            hold a ``prompt_enhancer_head``).
        renderer: An already built :class:`~captionkit.render.Renderer` instead.
        pipeline: An already built ``Ideogram4Pipeline`` (or any object with ``upsample_prompt``).
        strip_bboxes: Remove element boxes (the enhancer writes none; kept for symmetry).
        max_reasks: Extra samples after a reply that cannot be repaired.
        max_new_tokens: The enhancer's output limit.
        temperature: Sampling temperature (diffusers' default 1.0).
        seed: Seed of the first sample (each further sample uses the next one); random when None.
        unsafe_fixes: Also apply unsafe fixes.
        **render_options: Options for the :class:`~captionkit.render.Renderer` made from ``model``.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        renderer: Any = None,
        pipeline: Any = None,
        strip_bboxes: bool = True,
        max_reasks: int = 2,
        max_new_tokens: int = 1024,
        temperature: float = 1.0,
        seed: int | None = None,
        unsafe_fixes: bool = False,
        **render_options: Any,
    ) -> None:
        if model is None and renderer is None and pipeline is None:
            raise ConfigurationError("local: no model; pass --model (a local Ideogram 4 folder with a prompt_enhancer_head)")
        if max_reasks < 0:
            raise ConfigurationError(f"max_reasks must be 0 or more, got {max_reasks}")
        self.model = model
        self._renderer = renderer
        self._pipeline = pipeline
        self._render_options = render_options
        self.strip_bboxes = strip_bboxes
        self.max_reasks = max_reasks
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        self.unsafe_fixes = unsafe_fixes

    def __repr__(self) -> str:
        return f"LocalMagicPrompt(model={self.model!r})"

    def _pipe(self) -> Any:
        if self._pipeline is None:
            if self._renderer is None:
                self._renderer = Renderer(self.model, **self._render_options)
            self._pipeline = self._renderer.load().pipe
        pipe = self._pipeline
        if not hasattr(pipe, "upsample_prompt"):
            raise ConfigurationError("local: this pipeline has no upsample_prompt; it needs diffusers 0.42 or later")
        if getattr(pipe, "prompt_enhancer_head", True) is None:
            raise ConfigurationError(
                f"local: {self.model or 'the pipeline'} has no prompt_enhancer_head; add one to the model folder "
                "(diffusers' Ideogram4PromptEnhancerHead) or use another backend"
            )
        return pipe

    def expand(self, idea: str, aspect_ratio: Any = "auto") -> ExpandResult:
        """Expand one idea into a verified caption, locally.

        Raises:
            ConfigurationError: No model, no prompt-enhancer head, a bad ratio or an empty idea.
            CaptionRepairError: No sample could be repaired into a verified caption (a
                subclass per reason, as for the other backends).
        """
        if not isinstance(idea, str) or not idea.strip():
            raise ConfigurationError("the idea is empty; give a short description of the picture")
        try:
            aspect = resolve_aspect(aspect_ratio, snap=False)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        warnings: list[str] = []
        ratio = aspect.ratio
        if aspect.is_auto:
            ratio = "1:1"  # the enhancer composes for a given frame only
            warnings.append("the local enhancer needs a concrete ratio; composed for 1:1 (pass --aspect)")
        width, height = (int(v) for v in ratio.split(":"))
        if not constrained_decoding():
            warnings.append(_UNCONSTRAINED)
        pipe = self._pipe()
        started = time.monotonic()
        import torch

        base_seed = self.seed if self.seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item())
        asks = 0
        while True:
            asks += 1
            generator = torch.Generator().manual_seed(base_seed + asks - 1)
            text = pipe.upsample_prompt(
                idea.strip(), height=height, width=width, temperature=self.temperature,
                max_new_tokens=self.max_new_tokens, generator=generator,
            )[0]
            outcome = process_reply(text, strip_boxes=self.strip_bboxes, unsafe=self.unsafe_fixes)
            if outcome.ok:
                return ExpandResult(
                    caption=outcome.caption,
                    text=outcome.text or "",
                    aspect_ratio=ratio,
                    requested_aspect=aspect.requested,
                    aspect_error=0.0,
                    backend="local",
                    model=self.model,
                    prompt=_PROMPT_ID,
                    attempts=asks,
                    transport_attempts=0,
                    usage=None,
                    request_id=None,
                    changes=outcome.changes,
                    diagnostics=outcome.report,
                    metadata={**outcome.metadata, "seed": base_seed + asks - 1},
                    warnings=tuple(warnings),
                    elapsed=time.monotonic() - started,
                )
            if asks > self.max_reasks:
                raise _repair_error(_Config(), outcome, asks)  # type: ignore[arg-type]


def expand_local(idea: str, aspect_ratio: Any = "auto", **options: Any) -> ExpandResult:
    """Expand one idea locally (a :class:`LocalMagicPrompt` for one call)."""
    return LocalMagicPrompt(**options).expand(idea, aspect_ratio)
