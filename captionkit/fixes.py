"""Repairs: from what people and LLMs write to a canonical, verified caption.

:func:`fix` takes raw text, parsed data or a model and returns a
:class:`FixResult` with the repaired caption and a record of **every** change.
Safe fixes change form, never meaning, and always run: extracting the JSON
object from fences or prose, unwrapping double-encoded JSON, reading trailing
commas, single quotes and Python's ``True``/``False``/``None`` (token by token:
the inside of a string is never edited), canonical key order, uppercase and
expanded hex, integral floats and booleans in boxes, removing a colour a
palette repeats (the one removal a safe fix makes), and canonical
re-serialisation (literal non-ASCII). Unsafe fixes run only with
``unsafe=True``: clamping and swapping box edges, truncating palettes, alias
keys, colour names, invented element types, keeping the last value of a
repeated key, dropping foreign keys such as ``aspect_ratio`` (their values are
kept in ``FixResult.metadata``). Box conventions are converted only when the
caller names the source (``box_format``). Nothing is ever invented: a missing
``desc`` stays an error.

A fix either accounts for the whole input or is refused: ``FixResult.problem``
says why in one line and there is no ``text`` to write. That happens when the
text holds no complete JSON object (a smaller object inside it is never taken
for the whole), when an object repeats a key (in safe mode: keeping one value
is a choice), and for values JSON cannot hold. Before a result whose changes
are all safe is handed out, its text is parsed back and compared with the input
piece by piece; any difference refuses the fix.

>>> result = fix('Here you go: ```json\\n{"compositional_deconstruction":{"elements":[],"background":"A wall."}}\\n```')
>>> result.text
'{"compositional_deconstruction":{"background":"A wall.","elements":[]}}'
>>> [c.code for c in result.changes]
['CK005', 'CK203']
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from captionkit import _walk, boxes
from captionkit._frames import frame_size
from captionkit._json import (
    Duplicate,
    Parsed,
    canonical_order,
    dumps,
    is_stored_canonical,
    parse_exact,
)
from captionkit._extract import _STRIPPED, LENIENT, _find, _Refused, extract_json
from captionkit.diagnostics import CaptionError, Fix, Report, pointer
from captionkit.models import Caption
from captionkit.palette import to_hex
from captionkit.rules import RULES
from captionkit.verifier import verify

__all__ = ["BoxFormat", "Change", "FixResult", "extract_json", "fix"]

BoxFormat = str
"""A box convention name (see :mod:`captionkit.boxes`): ``auto``, ``ORDER-SCALE`` such as
``xyxy-pixels``, a bare order (``xyxy``: pixels with a frame, else 0-1000), ``pixels`` or ``unit``."""

_STYLE_ALIASES = {"colour_palette": "color_palette", "palette": "color_palette", "camera": "photo",
                  "style": "art_style", "colors": "color_palette", "colours": "color_palette"}
_CD_ALIASES = {"element": "elements", "scene": "background", "objects": "elements"}
_ELEMENT_ALIASES = {"description": "desc", "colour_palette": "color_palette",
                    "palette": "color_palette", "box": "bbox", "content": "text", "label": "desc"}
_ROOT_KEY_ALIASES = {"high_level": "high_level_description", "summary": "high_level_description",
                     "style": "style_description", "composition": "compositional_deconstruction"}
_WRAPPERS = ("prompt", "caption", "json_prompt", "json")


@dataclass(frozen=True, slots=True)
class Change:
    """One change a fix made, built from the entry in :data:`~captionkit.rules.RULES` of the code it addresses.

    The rule decides the change's applicability (``safe`` or ``unsafe``, as in
    ruff): a code that is not in ``RULES``, or names no fix there, fails at once.
    ``applicability`` is named only for a rule with both a safe and an unsafe fix,
    and must be one the rule has.

    Attributes:
        code: The rule the change addresses (``CK203``).
        message: What was done, in one line.
        path: Where, as a tuple (shown as a JSON Pointer).
        applicability: ``"safe"`` or ``"unsafe"``, the applied fix's, from the rule.

    >>> Change("CK203", "put background before elements", ("compositional_deconstruction",)).applicability
    'safe'
    >>> Change("CK312", "converted colour 'navy' to '#000080'", applicability="unsafe").safe
    False
    >>> Change("E501", "shortened a line")
    Traceback (most recent call last):
    ...
    ValueError: unknown rule code 'E501': a change must address a rule in captionkit.rules.RULES
    """

    code: str
    message: str
    path: tuple[Any, ...] = ()
    applicability: str | None = None

    def __post_init__(self) -> None:
        entry = RULES.get(self.code) if isinstance(self.code, str) else None
        if entry is None:
            raise ValueError(f"unknown rule code {self.code!r}: a change must address a rule in captionkit.rules.RULES")
        if not isinstance(self.path, tuple):
            raise TypeError(f"path must be a tuple, got {type(self.path).__name__}")
        object.__setattr__(self, "applicability", entry.fix_for(self.applicability).applicability)

    @property
    def fix(self) -> Fix:
        """The rule's fix that this change applied."""
        return RULES[self.code].fix_for(self.applicability)

    @property
    def safe(self) -> bool:
        """True when the change cannot alter meaning (its rule's fix is safe)."""
        return self.applicability == "safe"

    def __str__(self) -> str:
        message = self.message if self.message.isprintable() else repr(self.message)[1:-1]
        return f"{_place(self.path)}: {self.code} [{self.applicability}] {message}"


