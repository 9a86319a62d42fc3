"""Fast routes to the official warnings that avoid a Python walk over every value.

msgspec decodes caption text straight into typed structs: unknown keys, value
types, box ranges and palette lengths are checked in C. What the structs
cannot tell is key order, so the routes differ in how they learn it:

* **Canonical text** (the common case). The structs are encoded back; when
  the bytes are identical to the input, every object has its keys in the
  struct's field order, which is the canonical one, with no duplicates. The
  few remaining cross-field rules (element type against its keys, box edge
  order, hex digits, style branch) are checked in bulk; only an object that
  fails one is turned back into a dict and handed to the official walk.
* **Canonical text in another layout** (what ``json.dumps`` writes with
  ``ensure_ascii=False``: any indent or its default separators, root keys in
  any order, a final newline). The encoding is laid out the same way
  (``msgspec.json.format``, the root entries moved);
  a text equal to that has the canonical key order wherever the official
  checks ask for one, and takes the canonical route (for compat only: it is
  not the canonical *form*, see :func:`canonical_findings`).
* **Valid structure, other key order or layout.** The text is parsed again
  with orjson to learn each object's key order. Elements whose key tuple is
  canonical for their type, and whose struct passed the value rules, are
  proven clean; the walk checks the others, in order.
* **Not decodable as a whole** (unknown or mistyped root keys, a broken
  element). The root is split into raw values; each root value is parsed on
  its own, and ``compositional_deconstruction`` takes the two routes above
  by itself.

Every route ends in the walk's own message code, and any doubt answers
``None``, so the caller runs the full check: these routes can make a verdict
faster, never different.

What ``json.loads`` cannot read at all (nesting beyond :data:`MAX_DEPTH`, an
integer beyond CPython's digit limit) must never be answered here: msgspec and
orjson read some of it, and a duplicate key hides a value from every parser
that keeps only the last one. A whole-caption typed decode rules both out by
itself (msgspec checks every occurrence of every key against its type, and
the types nest a few levels with integers of at most four digits); every
other route first asks :func:`plainly_readable`.
"""

from __future__ import annotations

import json
import re
import sys
from operator import attrgetter
from typing import Annotated, Any, Union

import msgspec
import orjson
from msgspec import UNSET, Meta, Raw, Struct, UnsetType

from captionkit import _spec, _walk

__all__ = [
    "MAX_DEPTH", "canonical_findings", "fast_findings", "is_canonical_and_valid", "located_findings", "located_walk",
    "plainly_readable",
]

#: The deepest nesting compat reads; deeper texts get the documented warning (see :mod:`captionkit.compat`).
MAX_DEPTH = 993
_DIGITS = "0123456789"


def plainly_readable(text: str) -> bool:
    """True when ``text`` surely nests within :data:`MAX_DEPTH` and holds no integer beyond the digit limit.

    Two C-level counts, and for long texts a look at one character in every
    ``limit``: a run of more than ``limit`` digits must cover one of them.
    False sends the text to the exact parse, which decides.

    >>> plainly_readable('{"a":[1,2]}'), plainly_readable('[' * 994), plainly_readable('[' + '1' * 4301 + ']')
    (True, False, False)
    """
    if text.count("[") + text.count("{") > MAX_DEPTH:  # cannot nest deeper than it has brackets
        return False
    limit = sys.get_int_max_str_digits()
    if not limit or len(text) <= limit:
        return True
    for i in range(0, len(text), limit):
        if text[i] in _DIGITS:
            before = text[max(0, i - limit):i]
            after = text[i:i + limit + 1]
            run = len(before) - len(before.rstrip(_DIGITS)) + len(after) - len(after.lstrip(_DIGITS))
            if run > limit:
                return False
    return True

_Hex = Annotated[str, Meta(min_length=7, max_length=7)]  # digits checked in bulk below
# The limits come from captionkit._spec, like the walk's.
_Palette5 = Annotated[list[_Hex], Meta(max_length=_spec.ELEMENT_PALETTE_MAX)]
_Palette16 = Annotated[list[_Hex], Meta(max_length=_spec.STYLE_PALETTE_MAX)]
_Box = Annotated[list[Annotated[int, Meta(ge=_spec.BBOX_MIN, le=_spec.BBOX_MAX)]], Meta(min_length=4, max_length=4)]


