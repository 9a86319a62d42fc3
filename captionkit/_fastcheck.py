"""A shortcut for the most common case: canonical text of a valid caption.

msgspec decodes the text straight into typed structs (unknown keys, types,
box ranges and palette lengths are checked in C) and encodes them back. When
the re-encoding is byte-identical to the input, the input is minified JSON
with every key in canonical order and no duplicates, so what remains to know
is a handful of cross-field rules checked here (style branch, box edge order,
hex digits). Then the official verifier has nothing to say beyond the
ensure-ASCII scan, which the caller runs separately.

Any doubt (a decode error, a different re-encoding, a failed rule) answers
``False`` and the caller runs the full check, so this can only make valid
captions faster, never change a verdict or a message.
"""

from __future__ import annotations

from itertools import chain
from typing import Annotated, Any, Union

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from captionkit import _walk

__all__ = ["canonical_findings", "is_canonical_and_valid"]

_Hex = Annotated[str, Meta(min_length=7, max_length=7)]  # digits checked in bulk below
_Palette5 = Annotated[list[_Hex], Meta(max_length=5)]
_Palette16 = Annotated[list[_Hex], Meta(max_length=16)]
_Box = Annotated[list[Annotated[int, Meta(ge=0, le=1000)]], Meta(min_length=4, max_length=4)]


class _Obj(Struct, tag_field="type", tag="obj", forbid_unknown_fields=True, kw_only=True):
    bbox: Union[_Box, UnsetType] = UNSET
    desc: str
    color_palette: Union[_Palette5, UnsetType] = UNSET


class _Text(Struct, tag_field="type", tag="text", forbid_unknown_fields=True, kw_only=True):
    bbox: Union[_Box, UnsetType] = UNSET
    text: str
    desc: str
    color_palette: Union[_Palette5, UnsetType] = UNSET


class _Style(Struct, forbid_unknown_fields=True):
    # One struct for both branches: its field order encodes either branch canonically
    # (photo before medium, art_style after it); the branch rule is checked below.
    aesthetics: Union[str, UnsetType] = UNSET
    lighting: Union[str, UnsetType] = UNSET
    photo: Union[str, UnsetType] = UNSET
    medium: Union[str, UnsetType] = UNSET
    art_style: Union[str, UnsetType] = UNSET
    color_palette: Union[_Palette16, UnsetType] = UNSET


class _Composition(Struct, forbid_unknown_fields=True):
    background: str
    elements: list[Union[_Obj, _Text]]


class _Caption(Struct, forbid_unknown_fields=True, kw_only=True):
    high_level_description: Union[str, UnsetType] = UNSET
    style_description: Union[_Style, UnsetType] = UNSET
    compositional_deconstruction: _Composition


_decode = msgspec.json.Decoder(_Caption).decode
_encode = msgspec.json.Encoder().encode
def canonical_findings(text: str) -> list[str] | None:
    """The official warnings for canonical caption text, or ``None`` when the full check must decide.

    ``[]`` means valid. A non-empty list holds value-level findings (palette
    entries that are not uppercase hex, box edges in the wrong order) for text
    whose structure, types and key order are already proven canonical; their
    messages come from the same helpers as the full walk.
    """
    try:
        caption = _decode(text)
    except (msgspec.DecodeError, UnicodeError):  # lone surrogates cannot be UTF-8
        return None
    sd = caption.style_description
    if sd is not UNSET:
        if sd.aesthetics is UNSET or sd.lighting is UNSET or sd.medium is UNSET:
            return None
        if (sd.photo is UNSET) == (sd.art_style is UNSET):
            return None
    try:
        if _encode(caption) != text.encode("utf-8"):
            return None
    except (msgspec.EncodeError, UnicodeError):
        return None
    # Structure and key order are canonical; only values can be wrong now.
    elements = caption.compositional_deconstruction.elements
    palettes: list[Any] = [] if sd is UNSET or sd.color_palette is UNSET else [sd.color_palette]
    boxes_ok = True
    for element in elements:
        box = element.bbox
        if box is not UNSET and (box[0] > box[2] or box[1] > box[3]):
            boxes_ok = False
        if element.color_palette is not UNSET:
            palettes.append(element.color_palette)
    if boxes_ok and _walk.hex_entries_ok(list(chain.from_iterable(palettes))):
        return []
    # Messages only for the values at fault (ranges and types are already proven).
    out: list[_walk.Finding] = []
    if sd is not UNSET and sd.color_palette is not UNSET and not _walk.hex_entries_ok(sd.color_palette):
        _walk.check_palette(sd.color_palette, ("style_description", "color_palette"),
                            "style_description.color_palette", _walk.STYLE_PALETTE_MAX, out)
    for i, element in enumerate(elements):
        box = element.bbox
        if box is not UNSET and (box[0] > box[2] or box[1] > box[3]):
            _walk.check_bbox(box, i, out)
        palette = element.color_palette
        if palette is not UNSET and not _walk.hex_entries_ok(palette):
            _walk.check_palette(palette, ("compositional_deconstruction", "elements", i, "color_palette"),
                                f"elements[{i}].color_palette", _walk.ELEMENT_PALETTE_MAX, out)
    return [message for _, _, message in out]


def is_canonical_and_valid(text: str) -> bool:
    """True when ``text`` is a canonical caption the official checks accept (see module docs)."""
    return canonical_findings(text) == []
