"""Content lints (CK6xx): the prompting guide's advice, as warnings and infos.

The verifier checks none of this; these lints run only on structurally valid
captions. Word counts split on whitespace, as the official guidance does.

>>> from captionkit import verify
>>> verify('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"A dog or a cat such as a terrier."}]}}', tokens=False).codes()
['CK602', 'CK603']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from itertools import repeat
from typing import Any

from captionkit import _accel
from captionkit.diagnostics import Diagnostic
from captionkit._frames import frame_size
from captionkit.rules import RULES

__all__ = ["lint", "lint_parts"]

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
# characters that are not ASCII letters or digits. Each text is cut into runs of
# ASCII letters and digits once; a family whose trigger words are all absent from
# a text cannot match there, and its regular expression is not run on it. Present
# triggers only mean "look": the patterns decide. Under re.IGNORECASE three
# non-ASCII letters match ASCII ones ("İ", "ı", "ſ"; "K", the Kelvin sign,
# lowercases to "k" anyway): a text holding one of them runs every pattern.
#
# The runs are kept as bits: bit k is set when trigger word k (of _VOCABULARY) is
# among a text's runs. The C accelerator computes the same bits, and the word
# counts, in one pass over each text (see _facts).
_SEPARATORS = bytes(b if 97 <= b <= 122 or 48 <= b <= 57 else 32 for b in range(256))
_FOLDS_TO_ASCII = ("\u0130", "\u0131", "\u017f")
_EVERYTHING = None  # the token set that makes every family look


def _tokens(texts: list[str]) -> frozenset[bytes] | None:
    """The ASCII-alphanumeric runs of the lowercased texts; ``None`` means "run every pattern"."""
    joined = "\n".join(texts)
    if not joined.isascii() and any(ch in joined for ch in _FOLDS_TO_ASCII):
        return _EVERYTHING
    return frozenset(joined.lower().encode("utf-8", "surrogatepass").translate(_SEPARATORS).split())


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
# _SHELL's words (each must stand alone for the pattern to match)
_SHELL_TRIGGERS = frozenset(b"sky ground floor wall walls ceiling horizon background terrain cloud clouds".split())

_VOCABULARY: tuple[bytes, ...] = tuple(sorted(
    _HEDGE_TRIGGERS | _ALTERNATIVE_TRIGGERS | _MOOD_TRIGGERS | _CAMERA_TRIGGERS | _WARM_TRIGGERS | _SHELL_TRIGGERS
))
_BIT = {word: 1 << k for k, word in enumerate(_VOCABULARY)}
_ALL = (1 << len(_VOCABULARY)) - 1


def _mask(words: frozenset[bytes]) -> int:
    return sum(_BIT[w] for w in words)


_HEDGE_BITS, _ALTERNATIVE_BITS, _MOOD_BITS, _CAMERA_BITS, _WARM_BITS, _SHELL_BITS = map(
    _mask, (_HEDGE_TRIGGERS, _ALTERNATIVE_TRIGGERS, _MOOD_TRIGGERS, _CAMERA_TRIGGERS, _WARM_TRIGGERS, _SHELL_TRIGGERS)
)
_PHRASE_BITS = _HEDGE_BITS | _ALTERNATIVE_BITS | _MOOD_BITS | _CAMERA_BITS  # what may make an element's desc worth the patterns


def _mask_of(texts: list[str]) -> int:
    """The bits of the trigger words among the texts' runs (every bit where a letter folds to ASCII)."""
    tokens = _tokens(texts)
    return _ALL if tokens is None else sum(_BIT[w] for w in tokens & _BIT.keys())


_TEXT_BREAK = " \x00 "  # joins the texts: "\x00" stays itself through both tables below, between spaces
_KEEP_BREAKS = b"\x00" + _SEPARATORS[1:]
# each ASCII white-space character (as str.isspace() has them) to " ", any other byte but "\x00" to "x"
_WHITE_OR_NOT = bytes(32 if chr(b).isspace() else 0 if b == 0 else 120 for b in range(128)) + b"x" * 128
_VOCABULARY_SET = frozenset(_VOCABULARY)


