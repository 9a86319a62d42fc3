"""The Ideogram 4 caption schema, written once, as data.

Everything that knows the schema derives from this module at import time: the
official walk (:mod:`captionkit._walk`), the canonical serializer
(:mod:`captionkit._json`), the typed models, the builder, the palette tools, the
typed fast routes (:mod:`captionkit._fastcheck`), the fixes, the JSON Schema and
the C accelerator (which receives the numeric limits from here when it is
loaded, and whose key names a test compares with these). Change an official
rule here and every route changes its answer together.

This module imports nothing from captionkit; it is the bottom layer.

>>> ELEMENT_KEY_ORDER["text"]
('type', 'bbox', 'text', 'desc', 'color_palette')
>>> STYLE_PALETTE_MAX, ELEMENT_PALETTE_MAX
(16, 5)
"""

from __future__ import annotations

import re

__all__ = [
    "BBOX_MAX",
    "BBOX_MIN",
    "COMPOSITION_KEY_ORDER",
    "ELEMENT_KEY_ORDER",
    "ELEMENT_KNOWN_KEYS",
    "ELEMENT_PALETTE_MAX",
    "ELEMENT_TYPES",
    "HEX_COLOR",
    "REQUIRED",
    "ROOT_KEY_ORDER",
    "STYLE_KEY_ORDER",
    "STYLE_KNOWN_KEYS",
    "STYLE_PALETTE_MAX",
    "TOKEN_LIMIT",
    "TOP_LEVEL_KNOWN_KEYS",
]

# -- key orders (the official verifier checks all but the root's) -------------------

ROOT_KEY_ORDER: tuple[str, ...] = ("high_level_description", "style_description", "compositional_deconstruction")
"""Canonical root order. The official verifier does not check it; the model was trained on it."""

STYLE_KEY_ORDER: dict[str, tuple[str, ...]] = {
    "photo": ("aesthetics", "lighting", "photo", "medium", "color_palette"),
    "art_style": ("aesthetics", "lighting", "medium", "art_style", "color_palette"),
}
"""``style_description`` key order for each branch, named by the key that selects it."""

COMPOSITION_KEY_ORDER: tuple[str, ...] = ("background", "elements")

ELEMENT_KEY_ORDER: dict[str, tuple[str, ...]] = {
    "obj": ("type", "bbox", "desc", "color_palette"),
    "text": ("type", "bbox", "text", "desc", "color_palette"),
}
"""Element key order for each element type."""

ELEMENT_TYPES: frozenset[str] = frozenset(ELEMENT_KEY_ORDER)

# -- which keys may appear, and which must ------------------------------------------

TOP_LEVEL_KNOWN_KEYS: frozenset[str] = frozenset(ROOT_KEY_ORDER)
STYLE_KNOWN_KEYS: frozenset[str] = frozenset(k for order in STYLE_KEY_ORDER.values() for k in order)
ELEMENT_KNOWN_KEYS: frozenset[str] = frozenset(k for order in ELEMENT_KEY_ORDER.values() for k in order)

OPTIONAL: frozenset[str] = frozenset({"high_level_description", "style_description", "bbox", "color_palette"})
"""Keys that may be left out wherever they are known (the style block itself is optional)."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "root": tuple(k for k in ROOT_KEY_ORDER if k not in OPTIONAL),
    "compositional_deconstruction": COMPOSITION_KEY_ORDER,
    **{f"style_description.{branch}": tuple(k for k in order if k not in OPTIONAL)
       for branch, order in STYLE_KEY_ORDER.items()},
    **{f"element.{kind}": tuple(k for k in order if k not in OPTIONAL) for kind, order in ELEMENT_KEY_ORDER.items()},
}

# -- values --------------------------------------------------------------------------

BBOX_MIN = 0
BBOX_MAX = 1000
"""Box values are integers in ``[BBOX_MIN, BBOX_MAX]``, written ``[y_min, x_min, y_max, x_max]``."""

STYLE_PALETTE_MAX = 16
ELEMENT_PALETTE_MAX = 5

HEX_DIGITS = "0123456789ABCDEF"
HEX_COLOR = re.compile(r"#[0-9A-F]{6}")
"""A palette colour: ``#`` and six uppercase hex digits (use ``fullmatch``)."""

TOKEN_LIMIT = 2048
"""The pipeline's ``max_sequence_length``: a caption over this many tokens (chat wrapper included) raises."""
