"""captionkit's own strict checks (CK2xx root order, CK40x) as first written: the reference for
``captionkit.verifier._strict``, which looks at the usual values in bulk. Kept in the tests only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from captionkit import _walk
from captionkit.diagnostics import Diagnostic
from captionkit.verifier import _STYLE_PROSE, _diag


def _prose(value: Any, path: tuple[Any, ...], what: str) -> Iterator[Diagnostic]:
    if not isinstance(value, str):
        yield _diag("CK401", path, f"{what} should be a string, got {type(value).__name__}")
    elif not value.strip():
        yield _diag("CK402", path, f"{what} is empty")


def _palette_dups(palette: Any, path: tuple[Any, ...]) -> Iterator[Diagnostic]:
    if isinstance(palette, list):
        seen: set[str] = set()
        for j, c in enumerate(palette):
            if isinstance(c, str):
                key = c.upper()
                if key in seen:
                    yield _diag("CK405", (*path, j), f"colour {c} is already in the palette")
                seen.add(key)


def reference_strict(value: Any) -> Iterator[Diagnostic]:
    """captionkit's own checks beyond the verifier; defensive about any shape."""
    if not isinstance(value, dict):
        return
    known = [k for k in value if k in _walk.TOP_LEVEL_KNOWN_KEYS]
    canonical = [k for k in _walk.ROOT_KEY_ORDER if k in value]
    if known != canonical:
        yield _diag("CK207", (), f"root keys are in order {tuple(known)!r}, expected {tuple(canonical)!r}")
    hld = value.get("high_level_description")
    if isinstance(hld, str) and not hld.strip():
        yield _diag("CK402", ("high_level_description",), "high_level_description is empty")
    sd = value.get("style_description")
    if isinstance(sd, dict):
        for key in _STYLE_PROSE:
            if key in sd:
                yield from _prose(sd[key], ("style_description", key), key)
        yield from _palette_dups(sd.get("color_palette"), ("style_description", "color_palette"))
    cd = value.get("compositional_deconstruction")
    if not isinstance(cd, dict):
        return
    bg = cd.get("background")
    if isinstance(bg, str) and not bg.strip():
        yield _diag("CK402", ("compositional_deconstruction", "background"), "background is empty")
    elements = cd.get("elements")
    if not isinstance(elements, list):
        return
    if not elements:
        yield _diag("CK406", ("compositional_deconstruction", "elements"), "the caption has no elements")
    for i, elem in enumerate(elements):
        if not isinstance(elem, dict):
            continue
        base = ("compositional_deconstruction", "elements", i)
        for key in ("text", "desc"):
            if key in elem and (key == "desc" or elem.get("type") == "text"):
                yield from _prose(elem[key], (*base, key), key)
        bbox = elem.get("bbox")
        if isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, int) for v in bbox):
            if any(isinstance(v, bool) for v in bbox):
                yield _diag("CK403", (*base, "bbox"), f"bbox holds booleans: {bbox!r}")
            elif bbox[0] == bbox[2] or bbox[1] == bbox[3]:
                yield _diag("CK404", (*base, "bbox"), f"bbox {bbox!r} has zero width or height")
        yield from _palette_dups(elem.get("color_palette"), (*base, "color_palette"))