class _MaskOfWords(dict):  # type: ignore[type-arg]
    """frozenset of trigger words -> their bits (a text's words meet few of the 2**57 subsets)."""

    def __missing__(self, words: frozenset[bytes]) -> int:
        if len(self) >= 4096:
            self.clear()
        mask = self[words] = sum(map(_BIT.__getitem__, words))
        return mask


_MASK_OF_WORDS = _MaskOfWords()


def _py_facts(texts: list[str]) -> tuple[list[int], list[int]]:
    """``(word_counts, masks)``: ``len(t.split())`` of each text, and each text's own trigger bits.

    The bits equal :func:`_mask_of` of each text alone, as the C accelerator's do. The texts are
    lowered and encoded together (joined); cut at every byte that is not an ASCII letter or digit,
    each text's runs meet the vocabulary in one set intersection. An ASCII text's words are the
    places where white space meets anything else, counted in the same bytes mapped to two kinds.
    """
    joined = _TEXT_BREAK.join(texts)
    if joined.count("\x00") >= len(texts) or (not joined.isascii() and any(ch in joined for ch in _FOLDS_TO_ASCII)):
        # a text holding the break itself, or a letter that folds to ASCII: each text alone
        return [len(text.split()) for text in texts], [_mask_of([text]) for text in texts]
    data = b" " + joined.lower().encode("utf-8", "surrogatepass") + b" "
    runs = map(bytes.split, data.translate(_KEEP_BREAKS).split(b"\x00"))
    masks = list(map(_MASK_OF_WORDS.__getitem__, map(_VOCABULARY_SET.intersection, runs)))
    counts = list(map(bytes.count, data.translate(_WHITE_OR_NOT).split(b"\x00"), repeat(b" x")))
    if not joined.isascii():  # other white space may be there, written in several bytes
        counts = [n if plain else len(text.split()) for n, plain, text in zip(counts, map(str.isascii, texts), texts)]
    return counts, masks


if _accel.speedups is not None:
    _accel.speedups.configure_words(tuple(w.decode("ascii") for w in _VOCABULARY))
    _accel.speedups.configure_lints(DESC_MIN_WORDS, DESC_MAX_WORDS, _PHRASE_BITS, _SHELL_BITS)
    _facts = _accel.speedups.prose_facts
else:
    _facts = _py_facts


def _d(code: str, path: tuple[Any, ...], message: str) -> Diagnostic:
    return RULES[code].diagnostic(path, message)


def _hedges(
    text: str, path: tuple[Any, ...], what: str, mask: int, allow_various: bool = False
) -> Iterator[Diagnostic]:
    for m in _HEDGES.finditer(text) if mask & _HEDGE_BITS else ():
        word = m.group(1).lower()
        if allow_various and word == "various":
            continue
        yield _d("CK603", path, f"{what} hedges with '{m.group(1)}'; commit to one specific thing")
        return
    if not mask & _ALTERNATIVE_BITS:
        return
    for m in _ALTERNATIVE.finditer(text):
        a, b = m.group(1).lower(), m.group(2).lower()
        if a in _NOT_ALTERNATIVES or b in _NOT_ALTERNATIVES:
            continue
        yield _d("CK603", path, f"{what} offers alternatives '{m.group(0)}'; choose one")
        return


def _element_key(elem: dict[str, Any]) -> str:
    return repr(sorted(elem.items()))


def _overlapping_text(kinds: list[Any], boxes: list[Any]) -> dict[int, int]:
    """For each text element whose box overlaps an earlier text element's box: the first such element."""
    found: dict[int, int] = {}
    earlier: list[tuple[int, tuple[int, int, int, int]]] = []
    for i, (kind, bbox) in enumerate(zip(kinds, boxes)):
        if kind != "text" or not isinstance(bbox, list):
            continue
        top, left, bottom, right = bbox
        for j, (o_top, o_left, o_bottom, o_right) in earlier:
            # the boxes overlap: min(bottom, o_bottom) > max(top, o_top), the same across, written out
            if (
                bottom > top and bottom > o_top and o_bottom > top and o_bottom > o_top
                and right > left and right > o_left and o_right > left and o_right > o_left
            ):
                found[i] = j
                break
        earlier.append((i, (top, left, bottom, right)))
    return found


