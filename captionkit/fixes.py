"""Repairs: from what people and LLMs write to a canonical, verified caption.

:func:`fix` takes raw text, parsed data or a model and returns a
:class:`FixResult` with the repaired caption and a record of **every** change.
Safe fixes change form, never meaning, and always run: extracting the JSON
object from fences or prose, unwrapping double-encoded JSON, canonical key
order, uppercase and expanded hex, integral floats and booleans in boxes, and
canonical re-serialisation (literal non-ASCII). Unsafe fixes run only with
``unsafe=True``: clamping and swapping box edges, truncating palettes, alias
keys, colour names, invented element types, dropping foreign keys such as
``aspect_ratio`` (their values are kept in ``FixResult.metadata``). Box
conventions are converted only when the caller names the source
(``box_format``). Nothing is ever invented: a missing ``desc`` stays an error.

>>> result = fix('Here you go: ```json\\n{"compositional_deconstruction":{"elements":[],"background":"A wall."}}\\n```')
>>> result.text
'{"compositional_deconstruction":{"background":"A wall.","elements":[]}}'
>>> [c.code for c in result.changes]
['CK005', 'CK203']
"""

from __future__ import annotations

import ast
import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from captionkit import _walk, boxes
from captionkit._frames import frame_size
from captionkit._json import canonical_order, dumps, is_stored_canonical
from captionkit.diagnostics import CaptionError, Report
from captionkit.models import Caption

__all__ = ["BoxFormat", "Change", "FixResult", "extract_json", "fix"]

