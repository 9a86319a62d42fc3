"""Adapter for the official ``ideogram4`` package.

Differences it hides: the official call takes ``prompts`` and ``num_steps``,
reads the guidance schedule in loop-index order (index 0 is the last step),
seeds a generator on the run device, and offers no per-step hook, so progress
is reported per image and cancelling takes effect between images.
"""

from __future__ import annotations

import time
from typing import Any

from captionkit.render.errors import RenderError
from captionkit.render.metadata import RenderResult

__all__ = ["load", "render"]


def load(source: Any, *, device: str, dtype: Any) -> Any:
    """Load the official pipeline for a resolved :class:`ModelSource`."""
    import ideogram4

    if source.path is not None and source.revision is None and source.model == str(source.path):
        raise RenderError(
            f"model folder {source.model}: the official backend loads from a Hub repo id only "
            "(it has no local-folder option)"
        )
    if source.prequantized == "nf4" and not device.startswith("cuda"):
        raise RenderError(f"bnb 4-bit weights require a CUDA device, got device={device}")
    config = ideogram4.Ideogram4PipelineConfig(weights_repo=source.model)
    try:
        return ideogram4.Ideogram4Pipeline.from_pretrained(config=config, device=device, dtype=dtype)
    except Exception as exc:  # the official loader raises many types; one line for each
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RenderError(f"model {source.model}: official loader failed ({type(exc).__name__}: {first})") from None


def call_kwargs(recipe: Any, seed: int) -> dict[str, Any]:
    """Keyword arguments for one official call (schedule converted to loop-index order)."""
    p = recipe.preset
    return {
        "height": recipe.height,
        "width": recipe.width,
        "num_steps": p.steps,
        "guidance_schedule": list(p.official_schedule()),
        "mu": p.mu,
        "std": p.std,
        "seed": seed,
    }


def render(pipe: Any, recipe: Any, seeds: list[int], emit: Any, fields: dict[str, Any]) -> list[Any]:
    """Render ``recipe.caption`` once per seed with the official pipeline."""
    results = []
    for s in seeds:
        emit("encode", **fields)
        t0 = time.perf_counter()
        try:
            images = pipe([recipe.caption], **call_kwargs(recipe, s))
        except ValueError as exc:
            first = (str(exc).strip().splitlines() or ["ValueError"])[0]
            raise RenderError(f"official pipeline refused the render: {first}") from None
        emit("step", step=fields["steps"], **{k: v for k, v in fields.items() if k != "step"})
        emit("decode", step=fields["steps"], **{k: v for k, v in fields.items() if k != "step"})
        results.append(RenderResult(image=images[0], recipe=recipe.with_seed(s), seconds=time.perf_counter() - t0))
    return results
