"""Content lints (CK6xx): the prompting guide's advice, as warnings and infos.

The verifier checks none of this; these lints run only on structurally valid
captions. Word counts split on whitespace, as the official guidance does.

>>> from captionkit import verify
>>> verify('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"A dog or a cat such as a terrier."}]}}', tokens=False).codes()
['CK602', 'CK603']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from captionkit.diagnostics import Diagnostic
from captionkit._frames import frame_size
from captionkit.rules import RULES

__all__ = ["lint"]

SUMMARY_MAX_WORDS = 50
DESC_MIN_WORDS = 25
DESC_MAX_WORDS = 60

_HEDGES = re.compile(
    r"\b(such as|various|e\.g\.|or similar|maybe|perhaps|might be|in the style of|implied|suggested|hinted)"
    r"(?=\W|$)",
    re.IGNORECASE,
)
# "X or Y" for one property: two single words joined by "or" ("red or blue").
_ALTERNATIVE = re.compile(r"\b([a-z]+) or ([a-z]+)\b", re.IGNORECASE)
_NOT_ALTERNATIVES = {"more", "less", "either", "whether", "two", "three", "one", "so", "else"}
_MOOD = re.compile(
    r"\b(stunning|vibrant|beautiful|breathtaking|gorgeous|amazing|luminous|mesmerizing|"
    r"mesmerising|majestic|epic|awe-inspiring|dreamy|magical)\b",
    re.IGNORECASE,
)
_CAMERA = re.compile(
    r"\b(bokeh|depth of field|out of focus|motion blur|blurr?y|blur|film grain|grain|lens flare|"
    r"shallow focus|f/\d|\d+ ?mm lens|shadows?)\b",
    re.IGNORECASE,
)
_WARM = re.compile(r"\bwarm\b", re.IGNORECASE)
_LIGHT_SOURCES = re.compile(
    r"\b(sun|sunset|sunrise|golden hour|lamp|lamps|lantern|lanterns|candle|candles|fire|fireplace|"
    r"tungsten|bulb|bulbs|neon|window|windows|streetlight|streetlights|led|leds|torch|screen|"
    r"sign|signs|spotlight|headlights|moon|daylight|skylight|softbox|flash)\b",
    re.IGNORECASE,
)
_SQUARE_WORDS = re.compile(
    r"\b(square|round|circle|circular|sphere|spherical|disc|disk|ball|orb|globe|coin|clock face)\b",
    re.IGNORECASE,
)
_SHELL = re.compile(
    r"^\s*(an?|the)?\s*(sky|ground|floor|wall|walls|ceiling|horizon|background|terrain|clouds?)\b",
    re.IGNORECASE,
)
_PHOTO_MEDIA = re.compile(r"photo", re.IGNORECASE)


# -- a cheap necessary condition for each family of phrases -------------------------
#
# Every phrase pattern above starts and ends on a word boundary, so whenever one
# matches, each of its words stands alone in the lowercased text, between
# characters that are not ASCII letters or digits. The text is cut into runs of
# ASCII letters and digits once (bytes.translate + split, a few C-level passes);
# a family whose trigger words are all absent cannot match, and its regular
# expression is not run. Present triggers only mean "look": the patterns decide.
# Under re.IGNORECASE three non-ASCII letters match ASCII ones ("İ", "ı", "ſ";
# "K", the Kelvin sign, lowercases to "k" anyway): text holding one of them
# skips the shortcut and runs every pattern.
_SEPARATORS = bytes(b if 97 <= b <= 122 or 48 <= b <= 57 else 32 for b in range(256))
_FOLDS_TO_ASCII = ("\u0130", "\u0131", "\u017f")
_EVERYTHING = None  # the token set that makes every family look


def _tokens(texts: list[str]) -> frozenset[bytes] | None:
    """The ASCII-alphanumeric runs of the lowercased texts; ``None`` means "run every pattern"."""
    joined = "\n".join(texts)
    if not joined.isascii() and any(ch in joined for ch in _FOLDS_TO_ASCII):
        return _EVERYTHING
    return frozenset(joined.lower().encode("utf-8", "surrogatepass").translate(_SEPARATORS).split())


def _may(triggers: frozenset[bytes], tokens: frozenset[bytes] | None) -> bool:
    return tokens is None or not triggers.isdisjoint(tokens)


_HEDGE_TRIGGERS = frozenset(
    b"such various e or maybe perhaps might style implied suggested hinted".split()
)
_ALTERNATIVE_TRIGGERS = frozenset({b"or"})
_MOOD_TRIGGERS = frozenset(
    b"stunning vibrant beautiful breathtaking gorgeous amazing luminous mesmerizing mesmerising "
    b"majestic epic awe dreamy magical".split()
)
_CAMERA_TRIGGERS = frozenset(
    b"bokeh depth out motion blurry blury blur film grain lens shallow f shadow shadows".split()
)
_WARM_TRIGGERS = frozenset({b"warm"})


def _d(code: str, path: tuple[Any, ...], message: str) -> Diagnostic:
    return RULES[code].diagnostic(path, message)


def _words(text: str) -> int:
    return len(text.split())


def _hedges(
    text: str, path: tuple[Any, ...], what: str, tokens: frozenset[bytes] | None, allow_various: bool = False
) -> Iterator[Diagnostic]:
    for m in _HEDGES.finditer(text) if _may(_HEDGE_TRIGGERS, tokens) else ():
        word = m.group(1).lower()
        if allow_various and word == "various":
            continue
        yield _d("CK603", path, f"{what} hedges with '{m.group(1)}'; commit to one specific thing")
        return
    if not _may(_ALTERNATIVE_TRIGGERS, tokens):
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


def lint(caption: dict[str, Any], *, frame: Any = None) -> Iterator[Diagnostic]:
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
    # One cut of every linted text decides which families can match at all.
    prose = [v for v in (hld, lighting) if isinstance(v, str)]
    prose += [e["desc"] for e in elements if isinstance(e.get("desc"), str)]
    tokens = _tokens(prose)
    look_mood = _may(_MOOD_TRIGGERS, tokens)
    look_camera = _may(_CAMERA_TRIGGERS, tokens)
    if isinstance(hld, str):
        path = ("high_level_description",)
        n = _words(hld)
        if n > SUMMARY_MAX_WORDS:
            yield _d("CK601", path, f"high_level_description has {n} words (at most {SUMMARY_MAX_WORDS})")
        yield from _hedges(hld, path, "high_level_description", tokens, allow_various=True)
        for m in _MOOD.finditer(hld) if look_mood else ():
            yield _d("CK604", path, f"impression word '{m.group(1)}'; describe what is seen")
            break
    if isinstance(sd, dict):
        if (
            isinstance(lighting, str) and _may(_WARM_TRIGGERS, tokens)
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
            yield from _hedges(desc, (*base, "desc"), "desc", tokens)
            for m in _MOOD.finditer(desc) if look_mood else ():
                yield _d("CK604", (*base, "desc"), f"impression word '{m.group(1)}'; describe what is seen")
                break
            cam = _CAMERA.search(desc) if look_camera else None
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