class _Element(Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    # One struct for both types: its field order is canonical for either (an obj
    # simply lacks "text"); the type and its keys are matched in bulk below.
    type: str
    bbox: Union[_Box, UnsetType] = UNSET
    text: Union[str, UnsetType] = UNSET
    desc: str
    color_palette: Union[_Palette5, UnsetType] = UNSET


class _Style(Struct, forbid_unknown_fields=True, gc=False):
    # One struct for both branches: photo before medium, art_style after it.
    aesthetics: Union[str, UnsetType] = UNSET
    lighting: Union[str, UnsetType] = UNSET
    photo: Union[str, UnsetType] = UNSET
    medium: Union[str, UnsetType] = UNSET
    art_style: Union[str, UnsetType] = UNSET
    color_palette: Union[_Palette16, UnsetType] = UNSET


class _Composition(Struct, forbid_unknown_fields=True, gc=False):
    background: str
    elements: list[_Element]


class _Caption(Struct, forbid_unknown_fields=True, kw_only=True, gc=False):
    high_level_description: Union[str, UnsetType] = UNSET
    style_description: Union[_Style, UnsetType] = UNSET
    compositional_deconstruction: _Composition


_decode_caption = msgspec.json.Decoder(_Caption).decode
_decode_composition = msgspec.json.Decoder(_Composition).decode
_decode_root = msgspec.json.Decoder(dict[str, Raw]).decode
_encode = msgspec.json.Encoder().encode
_DECODE_ERRORS = (msgspec.DecodeError, UnicodeError)  # lone surrogates cannot be UTF-8
# msgspec counts its nesting against the recursion limit, together with the
# caller's frames: a RecursionError says nothing about the text, so the route
# steps aside and the exact parse (compat.official_loads) decides.

_get_type = attrgetter("type")
# (type, type of the "text" field) for elements whose keys suit their type
_SIGNATURES = frozenset({("obj", UnsetType), ("text", str)})
# canonical key tuple -> the element type it belongs to
_TUPLE_TYPE = {keys: spec[0] for keys, spec in _walk._ELEMENT_SPECS.items()}


class _Undecided(Exception):
    """A route met something only the full check may decide."""


def _as_dict(struct: Struct) -> dict[str, Any]:
    """The object a struct was decoded from, for canonical text: set fields in field order."""
    return {name: value for name in struct.__struct_fields__ if (value := getattr(struct, name)) is not UNSET}


def _elements_clean(elements: list[_Element]) -> bool:
    """True when no element has a value-level finding (one tight pass, one palette check)."""
    entries: list[str] = []
    for element in elements:
        kind = element.type
        if kind == "obj":
            if element.text is not UNSET:
                return False
        elif kind != "text" or element.text is UNSET:
            return False
        box = element.bbox
        if box and (box[0] > box[2] or box[1] > box[3]):  # UNSET is falsy
            return False
        if element.color_palette:
            entries += element.color_palette
    return _walk.hex_entries_ok(entries)


def _unclean(elements: list[_Element]) -> list[tuple[int, bool]]:
    """``(index, keys_suit_type)`` for each element with a value-level finding, in order.

    The per-element twin of :func:`_elements_clean`, run only after that one pass
    (which checks all palettes at once) has found something.
    """
    out = []
    for i, element in enumerate(elements):
        if (element.type, type(element.text)) not in _SIGNATURES:
            out.append((i, False))
            continue
        box = element.bbox
        palette = element.color_palette
        if (box and (box[0] > box[2] or box[1] > box[3])) or (palette and not _walk.hex_entries_ok(palette)):
            out.append((i, True))
    return out


def _style_clean(sd: _Style) -> bool:
    return (
        sd.aesthetics is not UNSET
        and sd.lighting is not UNSET
        and sd.medium is not UNSET
        and (sd.photo is UNSET) != (sd.art_style is UNSET)
        and (sd.color_palette is UNSET or _walk.hex_entries_ok(sd.color_palette))
    )


def _canonical_elements(elements: list[_Element], out: list[_walk.Finding], types: str) -> None:
    """Findings for elements decoded from canonical text (key order proven by the re-encoding)."""
    if _elements_clean(elements):
        return
    for i, keys_suit_type in _unclean(elements):
        element = elements[i]
        if not keys_suit_type:
            _walk._element(_as_dict(element), i, False, out, types)
            continue
        # keys, type and order are right: only the box edges and the hex digits can be wrong
        if element.bbox:
            _walk.check_bbox(element.bbox, i, out)
        if element.color_palette:
            _walk.check_palette(element.color_palette, ("compositional_deconstruction", "elements", i, "color_palette"),
                                f"elements[{i}].color_palette", _walk.ELEMENT_PALETTE_MAX, out)


def _canonical_caption(caption: _Caption, types: str) -> list[_walk.Finding]:
    """Findings for a caption decoded from canonical text: only style and element values can be wrong."""
    out: list[_walk.Finding] = []
    sd = caption.style_description
    if sd is not UNSET and not _style_clean(sd):
        _walk._style(_as_dict(sd), False, out)
    _canonical_elements(caption.compositional_deconstruction.elements, out, types)
    return out


def _doubtful(dicts: list[dict[str, Any]], structs: list[_Element]) -> list[int]:
    """Indices of the elements that may have findings, given their dicts (key order) and structs (values)."""
    key_types = list(map(_TUPLE_TYPE.get, map(tuple, dicts)))
    struct_types = list(map(_get_type, structs))
    if key_types == struct_types:
        return [] if _elements_clean(structs) else [i for i, _ in _unclean(structs)]
    doubtful = {i for i, (a, b) in enumerate(zip(key_types, struct_types)) if a != b}
    if not _elements_clean(structs):
        doubtful.update(i for i, _ in _unclean(structs))
    return sorted(doubtful)


def _parse(raw: Any) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _Undecided from None


def _composition_route(raw: Raw, out: list[_walk.Finding], types: str) -> None:
    """Check a raw ``compositional_deconstruction`` value by the cheapest exact route."""
    try:
        cd = _decode_composition(raw)
    except _DECODE_ERRORS:
        _walk._composition(_parse(memoryview(raw)), True, out, types=types)
        return
    except RecursionError:
        raise _Undecided from None
    if _encode(cd) == bytes(raw):
        _canonical_elements(cd.elements, out, types)
        return
    value = _parse(memoryview(raw))
    _walk._composition(value, True, out, _doubtful(value["elements"], cd.elements), types)


_format = msgspec.json.format
_ROOT_FIELDS = _Caption.__struct_fields__
_INDENT = re.compile(rb"\{\n( +)\"")  # json.dumps(..., indent=n)


def _laid_out(encoded: bytes, body: bytes) -> bytes | None:
    """``encoded`` laid out as ``body`` is, if ``json.dumps`` wrote it (``None`` where none of its layouts is tried)."""
    if body[1:2] == b"\n":
        indent = _INDENT.match(body)
        if indent is None:
            return None
        encoded = _format(encoded, indent=len(indent.group(1)))
    elif body[(at := body.find(b'":', 1) + 2) : at + 1] == b" ":  # json.dumps's default separators, ", " and ": "
        encoded = _format(encoded, indent=0)
    if body.isascii() and not encoded.isascii():
        # written with ensure_ascii: escaping the encoding here costs what the re-parse costs
        return None
    return encoded


def _renders(caption: _Caption, encoded: bytes, data: bytes) -> bool:
    """True when ``data`` (UTF-8 text) is ``encoded`` (the caption written in canonical key order)
    laid out as ``json.dumps`` lays JSON out: root keys in any order, compact or with its default
    separators or an indent, non-ASCII characters literal, one final newline or none.

    Each of these changes only the root order and the white space between tokens: a text equal to
    the result holds the caption's values once each, every object but the root with its keys in
    canonical order (which the official checks do not ask of the root). (Another layout, such as
    ``ensure_ascii``'s escapes, only means the caller takes another route.)
    """
    body = data[:-1] if data[-1:] == b"\n" else data
    laid_out = _laid_out(encoded, body)
    if laid_out is None or laid_out == body:
        return laid_out is not None
    present = [name for name in _ROOT_FIELDS if getattr(caption, name) is not UNSET]
    if len(present) < 2 or (len(present) == 2 and body.startswith(b'"%s":' % present[0].encode(), body.find(b'"'))):
        return False  # (the root order is the canonical one)
    # the text's root order: after a typed decode, '"name":' with these names can only be a root key
    # (a string is never followed by ":", and inside one a quote is escaped)
    placed = sorted(present, key=lambda name: body.find(b'"%s":' % name.encode()))
    if placed == present:
        return False
    # the root entries of ``encoded`` (a key and its value), cut by the lengths of the smaller values
    entries, at = {}, 1
    for name in present[:-1]:
        size = len(name) + 3 + len(_encode(getattr(caption, name)))  # '"name":' and the value
        entries[name], at = encoded[at : at + size], at + size + 1
    entries[present[-1]] = encoded[at:-1]
    return _laid_out(b"{%s}" % b",".join(map(entries.__getitem__, placed)), body) == body


def _decode_whole(data: bytes, layouts: bool = False) -> tuple[_Caption | None, bool]:
    """The caption's structs (``None`` when the whole text does not decode) and whether the text is canonical.

    ``data`` is the text in UTF-8. With ``layouts``, a text that is the canonical one laid out
    another way (see :func:`_renders`) counts as canonical too: its keys are in canonical order
    wherever the official checks ask.
    """
    try:
        caption = _decode_caption(data)
        encoded = _encode(caption)
        return caption, encoded == data or (layouts and _renders(caption, encoded, data))
    except _DECODE_ERRORS:
        return None, False
    except (msgspec.EncodeError, RecursionError):
        raise _Undecided from None


def _utf8(text: str) -> bytes:
    """The text in UTF-8, read once for every decoder; a lone surrogate cannot be, and no route reads it."""
    try:
        return text.encode("utf-8")
    except UnicodeError:
        raise _Undecided from None


def _routes(text: str, types: str) -> list[_walk.Finding]:
    data = _utf8(text)
    caption, canonical = _decode_whole(data, layouts=True)
    if canonical:
        return _canonical_caption(caption, types)
    if caption is not None:
        value = _parse(data)
        elements = caption.compositional_deconstruction.elements
        return _walk.walk(value, True, doubtful=_doubtful(value["compositional_deconstruction"]["elements"], elements),
                          types=types)
    try:
        raw_root = _decode_root(data)
    except (*_DECODE_ERRORS, RecursionError):
        raise _Undecided from None
    if not plainly_readable(text):  # a shadowed duplicate or a deep value: the exact parse decides
        raise _Undecided
    root = {k: raw if k == "compositional_deconstruction" else _parse(memoryview(raw)) for k, raw in raw_root.items()}
    return _walk.walk(root, True, composition=lambda raw, out: _composition_route(raw, out, types))


def fast_findings(text: str, types: str = _walk.ELEMENT_TYPES_REPR) -> list[str] | None:
    """The official warnings for ``text`` (without the ensure-ASCII scan), or ``None`` when undecided.

    ``None`` means the caller must run the full check: the text is not JSON
    that msgspec and orjson both read exactly as ``json.loads`` does, or a
    value needs the exact parse (see :class:`captionkit._walk.NeedExactParse`).

    It never answers for text ``json.loads`` cannot read (see the module docs).
    """
    try:
        return [message for _, _, message in _routes(text, types)]
    except (_Undecided, _walk.NeedExactParse):
        return None


def canonical_findings(text: str) -> list[str] | None:
    """The official warnings for canonical caption text, or ``None`` when the text is not canonical.

    ``[]`` means valid. A non-empty list holds the findings of a caption whose
    structure, types and key order are proven canonical by the re-encoding.
    """
    try:
        caption, canonical = _decode_whole(_utf8(text))
    except _Undecided:
        return None
    return [message for _, _, message in _canonical_caption(caption, _walk.ELEMENT_TYPES_REPR)] if canonical else None


def is_canonical_and_valid(text: str) -> bool:
    """True when ``text`` is a canonical caption the official checks accept (see module docs)."""
    return canonical_findings(text) == []


# json.loads's own scanner, called on a span that is one JSON value with nothing around it
_scan_value = json.JSONDecoder().scan_once


def _span_value(text: str, start: int, end: int) -> Any:
    """The value ``json.loads(text[start:end])`` reads, for a span the C locator checked as one JSON value."""
    span = text[start:end]
    try:
        value, stop = _scan_value(span, 0)
    except StopIteration:
        raise ValueError from None
    if stop != len(span):
        raise ValueError
    return value


def located_findings(
    text: str, found: tuple[Any, ...], types: str = _walk.ELEMENT_TYPES_REPR
) -> list[str] | None:
    """The official warnings from what ``_speedups.locate`` found, or ``None`` when undecided.

    See :func:`located_walk`; this is its messages.
    """
    findings = located_walk(text, found, types)
    return None if findings is None else [message for _, _, message in findings]


def located_walk(
    text: str, found: tuple[Any, ...], types: str = _walk.ELEMENT_TYPES_REPR
) -> list[_walk.Finding] | None:
    """The official walk's findings from what ``_speedups.locate`` found, or ``None`` when undecided.

    ``found`` holds character spans of ``text``: unknown root key names, the
    high-level description and the style when they may hold findings, and the
    elements that may. Every span is one JSON value (or key) that the locator
    checked as JSON, so ``json.loads`` of it is the value the full parse would
    hold there; the walk words the messages from those values, and everything
    outside the spans is proven clean (a clean style is left out: the walk
    finds nothing in it).
    """
    unknown, hld, style, elements = found[:4]
    root: dict[str, Any] = {}
    try:
        if unknown:
            for start, end in unknown:
                name = _span_value(text, start, end)
                if name in _walk.TOP_LEVEL_KNOWN_KEYS:  # a known key spelled with escapes
                    return None
                root[name] = None
        if hld is not None:
            root["high_level_description"] = _span_value(text, *hld)
        if style is not None:
            root["style_description"] = _span_value(text, *style)
        spans = [(i, _span_value(text, start, end)) for i, start, end in elements or ()]
    except (ValueError, RecursionError):
        return None

    def composition(_: Any, out: list[_walk.Finding]) -> None:
        for i, element in spans:
            _walk._element(element, i, False, out, types)

    root["compositional_deconstruction"] = None
    return _walk.walk(root, composition=composition)
