"""The notebook experience: rich displays and the ``Studio`` panel (the ``notebook`` extra).

Rich displays need nothing beyond captionkit itself: a :class:`~captionkit.Caption` shows its
layout preview and a verified / N errors badge, a :class:`~captionkit.Report` a diagnostics
table, a render result its image, recipe and timing, a memory report the four-bar panel.
:class:`Studio` is one ipywidgets panel wired to the library: caption editor with live
diagnostics, safe fixes, layout preview, magic prompt, sampler, resolution, seeds, Generate
with progress and Cancel, memory and history. It works on a GPU, on the tiny CPU pipeline, and
with no renderer at all (authoring only).

Importing this package is light; ipywidgets loads with :class:`Studio`.

>>> import captionkit.notebook as nb
>>> from captionkit.builder import CaptionBuilder
>>> caption = CaptionBuilder().background("A white wall.").obj("A clock.", box=[100, 100, 400, 400]).build()
>>> 'data-ok="true"' in nb.caption_html(caption)
True
>>> nb.parse_schedule("3*2, 7*3")
(3.0, 3.0, 7.0, 7.0, 7.0)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from captionkit._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Environment": "captionkit.notebook._env",
    "Gallery": "captionkit.notebook._display",
    "Generation": "captionkit.notebook._generate",
    "Studio": "captionkit.notebook._studio",
    "caption_html": "captionkit.notebook._display",
    "environment": "captionkit.notebook._env",
    "gallery": "captionkit.notebook._display",
    "generate": "captionkit.notebook._generate",
    "load_renderer": "captionkit.notebook._generate",
    "memory_html": "captionkit.notebook._display",
    "parse_schedule": "captionkit.notebook._controls",
    "parse_seeds": "captionkit.notebook._controls",
    "report_html": "captionkit.notebook._display",
    "result_html": "captionkit.notebook._display",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

if TYPE_CHECKING:  # pragma: no cover
    from captionkit.notebook._controls import parse_schedule, parse_seeds
    from captionkit.notebook._display import (
        Gallery,
        caption_html,
        gallery,
        memory_html,
        report_html,
        result_html,
    )
    from captionkit.notebook._env import Environment, environment
    from captionkit.notebook._generate import Generation, generate, load_renderer
    from captionkit.notebook._studio import Studio
