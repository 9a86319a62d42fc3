"""The lints as first written, one element after another, every pattern run on every text: the reference
for :func:`captionkit.rules.content.lint`, which skips what cannot fire. Kept in the tests only.

The patterns, limits and rule texts are the module's own: what is compared is which checks run where.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from captionkit._frames import frame_size
from captionkit.diagnostics import Diagnostic
from captionkit.rules import RULES
from captionkit.rules.content import (
    _ALTERNATIVE,
    _CAMERA,
    _HEDGES,
    _LIGHT_SOURCES,
    _MOOD,
    _NOT_ALTERNATIVES,
    _PHOTO_MEDIA,
    _SHELL,
    _SQUARE_WORDS,
    _WARM,
    DESC_MAX_WORDS,
    DESC_MIN_WORDS,
    SUMMARY_MAX_WORDS,
)


def _d(code: str, path: tuple[Any, ...], message: str) -> Diagnostic:
    return RULES[code].diagnostic(path, message)


def _words(text: str) -> int:
    return len(text.split())


def _hedges(text: str, path: tuple[Any, ...], what: str, allow_various: bool = False) -> Iterator[Diagnostic]:
    for m in _HEDGES.finditer(text):
        word = m.group(1).lower()
        if allow_various and word == "various":
            continue
        yield _d("CK603", path, f"{what} hedges with '{m.group(1)}'; commit to one specific thing")
        return
    for m in _ALTERNATIVE.finditer(text):
        a, b = m.group(1).lower(), m.group(2).lower()
        if a in _NOT_ALTERNATIVES or b in _NOT_ALTERNATIVES:
            continue
        yield _d("CK603", path, f"{what} offers alternatives '{m.group(0)}'; choose one")
        return


def _element_key(elem: dict[str, Any]) -> str:
    return repr(sorted(elem.items()))


def _overlap(a: list[int], b: list[int]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


def reference_lint(caption: dict[str, Any], *, frame: Any = None) -> Iterator[Diagnostic]:
    """Yield CK6xx lints for a structurally valid caption dict.

    Args:
        caption: caption data that passed the structural checks.
        frame: a :class:`~captionkit.layout.Frame` or ``"WxH"``; enables CK610.
    """
    hld = caption.get("high_level_description")
    cd = caption["compositional_deconstruction"]
    elements = cd["elements"]
    sd = caption.get("style_description")
    lighting = sd.get("lighting") if isinstance(sd, dict) else None
    if isinstance(hld, str):
        path = ("high_level_description",)
        n = _words(hld)
        if n > SUMMARY_MAX_WORDS:
            yield _d("CK601", path, f"high_level_description has {n} words (at most {SUMMARY_MAX_WORDS})")
        yield from _hedges(hld, path, "high_level_description", allow_various=True)
        for m in _MOOD.finditer(hld):
            yield _d("CK604", path, f"impression word '{m.group(1)}'; describe what is seen")
            break
    if isinstance(sd, dict):
        if (
            isinstance(lighting, str)
            and _WARM.search(lighting) and not _LIGHT_SOURCES.search(lighting)
        ):
            yield _d("CK605", ("style_description", "lighting"),
                     "'warm' light with no named source; say where the light comes from")
        medium = sd.get("medium")
        if "photo" in sd and isinstance(medium, str) and not _PHOTO_MEDIA.search(medium):
            yield _d("CK612", ("style_description", "medium"),
                     f"photo style with medium '{medium}'; photo captions pair with 'photograph'")
    text_boxes: list[tuple[int, list[int]]] = []
    seen: dict[str, list[int]] = {}  # desc -> indices of the elements not repeating another
    width_height = frame_size(frame)
    for i, elem in enumerate(elements):
        base = ("compositional_deconstruction", "elements", i)
        desc = elem.get("desc")
        if isinstance(desc, str):
            n = _words(desc)
            if n < DESC_MIN_WORDS or n > DESC_MAX_WORDS:
                yield _d("CK602", (*base, "desc"),
                         f"desc has {n} words (aim for {DESC_MIN_WORDS}-{DESC_MAX_WORDS})")
            yield from _hedges(desc, (*base, "desc"), "desc")
            for m in _MOOD.finditer(desc):
                yield _d("CK604", (*base, "desc"), f"impression word '{m.group(1)}'; describe what is seen")
                break
            cam = _CAMERA.search(desc)
            if cam:
                yield _d("CK606", (*base, "desc"),
                         f"'{cam.group(1)}' in an element; camera and shadow language belongs in style_description")
            if elem["type"] == "obj" and _SHELL.match(desc):
                yield _d("CK611", (*base, "desc"),
                         "the scene shell (sky, ground, floor, walls) belongs in background, not in elements")
        text = elem.get("text")
        if elem["type"] == "text" and isinstance(text, str) and isinstance(desc, str):
            for line in (s.strip() for s in text.split("\n")):
                if len(line) >= 3 and line.casefold() in desc.casefold():
                    yield _d("CK607", (*base, "desc"),
                             f"desc repeats the literal text '{line}'; describe the lettering instead")
                    break
        # Repeats are rare: group by desc first, and make the exact key only inside a group.
        group = seen.setdefault(desc if isinstance(desc, str) else repr(desc), [])
        key = _element_key(elem) if group else None
        earlier = next((j for j in group if _element_key(elements[j]) == key), None)
        if earlier is not None:
            yield _d("CK608", base, f"element {i} repeats element {earlier}")
        else:
            group.append(i)
        bbox = elem.get("bbox")
        if isinstance(bbox, list):
            if elem["type"] == "text":
                for j, other in text_boxes:
                    if _overlap(bbox, other):
                        yield _d("CK609", (*base, "bbox"), f"text box overlaps the text box of element {j}")
                        break
                text_boxes.append((i, bbox))
            # the desc leads with identity, so only a shape word among its first words names the object's shape
            lead = " ".join(desc.split()[:4]) if width_height and isinstance(desc, str) else ""
            if width_height and elem["type"] == "obj" and _SQUARE_WORDS.search(lead):
                w, h = width_height
                px_w = (bbox[3] - bbox[1]) * w / 1000
                px_h = (bbox[2] - bbox[0]) * h / 1000
                if px_w > 0 and px_h > 0 and not (0.85 <= px_w / px_h <= 1 / 0.85):
                    yield _d("CK610", (*base, "bbox"),
                             f"'{_SQUARE_WORDS.search(lead).group(1)}' object drawn in a "  # type: ignore[union-attr]
                             f"{px_w:.0f}x{px_h:.0f} px box on {w}x{h}; make it square in pixels")