BoxFormat = str
"""A box convention name (see :mod:`captionkit.boxes`): ``auto``, ``ORDER-SCALE`` such as
``xyxy-pixels``, a bare order (``xyxy``: pixels with a frame, else 0-1000), ``pixels`` or ``unit``."""

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\r?\n?(.*?)```", re.DOTALL)
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
    """One change a fix made. ``code`` is the diagnostic it addresses."""

    code: str
    message: str
    safe: bool = True
    path: tuple[Any, ...] = ()

    def __str__(self) -> str:
        kind = "safe" if self.safe else "unsafe"
        where = "".join(f"/{p}" for p in self.path) or "/"
        return f"{where}: {self.code} [{kind}] {self.message}"


@dataclass(frozen=True)
class FixResult:
    """What :func:`fix` produced.

    Attributes:
        text: canonical JSON of the repaired caption, or ``None`` when no JSON could be found.
        data: the repaired data (canonical key order), or ``None``.
        caption: the typed caption when the result is valid, else ``None``.
        changes: every change made, in order.
        report: diagnostics that remain after fixing.
        metadata: values moved out of the caption (``aspect_ratio``, foreign keys, dropped colours).
    """

    text: str | None
    data: Any
    caption: Caption | None
    changes: list[Change]
    report: Report
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the repaired caption passes the official checks."""
        return self.text is not None and self.report.ok

    @property
    def changed(self) -> bool:
        return bool(self.changes)


# --------------------------------------------------------------------------- extraction


def _try_json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):
        return False, None


def _first_object(text: str) -> Any:
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            start = text.find("{", start + 1)
            continue
        if isinstance(value, dict):
            return value
        start = text.find("{", start + 1)
    return None


LENIENT = "re-parsed leniently (trailing commas or single quotes)"
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _lenient(text: str) -> Any:
    # Trailing commas, then Python-literal style (single quotes, True/None).
    cleaned = _TRAILING_COMMA.sub(r"\1", text)
    ok, value = _try_json(cleaned)
    if ok and isinstance(value, dict):
        return value
    try:
        value = ast.literal_eval(cleaned)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def extract_json(text: str) -> tuple[Any, str] | None:
    """Find the caption object in LLM-style text. Returns ``(value, how)`` or ``None``.

    Handles code fences, prose or trigger words around the object, JSON encoded
    as a JSON string, and (reported as lenient) trailing commas and single quotes.

    >>> extract_json('Sure! {"a": 1} Hope it helps.')
    ({'a': 1}, 'extracted the JSON object from surrounding text')
    >>> extract_json('"{\\\\"a\\\\":1}"')
    ({'a': 1}, 'decoded JSON that was encoded as a JSON string')
    >>> extract_json('no json here') is None
    True
    """
    stripped = text.strip().lstrip("\ufeff")
    ok, value = _try_json(stripped)
    if ok:
        if isinstance(value, str):
            inner = extract_json(value)
            if inner is not None and isinstance(inner[0], dict):
                return inner[0], "decoded JSON that was encoded as a JSON string"
            return None
        if stripped != text:
            return value, "removed a byte order mark or surrounding whitespace"
        return value, "parsed"
    for m in _FENCE.finditer(text):
        body = m.group(1).strip()
        ok, value = _try_json(body)
        if ok and isinstance(value, dict):
            return value, "extracted the JSON object from a code fence"
        if ok and isinstance(value, str):
            inner = extract_json(value)
            if inner is not None:
                return inner[0], "decoded JSON that was encoded as a JSON string"
    value = _first_object(text)
    if value is not None:
        return value, "extracted the JSON object from surrounding text"
    for candidate in [m.group(1) for m in _FENCE.finditer(text)] + [text]:
        start, end = candidate.find("{"), candidate.rfind("}")
        if start != -1 and end > start:
            value = _lenient(candidate[start : end + 1])
            if value is not None:
                return value, LENIENT
    return None


# --------------------------------------------------------------------------- value fixes

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
    from captionkit.palette import to_hex

    try:
        return to_hex(value)
    except ValueError:
        return None

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
                           "the only one every box fits", False)

    def note(self, code: str, message: str, safe: bool = True, path: tuple[Any, ...] = ()) -> None:
        self.changes.append(Change(code, message, safe, path))

    # -- keys
    def _rename(self, obj: dict[str, Any], aliases: dict[str, str | None], path: tuple[Any, ...],
                code: str) -> dict[str, Any]:
        if not self.unsafe or not any(k in aliases for k in obj):
            return obj
        out: dict[str, Any] = {}
        for k, v in obj.items():
            target = aliases.get(k)
            if target is not None and target not in obj and target not in out:
                self.note(code, f"renamed '{k}' to '{target}'", False, (*path, k))
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
            self.note(code, f"moved '{k}' out of the caption into metadata", False, (*path, k))
        return {k: v for k, v in obj.items() if k in known}

    # -- palette
    def palette(self, palette: Any, path: tuple[Any, ...], limit: int) -> Any:
        if isinstance(palette, str) and self.unsafe:
            parts = [p for p in re.split(r"[,\s]+", palette) if p]
            self.note("CK310", "split a palette string into a list", False, path)
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
                self.note("CK312", f"normalised colour '{c}' to '{fixed}'", True, (*path, j))
                out.append(fixed)
                continue
            if self.unsafe:
                named = _color_name(c)
                if named is not None:
                    self.note("CK312", f"converted colour '{c}' to '{named}'", False, (*path, j))
                    out.append(named)
                    continue
                self.note("CK312", f"dropped colour {c!r}, which is not a colour", False, (*path, j))
                self.metadata.setdefault("dropped_colors", []).append(c)
                continue
            out.append(c)
        deduped: list[Any] = []
        for c in out:
            if isinstance(c, str) and c in deduped:
                self.note("CK405", f"removed repeated colour '{c}'", True, path)
                continue
            deduped.append(c)
        if len(deduped) > limit and self.unsafe:
            dropped = deduped[limit:]
            self.metadata.setdefault("dropped_colors", []).extend(dropped)
            self.note("CK311", f"truncated the palette to {limit} colours, dropping {', '.join(map(str, dropped))}",
                      False, path)
            deduped = deduped[:limit]
        return deduped

    # -- bbox
    def bbox(self, bbox: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(bbox, dict) and self.unsafe:
            keys = ("y_min", "x_min", "y_max", "x_max")
            alt = ("top", "left", "bottom", "right")
            for names in (keys, alt, ("ymin", "xmin", "ymax", "xmax")):
                if all(n in bbox for n in names):
                    self.note("CK301", f"rebuilt the bbox list from keys {', '.join(names)}", False, path)
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
            self.note("CK302", "detected unit floats in the bbox (every value in 0-1)", False, path)
        if fmt is not None and fmt.name != "yxyx-1000":
            bbox = self._convert(bbox, fmt, path)
        if any(isinstance(v, bool) for v in bbox):
            bbox = [int(v) for v in bbox]
            self.note("CK403", "converted booleans in the bbox to integers", True, path)
        if any(isinstance(v, float) for v in bbox):
            if all(v == v and v not in (float("inf"), float("-inf")) and float(v).is_integer() for v in bbox):
                bbox = [int(v) for v in bbox]
                self.note("CK302", "converted integral floats in the bbox to integers", True, path)
            else:
                return bbox
        if self.unsafe:
            clamped = [min(1000, max(0, v)) for v in bbox]
            if clamped != bbox:
                self.note("CK303", f"clamped bbox {bbox} to {clamped}", False, path)
                bbox = clamped
            y0, x0, y1, x1 = bbox
            if y0 > y1:
                y0, y1 = y1, y0
                self.note("CK304", "swapped reversed y edges", False, path)
            if x0 > x1:
                x0, x1 = x1, x0
                self.note("CK305", "swapped reversed x edges", False, path)
            bbox = [y0, x0, y1, x1]
        return bbox

    def _convert(self, bbox: list[Any], fmt: Any, path: tuple[Any, ...]) -> list[Any]:
        # exact, one rounding rule, refusals with the box and the reason: captionkit.boxes
        out = boxes.convert(bbox, fmt, frame=self.frame)
        self.note("CK302", f"converted the bbox from {fmt.describe(self.frame)} {bbox} to {out}", False, path)
        return out

    # -- elements
    def element(self, elem: Any, i: int) -> Any:
        path = ("compositional_deconstruction", "elements", i)
        if isinstance(elem, list) and len(elem) == 2 and self.unsafe and isinstance(elem[1], str) \
                and isinstance(elem[0], list):
            self.note("CK130", "rebuilt a [bbox, label] pair as an obj element", False, path)
            elem = {"type": "obj", "bbox": elem[0], "desc": elem[1]}
        if not isinstance(elem, dict):
            return elem
        elem = self._rename(elem, _ELEMENT_ALIASES, path, "CK131")
        etype = elem.get("type")
        if self.unsafe and "type" in elem and etype not in ("obj", "text"):
            new = "text" if "text" in elem else "obj"
            self.note("CK133", f"mapped element type {etype!r} to '{new}'", False, (*path, "type"))
            elem = {**elem, "type": new}
        elem = self._drop_foreign(elem, _walk.ELEMENT_KNOWN_KEYS, path, "CK131")
        if "bbox" in elem:
            elem = {**elem, "bbox": self.bbox(elem["bbox"], (*path, "bbox"))}
        if "color_palette" in elem:
            elem = {**elem, "color_palette": self.palette(elem["color_palette"], (*path, "color_palette"),
                                                           _walk.ELEMENT_PALETTE_MAX)}
        if self.unsafe and elem.get("type") == "obj" and "text" in elem:
            self.metadata[f"elements/{i}/text"] = elem["text"]
            self.note("CK206", "moved 'text' out of an obj element into metadata", False, (*path, "text"))
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
                    self.note("CK104", f"unwrapped the caption from the '{w}' key", False, (w,))
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
            self.note("CK201", "put style_description keys in canonical order", True, ("style_description",))
        cd_b, cd_a = before.get("compositional_deconstruction"), after.get("compositional_deconstruction")
        if isinstance(cd_b, dict):
            if list(cd_b) != list(cd_a):
                self.note("CK203", "put background before elements", True, ("compositional_deconstruction",))
            eb, ea = cd_b.get("elements"), cd_a.get("elements")
            if isinstance(eb, list):
                for i, (x, y) in enumerate(zip(eb, ea)):
                    if isinstance(x, dict) and list(x) != list(y):
                        self.note("CK205", "put element keys in canonical order", True,
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

    >>> r = fix({"compositional_deconstruction": {"background": "b", "elements": [
    ...     {"desc": "A clock.", "type": "obj", "color_palette": ["#fff", "#FFFFFF"]}]}})
    >>> r.text
    '{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"A clock.","color_palette":["#FFFFFF"]}]}}'
    >>> fix('{"aspect_ratio":"16:9","compositional_deconstruction":{"background":"b","elements":[]}}', unsafe=True).metadata
    {'aspect_ratio': '16:9'}
    """
    from captionkit.verifier import verify

    fixer = _Fixer(unsafe, box_format, frame)
    original_text: str | None = None
    if isinstance(source, bytes):
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError:
            return FixResult(None, None, None, [], verify(source))
    if isinstance(source, str):
        original_text = source
        # A file's final line break belongs to the file, not the caption: removing it is no change.
        found = extract_json(source.removesuffix("\n").removesuffix("\r"))
        if found is None:
            return FixResult(None, None, None, [], verify(source))
        data, how = found
        if how not in ("parsed",):
            code = "CK003" if source.lstrip().startswith("\ufeff") else "CK002" if how == LENIENT else "CK005"
            fixer.note(code, how)
    elif isinstance(source, Caption):
        data = source.to_dict()
    else:
        data = copy.deepcopy(source)
    fixer.resolve_boxes(data)
    data = fixer.caption(data)
    text = dumps(data)
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