@dataclass(frozen=True)
class FixResult:
    """What :func:`fix` produced.

    Attributes:
        text: canonical JSON of the repaired caption, or ``None`` when no JSON could be found.
        data: the repaired data (canonical key order), or ``None``.
        caption: the typed caption when the result is valid, else ``None``.
        changes: every change made, in order.
        report: diagnostics that remain after fixing (of the input itself when the fix was refused).
        metadata: values moved out of the caption (``aspect_ratio``, foreign keys, dropped colours,
            the earlier values of repeated keys).
        problem: why the fix was refused, in one line, or ``None``. A refused fix has no
            ``text``, ``data`` or ``changes``: the input cannot be repaired without losing or
            guessing content (no complete JSON object, repeated keys in safe mode, values JSON
            cannot hold), and it must be left as it is.
    """

    text: str | None
    data: Any
    caption: Caption | None
    changes: list[Change]
    report: Report
    metadata: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """True when the repaired caption passes the official checks."""
        return self.text is not None and self.report.ok

    @property
    def changed(self) -> bool:
        return bool(self.changes)


_HEX3 = re.compile(r"^#?([0-9a-fA-F]{3})$")
_HEX6 = re.compile(r"^#?([0-9a-fA-F]{6})$")


def _normalize_hex(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    v = value.strip()
    m = _HEX6.match(v)
    if m and v.startswith("#"):
        return "#" + m.group(1).upper()
    m = _HEX3.match(v)
    if m and v.startswith("#"):
        return "#" + "".join(c * 2 for c in m.group(1)).upper()
    return None


def _color_name(value: Any) -> str | None:
    """A colour name or another notation as hex (an unsafe fix: a choice is made)."""
    if not isinstance(value, str):
        return None
    try:
        return to_hex(value)
    except ValueError:
        return None

def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _Fixer:
    def __init__(self, unsafe: bool, box_format: str | None, frame: Any) -> None:
        self.unsafe = unsafe
        self.frame = frame_size(frame)
        # the declared convention, parsed once; "auto" is resolved over every box (resolve_boxes)
        self.box_format: Any = None if box_format is None else boxes.parse_convention(box_format, frame=self.frame)
        self.changes: list[Change] = []
        self.metadata: dict[str, Any] = {}

    def resolve_boxes(self, data: Any) -> None:
        """Turn ``auto`` into the one convention every box of the caption fits (or refuse)."""
        if self.box_format != "auto":
            return
        cd = data.get("compositional_deconstruction") if isinstance(data, dict) else None
        elements = cd.get("elements") if isinstance(cd, dict) else None
        found = [e["bbox"] for e in elements or () if isinstance(e, dict) and isinstance(e.get("bbox"), list)]
        self.box_format = boxes.detect(found, frame=self.frame)
        self.note("CK302", f"detected the box convention {self.box_format.describe(self.frame)}, "
                           "the only one every box fits", (), "unsafe")

    def note(self, code: str, message: str, path: tuple[Any, ...] = (), applicability: str | None = None) -> None:
        # the rule decides the applicability; it is named only where the rule has a safe and an unsafe fix
        self.changes.append(Change(code, message, path, applicability))

    def duplicates(self, found: tuple[Duplicate, ...]) -> None:
        # json.loads already kept the last value; what this records is the choice
        dropped = self.metadata.setdefault("dropped_duplicates", {})
        for d in found:
            where = (*d.path, d.key)
            dropped[pointer(where)] = list(d.dropped)
            earlier = ", ".join(_short(v) for v in d.dropped)
            self.note("CK407", f"kept the last of {len(d.dropped) + 1} values of '{d.key}' (as json.loads does), "
                      f"dropping {earlier} (kept in metadata)", where)

    # -- keys
    def _rename(self, obj: dict[str, Any], aliases: dict[str, str | None], path: tuple[Any, ...],
                code: str) -> dict[str, Any]:
        if not self.unsafe or not any(k in aliases for k in obj):
            return obj
        out: dict[str, Any] = {}
        for k, v in obj.items():
            target = aliases.get(k)
            if target is not None and target not in obj and target not in out:
                self.note(code, f"renamed '{k}' to '{target}'", (*path, k))
                out[target] = v
            else:
                out[k] = v
        return out

    def _drop_foreign(self, obj: dict[str, Any], known: frozenset[str], path: tuple[Any, ...],
                      code: str) -> dict[str, Any]:
        if not self.unsafe:
            return obj
        foreign = [k for k in obj if k not in known]
        if not foreign:
            return obj
        for k in foreign:
            key = k if not path else "/".join(map(str, (*path, k)))
            self.metadata[key] = obj[k]
            self.note(code, f"moved '{k}' out of the caption into metadata", (*path, k))
        return {k: v for k, v in obj.items() if k in known}

    # -- palette
    def palette(self, palette: Any, path: tuple[Any, ...], limit: int) -> Any:
        if isinstance(palette, str) and self.unsafe:
            parts = [p for p in re.split(r"[,\s]+", palette) if p]
            self.note("CK310", "split a palette string into a list", path)
            palette = parts
        if not isinstance(palette, list):
            return palette
        out: list[Any] = []
        for j, c in enumerate(palette):
            if _walk.is_hex_color(c):
                out.append(c)
                continue
            fixed = _normalize_hex(c)
            if fixed is not None:
                self.note("CK312", f"normalised colour '{c}' to '{fixed}'", (*path, j), "safe")
                out.append(fixed)
                continue
            if self.unsafe:
                named = _color_name(c)
                if named is not None:
                    self.note("CK312", f"converted colour '{c}' to '{named}'", (*path, j), "unsafe")
                    out.append(named)
                    continue
                self.note("CK312", f"dropped colour {c!r}, which is not a colour", (*path, j), "unsafe")
                self.metadata.setdefault("dropped_colors", []).append(c)
                continue
            out.append(c)
        deduped: list[Any] = []
        for c in out:
            if isinstance(c, str) and c in deduped:
                self.note("CK405", f"removed repeated colour '{c}'", path)
                continue
            deduped.append(c)
        if len(deduped) > limit and self.unsafe:
            dropped = deduped[limit:]
            self.metadata.setdefault("dropped_colors", []).extend(dropped)
            self.note("CK311", f"truncated the palette to {limit} colours, dropping {', '.join(map(str, dropped))}",
                      path)
            deduped = deduped[:limit]
        return deduped

    # -- bbox
    def bbox(self, bbox: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(bbox, dict) and self.unsafe:
            keys = ("y_min", "x_min", "y_max", "x_max")
            alt = ("top", "left", "bottom", "right")
            for names in (keys, alt, ("ymin", "xmin", "ymax", "xmax")):
                if all(n in bbox for n in names):
                    self.note("CK301", f"rebuilt the bbox list from keys {', '.join(names)}", path)
                    bbox = [bbox[n] for n in names]
                    break
        if not isinstance(bbox, list) or len(bbox) != 4:
            return bbox
        if not all(isinstance(v, (int, float)) for v in bbox):
            return bbox
        fmt = self.box_format
        if fmt is None and self.unsafe and all(isinstance(v, float) and not isinstance(v, bool) and 0 <= v <= 1 for v in bbox) \
                and not all(float(v).is_integer() for v in bbox):
            fmt = boxes.BoxConvention("yxyx", "unit")
            try:
                boxes.convert(bbox, fmt, frame=self.frame)
            except boxes.BoxConventionError:
                return bbox  # a guess this box does not fit (reversed edges): left for a person, never raised
            self.note("CK302", "detected unit floats in the bbox (every value in 0-1)", path, "unsafe")
        if fmt is not None and fmt.name != "yxyx-1000":
            bbox = self._convert(bbox, fmt, path)
        if any(isinstance(v, bool) for v in bbox):
            bbox = [int(v) if isinstance(v, bool) else v for v in bbox]
            self.note("CK403", "converted booleans in the bbox to integers", path)
        if any(isinstance(v, float) for v in bbox):
            # only floats are asked: float() of an int beyond 1e308 overflows
            if all(not isinstance(v, float) or (math.isfinite(v) and v.is_integer()) for v in bbox):
                bbox = [int(v) for v in bbox]
                self.note("CK302", "converted integral floats in the bbox to integers", path, "safe")
            else:
                return bbox
        if self.unsafe:
            clamped = [min(1000, max(0, v)) for v in bbox]
            if clamped != bbox:
                self.note("CK303", f"clamped bbox {bbox} to {clamped}", path)
                bbox = clamped
            y0, x0, y1, x1 = bbox
            if y0 > y1:
                y0, y1 = y1, y0
                self.note("CK304", "swapped reversed y edges", path)
            if x0 > x1:
                x0, x1 = x1, x0
                self.note("CK305", "swapped reversed x edges", path)
            bbox = [y0, x0, y1, x1]
        return bbox

    def _convert(self, bbox: list[Any], fmt: Any, path: tuple[Any, ...]) -> list[Any]:
        # exact, one rounding rule, refusals with the box and the reason: captionkit.boxes
        out = boxes.convert(bbox, fmt, frame=self.frame)
        self.note("CK302", f"converted the bbox from {fmt.describe(self.frame)} {bbox} to {out}", path, "unsafe")
        return out

    # -- elements
    def element(self, elem: Any, i: int) -> Any:
        path = ("compositional_deconstruction", "elements", i)
        if isinstance(elem, list) and len(elem) == 2 and self.unsafe and isinstance(elem[1], str) \
                and isinstance(elem[0], list):
            self.note("CK130", "rebuilt a [bbox, label] pair as an obj element", path)
            elem = {"type": "obj", "bbox": elem[0], "desc": elem[1]}
        if not isinstance(elem, dict):
            return elem
        elem = self._rename(elem, _ELEMENT_ALIASES, path, "CK131")
        etype = elem.get("type")
        if self.unsafe and "type" in elem and etype not in ("obj", "text"):
            new = "text" if "text" in elem else "obj"
            self.note("CK133", f"mapped element type {etype!r} to '{new}'", (*path, "type"))
            elem = {**elem, "type": new}
        elem = self._drop_foreign(elem, _walk.ELEMENT_KNOWN_KEYS, path, "CK131")
        if "bbox" in elem:
            elem = {**elem, "bbox": self.bbox(elem["bbox"], (*path, "bbox"))}
        if "color_palette" in elem:
            elem = {**elem, "color_palette": self.palette(elem["color_palette"], (*path, "color_palette"),
                                                           _walk.ELEMENT_PALETTE_MAX)}
        if self.unsafe and elem.get("type") == "obj" and "text" in elem:
            self.metadata[f"elements/{i}/text"] = elem["text"]
            self.note("CK206", "moved 'text' out of an obj element into metadata", (*path, "text"))
            elem = {k: v for k, v in elem.items() if k != "text"}
        return elem

    # -- whole caption
    def caption(self, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        if self.unsafe and "compositional_deconstruction" not in data:
            for w in _WRAPPERS:
                if isinstance(data.get(w), dict) and "compositional_deconstruction" in data[w]:
                    rest = {k: v for k, v in data.items() if k != w}
                    self.metadata.update(rest)
                    self.note("CK104", f"unwrapped the caption from the '{w}' key", (w,))
                    data = data[w]
                    break
        data = self._rename(data, _ROOT_KEY_ALIASES, (), "CK102")
        data = self._drop_foreign(data, _walk.TOP_LEVEL_KNOWN_KEYS, (), "CK102")
        sd = data.get("style_description")
        if isinstance(sd, dict):
            sd = self._rename(sd, _STYLE_ALIASES, ("style_description",), "CK111")
            sd = self._drop_foreign(sd, _walk.STYLE_KNOWN_KEYS, ("style_description",), "CK111")
            if "color_palette" in sd:
                sd = {**sd, "color_palette": self.palette(sd["color_palette"], ("style_description", "color_palette"),
                                                           _walk.STYLE_PALETTE_MAX)}
            data = {**data, "style_description": sd}
        cd = data.get("compositional_deconstruction")
        if isinstance(cd, dict):
            cd = self._rename(cd, _CD_ALIASES, ("compositional_deconstruction",), "CK204")
            cd = self._drop_foreign(cd, frozenset(_walk.COMPOSITION_KEY_ORDER), ("compositional_deconstruction",),
                                    "CK204")
            if isinstance(cd.get("elements"), list):
                cd = {**cd, "elements": [self.element(e, i) for i, e in enumerate(cd["elements"])]}
            data = {**data, "compositional_deconstruction": cd}
        ordered = canonical_order(data)
        self._note_reorders(data, ordered)
        return ordered

    def _note_reorders(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        if list(before) != list(after):
            self.note("CK207", "put root keys in canonical order")
        sd_b, sd_a = before.get("style_description"), after.get("style_description")
        if isinstance(sd_b, dict) and list(sd_b) != list(sd_a):
            self.note("CK201", "put style_description keys in canonical order", ("style_description",))
        cd_b, cd_a = before.get("compositional_deconstruction"), after.get("compositional_deconstruction")
        if isinstance(cd_b, dict):
            if list(cd_b) != list(cd_a):
                self.note("CK203", "put background before elements", ("compositional_deconstruction",))
            eb, ea = cd_b.get("elements"), cd_a.get("elements")
            if isinstance(eb, list):
                for i, (x, y) in enumerate(zip(eb, ea)):
                    if isinstance(x, dict) and list(x) != list(y):
                        self.note("CK205", "put element keys in canonical order",
                                  ("compositional_deconstruction", "elements", i))



def fix(
    source: str | bytes | dict[str, Any] | Caption,
    *,
    unsafe: bool = False,
    box_format: BoxFormat | None = None,
    frame: Any = None,
    verify_result: bool = True,
) -> FixResult:
    """Repair a caption and report every change.

    Args:
        source: raw text (an LLM reply, a file), parsed data, or a model.
        unsafe: also apply fixes that can change meaning (see module docs).
        box_format: declare the boxes' convention (see :mod:`captionkit.boxes`:
            ``xyxy-pixels``, ``xywh-unit``, a bare order, ``pixels``, ``unit`` or
            ``auto``); they are converted exactly to ``[y_min, x_min, y_max, x_max]``
            on 0-1000, and a box that cannot be in that convention raises
            :class:`~captionkit.boxes.BoxConventionError` naming it and the reason.
        frame: ``(width, height)``, ``"WxH"`` or a :class:`~captionkit.layout.Frame`,
            needed for pixel conventions (and a bare order then means pixels).
        verify_result: attach the remaining diagnostics (``FixResult.report``).

    Returns:
        The repaired caption and every change, or, when the input cannot be repaired
        without losing or guessing content, a result with ``text=None`` and a one-line
        ``problem``. Every input gets one or the other; nothing raises except a bad
        ``box_format``/``frame`` argument.

    >>> r = fix({"compositional_deconstruction": {"background": "b", "elements": [
    ...     {"desc": "A clock.", "type": "obj", "color_palette": ["#fff", "#FFFFFF"]}]}})
    >>> r.text
    '{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"A clock.","color_palette":["#FFFFFF"]}]}}'
    >>> fix('{"aspect_ratio":"16:9","compositional_deconstruction":{"background":"b","elements":[]}}', unsafe=True).metadata
    {'aspect_ratio': '16:9'}
    >>> fix('{"compositional_deconstruction":{"background":"a","background":"b","elements":[]}}').problem
    "CK407: key 'background' appears 2 times in /compositional_deconstruction; choosing a value could lose content, so nothing was changed (edit by hand; the unsafe fix, --unsafe-fixes or unsafe=True, keeps the last value as json.loads does)"
    """
    fixer = _Fixer(unsafe, box_format, frame)
    original_text: str | None = None
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            return _refused(f"not valid UTF-8 (byte {exc.start}: {exc.reason})", verify(source))
    try:
        if isinstance(source, str):
            original_text = source
            try:
                found = _find(source)
            except _Refused as exc:
                return _refused(str(exc), verify(source))
            data = found.parsed.value
            bom = source.lstrip().startswith("\ufeff")
            if bom:
                fixer.note("CK003", "removed the byte order mark")
            if found.how == LENIENT:
                fixer.note("CK002", _lenient_message(found.parsed))
            elif found.how != "parsed" and not (found.how == _STRIPPED and (bom or source.strip("\r\n") == source.strip())):
                fixer.note("CK005", found.how)
            if found.parsed.duplicates:
                if not unsafe:
                    return _refused(_duplicates_message(found.parsed.duplicates), verify(source))
                fixer.duplicates(found.parsed.duplicates)
        else:
            data = source.to_dict() if isinstance(source, Caption) else source
            problem = _not_json(data)
            if problem is not None:
                return _refused(problem, Report())
            data = copy.deepcopy(data)
        before = _content(data)
        fixer.resolve_boxes(data)
        data = fixer.caption(data)
        text = dumps(data)
        problem = _unwritable(data, text)
        if problem is None and all(c.safe for c in fixer.changes):
            # the promise of a safe fix, checked on what will be handed out: a change that
            # would lose or alter content is a bug, and the caller keeps their input
            problem = _content_difference(before, _content(parse_exact(text)))
        if problem is not None:
            return _refused(problem, verify(original_text) if original_text is not None else Report())
    except RecursionError:
        return _refused("nested too deeply to repair", Report())
    if original_text is not None and not fixer.changes and not is_stored_canonical(original_text, text):
        if "\\u" in original_text and original_text.isascii() and not text.isascii():
            fixer.note("CK001", "re-serialised with literal non-ASCII characters")
        else:
            fixer.note("CK408", "re-serialised canonically")
    report = verify(text) if verify_result else Report()
    caption: Caption | None = None
    if report.ok:
        try:
            caption = Caption.from_dict(data, report=report)
        except CaptionError:
            caption = None
    return FixResult(text, data, caption, fixer.changes, report, fixer.metadata)


def _place(path: tuple[Any, ...]) -> str:
    """A path as a JSON Pointer on one line: characters that print badly are escaped."""
    text = pointer(path) or "/"
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
    return text if len(text) <= 120 else text[:50] + "…" + text[-60:]


def _refused(problem: str, report: Report) -> FixResult:
    return FixResult(None, None, None, [], report, {}, problem)


def _lenient_message(parsed: Parsed) -> str:
    return f"re-parsed leniently ({', '.join(parsed.tolerated)})"


def _duplicates_message(duplicates: tuple[Duplicate, ...]) -> str:
    first = duplicates[0]
    more = f" (and {len(duplicates) - 1} more repeated key(s))" if len(duplicates) > 1 else ""
    return (f"CK407: key {first.key!r} appears {len(first.dropped) + 1} times in {_place(first.path)}"
            f"{more}; choosing a value could lose content, so nothing was changed (edit by hand; the "
            "unsafe fix, --unsafe-fixes or unsafe=True, keeps the last value as json.loads does)")


_JSON_SCALARS = (str, int, float, type(None))  # bool is an int


def _not_json(data: Any) -> str | None:
    """Why ``data`` is not a JSON value (naming the place), or ``None``."""
    open_: set[int] = set()  # the containers on the way down to the current node
    stack: list[tuple[tuple[Any, ...], Any, bool]] = [((), data, False)]
    while stack:
        path, node, leaving = stack.pop()
        if leaving:
            open_.discard(id(node))
            continue
        if isinstance(node, (dict, list)):
            if id(node) in open_:
                return f"the data contains itself at {_place(path)}, which JSON cannot represent"
            open_.add(id(node))
            stack.append((path, node, True))
            if isinstance(node, list):
                stack.extend(((*path, i), v, False) for i, v in enumerate(node))
                continue
            for k, v in node.items():
                if not isinstance(k, str):
                    return f"the data holds a {type(k).__name__} key at {_place(path)}, which JSON cannot represent"
                stack.append(((*path, k), v, False))
        elif not isinstance(node, _JSON_SCALARS):
            return f"the data holds a {type(node).__name__} at {_place(path)}, which JSON cannot represent"
    return None


def _unwritable(data: Any, text: str) -> str | None:
    """Why ``text`` cannot be stored as UTF-8 (a lone surrogate, with its place), or ``None``."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return None
    stack: list[tuple[tuple[Any, ...], Any]] = [((), data)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
            bad = next((k for k in node if not _encodable(k)), None)
            if bad is not None:
                return f"a key in {_place(path)} holds a lone surrogate, which UTF-8 cannot store"
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
        elif isinstance(node, str) and not _encodable(node):
            return f"{_place(path)} holds a lone surrogate, which UTF-8 cannot store"
    return "the text holds a lone surrogate, which UTF-8 cannot store"


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------- the content guard

_NAN = ("nan",)


def _atom(value: Any, in_box: bool) -> Any:
    if isinstance(value, bool) and not in_box:
        return ("bool", value)
    if isinstance(value, (int, float)):
        return _NAN if value != value else ("num", value)  # 1 == 1.0 == True: form, not content
    if isinstance(value, str):
        return ("str", value)
    return ("null",)


def _palette_atom(item: Any) -> Any:
    if isinstance(item, str):
        return ("colour", _normalize_hex(item) or item)
    if isinstance(item, (dict, list)):
        return ("json", json.dumps(item, sort_keys=True))
    return _atom(item, False)


def _content(value: Any) -> dict[tuple[Any, ...], Any]:
    """Every piece of content by its place: what a safe fix must keep.

    Objects count by their set of keys (order is form), lists by length, scalars by value
    (``100.0`` is ``100`` in a bbox). A palette counts as the set of its colours, hex
    normalised: removing a repeated colour is the one documented safe removal.
    """
    out: dict[tuple[Any, ...], Any] = {}
    stack: list[tuple[tuple[Any, ...], Any]] = [((), value)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            out[path] = ("object", frozenset(node))
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            if path and path[-1] == "color_palette":
                out[path] = ("palette", frozenset(_palette_atom(c) for c in node))
                continue
            out[path] = ("array", len(node))
            in_box = bool(path) and path[-1] == "bbox"
            for i, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    stack.append(((*path, i), v))
                else:
                    out[(*path, i)] = _atom(v, in_box)
        else:
            out[path] = _atom(node, False)
    return out


def _content_difference(before: dict[tuple[Any, ...], Any], after: dict[tuple[Any, ...], Any]) -> str | None:
    if before == after:
        return None
    place = next((p for p in sorted(before.keys() | after.keys(), key=repr) if before.get(p) != after.get(p)), ())
    return (f"internal check failed: the safe fixes would change the content at {_place(place)}, "
            "so nothing was changed (please report this)")