def lint(caption: dict[str, Any], *, frame: Any = None) -> Iterator[Diagnostic]:
    """Yield CK6xx lints for a structurally valid caption dict.

    Args:
        caption: caption data that passed the structural checks.
        frame: a :class:`~captionkit.layout.Frame` or ``"WxH"``; enables CK610.
    """
    hld = caption.get("high_level_description")
    elements = caption["compositional_deconstruction"]["elements"]
    sd = caption.get("style_description")
    lighting = medium = None
    photo = False
    if isinstance(sd, dict):
        lighting, medium, photo = sd.get("lighting"), sd.get("medium"), "photo" in sd
    # One pass over every linted text: its word count and which trigger words it holds.
    descs = [e.get("desc") for e in elements]
    counts, masks = _facts([v if isinstance(v, str) else "" for v in (hld, lighting, *descs)])
    yield from lint_parts(
        hld, lighting, medium, photo, [e["type"] for e in elements], [e.get("bbox") for e in elements],
        [e.get("text") for e in elements], descs, counts, masks, frame=frame, elements=lambda: elements,
    )


def lint_parts(
    hld: Any, lighting: Any, medium: Any, photo: bool, kinds: list[Any], boxes: list[Any], texts: list[Any],
    descs: list[Any], counts: list[int], masks: list[int], *, frame: Any, elements: Callable[[], list[Any]],
    suspects: list[int] | None = None, overlapping: dict[int, int] | None = None, repeats: bool | None = None,
) -> Iterator[Diagnostic]:
    """The lints, on the parts of a caption they read (the one implementation behind :func:`lint`).

    ``hld``/``lighting``/``medium``: the values or ``None`` when absent; ``photo``: whether the style
    has a ``photo`` key; per element its type, bbox, text and desc (``None`` when absent);
    ``counts``/``masks``: word counts and trigger bits of ``hld``, ``lighting`` and each desc, in that
    order (as ``prose_facts`` gives them; 0 for a value that is not a string); ``elements``: hands
    back the element dicts, asked only when two descs are equal (CK608 compares whole elements).
    ``suspects`` (the elements a check may fire on, a superset, as the C accelerator's
    ``caption_facts`` finds them), ``overlapping`` (text element -> the first earlier text element
    its box overlaps) and ``repeats`` (whether two descs are equal), when known, spare the loop over
    the other elements; then only the suspects' boxes, texts and descs are read.
    """
    if isinstance(hld, str):
        path = ("high_level_description",)
        n = counts[0]
        if n > SUMMARY_MAX_WORDS:
            yield _d("CK601", path, f"high_level_description has {n} words (at most {SUMMARY_MAX_WORDS})")
        if masks[0] & (_HEDGE_BITS | _ALTERNATIVE_BITS):
            yield from _hedges(hld, path, "high_level_description", masks[0], allow_various=True)
        for m in _MOOD.finditer(hld) if masks[0] & _MOOD_BITS else ():
            yield _d("CK604", path, f"impression word '{m.group(1)}'; describe what is seen")
            break
    if (
        isinstance(lighting, str) and masks[1] & _WARM_BITS
        and _WARM.search(lighting) and not _LIGHT_SOURCES.search(lighting)
    ):
        yield _d("CK605", ("style_description", "lighting"),
                 "'warm' light with no named source; say where the light comes from")
    if photo and isinstance(medium, str) and not _PHOTO_MEDIA.search(medium):
        yield _d("CK612", ("style_description", "medium"),
                 f"photo style with medium '{medium}'; photo captions pair with 'photograph'")
    width_height = frame_size(frame)
    # Most elements draw no lint: a desc of a usual length with no trigger word, no repeated desc,
    # no frame to check, and for text, no line of it in the desc and no overlapping text box. Only
    # the others go through the checks below.
    if repeats is None:
        try:
            repeats = len(set(descs)) != len(descs)
        except TypeError:  # a desc that is not hashable (the official checks let any value through)
            repeats = True
    elems = elements() if repeats else ()
    seen: dict[str, list[int]] = {}  # desc -> indices of the elements not repeating another
    if overlapping is None:
        overlapping = _overlapping_text(kinds, boxes)
    if suspects is not None and not repeats and not width_height:
        indices: Any = suspects  # every other element is quiet (the skip test below holds for it)
    else:
        indices = range(len(kinds))
        suspects = None
    for i in indices:
        kind = kinds[i]
        n = counts[i + 2]
        mask = masks[i + 2]
        if (
            suspects is None and DESC_MIN_WORDS <= n <= DESC_MAX_WORDS and not mask & _PHRASE_BITS and not repeats
            and not width_height and kind != "text"
            and not (kind == "obj" and mask & _SHELL_BITS and _SHELL.match(descs[i]))
        ):
            continue
        base = ("compositional_deconstruction", "elements", i)
        desc = descs[i]
        if isinstance(desc, str):
            if n < DESC_MIN_WORDS or n > DESC_MAX_WORDS:
                yield _d("CK602", (*base, "desc"),
                         f"desc has {n} words (aim for {DESC_MIN_WORDS}-{DESC_MAX_WORDS})")
            if mask & _PHRASE_BITS:
                yield from _hedges(desc, (*base, "desc"), "desc", mask)
                for m in _MOOD.finditer(desc) if mask & _MOOD_BITS else ():
                    yield _d("CK604", (*base, "desc"), f"impression word '{m.group(1)}'; describe what is seen")
                    break
                cam = _CAMERA.search(desc) if mask & _CAMERA_BITS else None
                if cam:
                    yield _d("CK606", (*base, "desc"),
                             f"'{cam.group(1)}' in an element; camera and shadow language belongs in style_description")
            if kind == "obj" and mask & _SHELL_BITS and _SHELL.match(desc):
                yield _d("CK611", (*base, "desc"),
                         "the scene shell (sky, ground, floor, walls) belongs in background, not in elements")
        if kind == "text":
            text = texts[i]
            if isinstance(text, str) and isinstance(desc, str):
                folded = None  # desc.casefold(), made when a line can be in it
                for line in (s.strip() for s in text.split("\n")):
                    if len(line) < 3:
                        continue
                    wanted = line.casefold()
                    if not wanted.isascii() and desc.isascii():
                        continue  # (a casefolded ASCII desc is ASCII: it cannot hold this line)
                    if folded is None:
                        folded = desc.casefold()
                    if wanted in folded:
                        yield _d("CK607", (*base, "desc"),
                                 f"desc repeats the literal text '{line}'; describe the lettering instead")
                        break
        if repeats:
            # Repeats are rare: group by desc first, and make the exact key only inside a group.
            group = seen.setdefault(desc if isinstance(desc, str) else repr(desc), [])
            key = _element_key(elems[i]) if group else None
            earlier = next((j for j in group if _element_key(elems[j]) == key), None)
            if earlier is not None:
                yield _d("CK608", base, f"element {i} repeats element {earlier}")
            else:
                group.append(i)
        bbox = boxes[i]
        if isinstance(bbox, list):
            if kind == "text" and i in overlapping:
                yield _d("CK609", (*base, "bbox"), f"text box overlaps the text box of element {overlapping[i]}")
            # the desc leads with identity, so only a shape word among its first words names the object's shape
            lead = " ".join(desc.split()[:4]) if width_height and isinstance(desc, str) else ""
            if width_height and kind == "obj" and _SQUARE_WORDS.search(lead):
                w, h = width_height
                px_w = (bbox[3] - bbox[1]) * w / 1000
                px_h = (bbox[2] - bbox[0]) * h / 1000
                if px_w > 0 and px_h > 0 and not (0.85 <= px_w / px_h <= 1 / 0.85):
                    yield _d("CK610", (*base, "bbox"),
                             f"'{_SQUARE_WORDS.search(lead).group(1)}' object drawn in a "  # type: ignore[union-attr]
                             f"{px_w:.0f}x{px_h:.0f} px box on {w}x{h}; make it square in pixels")
