"""Render verified captions with a local Ideogram 4 pipeline (the ``render`` extra).

Importing this package is light: torch and diffusers load when a pipeline
loads. Every caption is canonicalized, verified (official-compatible) and
token-checked, and the size and options are checked, before any weights load.

>>> from captionkit.render import PRESETS, parse_size
>>> PRESETS["V4_DEFAULT_20"].steps, parse_size("1024x1536")
(20, (1024, 1536))

Typical use::

    from captionkit.render import Renderer
    renderer = Renderer("ideogram-ai/ideogram-v4")        # loads on first render
    for result in renderer.render(caption, preset="V4_DEFAULT_20", size="1536x1024", seeds=[1, 2]):
        result.save(f"out-{result.recipe.seed}.png")       # PNG with the recipe in its metadata
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from captionkit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "BatchItem": "captionkit.render.batch",
    "BatchResult": "captionkit.render.batch",
    "CachedModel": "captionkit.render.hub",
    "CancelToken": "captionkit.render.progress",
    "Cancelled": "captionkit.render.errors",
    "DEFAULT_MODEL": "captionkit.render.hub",
    "DEFAULT_PRESET": "captionkit.render.presets",
    "DistContext": "captionkit.render.batch",
    "MemoryReport": "captionkit.render.memory",
    "ModelSource": "captionkit.render.hub",
    "PRESETS": "captionkit.render.presets",
    "PreparedCaption": "captionkit.render._core",
    "Preset": "captionkit.render.presets",
    "ProgressEvent": "captionkit.render.progress",
    "Recipe": "captionkit.render.metadata",
    "RenderError": "captionkit.render.errors",
    "RenderResult": "captionkit.render.metadata",
    "Renderer": "captionkit.render.pipeline",
    "iter_items": "captionkit.render.batch",
    "list_cached_models": "captionkit.render.hub",
    "memory_report": "captionkit.render.memory",
    "parse_size": "captionkit.render._core",
    "prepare_caption": "captionkit.render._core",
    "read_recipe": "captionkit.render.metadata",
    "render": "captionkit.render.pipeline",
    "render_batch": "captionkit.render.batch",
    "render_dataset": "captionkit.render.fleet",
    "resolve_preset": "captionkit.render.presets",
    "resolve_source": "captionkit.render.hub",
    "Plan": "captionkit.render.plan",
    "write_png": "captionkit.render.metadata",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:  # pragma: no cover
    from captionkit.render._core import PreparedCaption, parse_size, prepare_caption
    from captionkit.render.batch import BatchItem, BatchResult, DistContext, iter_items, render_batch
    from captionkit.render.errors import Cancelled, RenderError
    from captionkit.render.fleet import render_dataset
    from captionkit.render.hub import DEFAULT_MODEL, CachedModel, ModelSource, list_cached_models, resolve_source
    from captionkit.render.memory import MemoryReport, memory_report
    from captionkit.render.metadata import Recipe, RenderResult, read_recipe, write_png
    from captionkit.render.plan import Plan
    from captionkit.render.pipeline import Renderer, render
    from captionkit.render.presets import DEFAULT_PRESET, PRESETS, Preset, resolve_preset
    from captionkit.render.progress import CancelToken, ProgressEvent
