"""Canonical JSON: the one serializer, and parsers with the official semantics.

Reading follows Python's ``json.loads`` exactly where it matters (error text,
``NaN``, huge integers, lone surrogates, duplicate keys); orjson is only a fast
path whose result is used when it cannot differ. Writing produces the canonical
text: keys in canonical order, minified, literal non-ASCII.
"""

from __future__ import annotations

import json
import re
import weakref
from typing import TYPE_CHECKING, Any

import orjson

from captionkit import _walk

if TYPE_CHECKING:
    from captionkit.models import Caption

__all__ = [
    "canonical_order",
    "canonical_text",
    "dumps",
    "is_stored_canonical",
    "parse_exact",
    "parse_for_verify",
    "remember_text",
    "storable",
]

_ROOT_ORDER = _walk.ROOT_KEY_ORDER
# photo before medium, art_style after it: either branch (or an ambiguous mix) comes out canonical
_STYLE_ORDER = ("aesthetics", "lighting", "photo", "medium", "art_style", "color_palette")
_CD_ORDER = _walk.COMPOSITION_KEY_ORDER
_ELEMENT_ORDER = _walk.ELEMENT_KEY_ORDER_TEXT  # obj elements simply lack "text"


def parse_exact(text: str | bytes) -> Any:
    """Parse with ``json.loads`` semantics; crashes of the stdlib become ``ValueError``.

    Raises:
        json.JSONDecodeError: for malformed JSON (official error text).
        ValueError: for integers beyond the digit limit or nesting beyond the recursion limit.
    """
    try:
        return json.loads(text)
    except RecursionError as exc:
        raise ValueError(str(exc)) from None


def parse_for_verify(text: str, exact: bool = False) -> tuple[Any, str | None, bool]:
    """Parse for verification. Returns ``(value, error_text_or_None, came_from_fast_path)``."""
    if not exact:
        try:
            return orjson.loads(text), None, True
        except orjson.JSONDecodeError:
            pass  # the stdlib decides, and words the error
    try:
        return json.loads(text), None, False
    except json.JSONDecodeError as exc:
        return None, str(exc), False
    except (ValueError, RecursionError) as exc:
        return None, str(exc), False


def _order_keys(obj: dict[str, Any], order: tuple[str, ...]) -> dict[str, Any]:
    known = [k for k in order if k in obj]
    if len(known) == len(obj) and list(obj) == known:
        return obj
    out = {k: obj[k] for k in known}
    for k, v in obj.items():  # unknown keys keep their relative order, after the known ones
        if k not in out:
            out[k] = v
    return out


def canonical_order(data: Any) -> Any:
    """Return ``data`` with every caption object's keys in canonical order.

    Unknown keys are kept, after the known ones. Values are not changed.

    >>> canonical_order({"compositional_deconstruction": {"elements": [], "background": "b"}})
    {'compositional_deconstruction': {'background': 'b', 'elements': []}}
    """
    if not isinstance(data, dict):
        return data
    root = _order_keys(data, _ROOT_ORDER)
    if root is data:
        root = dict(data)
    sd = root.get("style_description")
    if isinstance(sd, dict):
        root["style_description"] = dict(_order_keys(sd, _STYLE_ORDER))
    cd = root.get("compositional_deconstruction")
    if isinstance(cd, dict):
        cd = dict(_order_keys(cd, _CD_ORDER))
        elements = cd.get("elements")
        if isinstance(elements, list):
            cd["elements"] = [
                dict(_order_keys(e, _ELEMENT_ORDER)) if isinstance(e, dict) else e for e in elements
            ]
        root["compositional_deconstruction"] = cd
    return root


# Canonical text already known for a caption object (set by loads(), kept while the object
# lives). Captions are frozen, so the text can never go stale; the entry leaves with the object.
_KNOWN_TEXT: dict[int, str] = {}


def remember_text(caption: Any, text: str) -> None:
    """Record ``text`` as the canonical form of the frozen ``caption`` object, for :func:`dumps`."""
    key = id(caption)
    if key not in _KNOWN_TEXT:
        weakref.finalize(caption, _KNOWN_TEXT.pop, key, None)
    _KNOWN_TEXT[key] = text


def _to_data(caption: Any) -> Any:
    to_dict = getattr(caption, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    return canonical_order(caption)


def dumps(caption: Caption | dict[str, Any], *, pretty: bool = False) -> str:
    """Serialize a caption to its canonical JSON text.

    The compact form is exactly ``json.dumps(data, separators=(",", ":"),
    ensure_ascii=False)`` of the caption with keys in canonical order.
    ``pretty=True`` indents by two spaces for people (not for the model).

    >>> dumps({"compositional_deconstruction": {"elements": [], "background": "Café wall"}})
    '{"compositional_deconstruction":{"background":"Café wall","elements":[]}}'
    """
    if not pretty and type(caption) is not dict:
        known = _KNOWN_TEXT.get(id(caption))
        if known is not None:
            return known
    data = _to_data(caption)
    if pretty:
        return json.dumps(data, ensure_ascii=False, indent=2)
    try:
        out = orjson.dumps(data)
    except (orjson.JSONEncodeError, TypeError):
        # lone surrogates, huge ints, non-JSON values: the stdlib decides
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    if b"null" in out and _non_finite(data):
        # orjson writes NaN and ±Infinity as null; the canonical text keeps them as the stdlib writes them
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return out.decode("utf-8")


def _non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(_non_finite(v) for v in value)
    return False


# -- the canonical text as stored ------------------------------------------------
#
# The canonical text has no trailing newline (dumps, Caption.dumps and
# CaptionBuilder.dumps return it as is). A file or a stream holds it followed by
# at most one "\n": `fmt` writes one, and `fmt --check` and `verify` (CK408)
# accept the text with or without it. A lone surrogate (legal as a JSON escape,
# as the official parser reads it) cannot be stored as UTF-8, so a stored
# canonical text keeps it as its escape.

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def storable(text: str) -> str:
    r"""``text`` with each lone surrogate written as its ``\uXXXX`` escape, so UTF-8 can hold it.

    Only JSON strings can hold a surrogate, and there an escape means the same
    character, so the text parses to the same value.

    >>> storable('{"a":"x\ud800"}')
    '{"a":"x\\ud800"}'
    """
    if text.isascii() or _LONE_SURROGATE.search(text) is None:
        return text
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def canonical_text(text: str, *, pretty: bool = False) -> str:
    """The canonical form of JSON text, as stored (what ``fmt`` writes, less the final newline).

    Raises:
        json.JSONDecodeError: for malformed JSON (official error text).
        ValueError: see :func:`parse_exact`.

    >>> canonical_text('{"compositional_deconstruction": {"elements": [], "background": "b"}}\\n')
    '{"compositional_deconstruction":{"background":"b","elements":[]}}'
    """
    if not pretty:
        body = text[:-1] if text.endswith("\n") else text
        try:
            quick = dumps(orjson.loads(body))
        except (ValueError, TypeError):
            pass
        else:
            # body is the canonical serialization of a value, so json.loads reads that
            # same value back from it, and the exact route below would give body too
            if quick == body:
                return body
    return storable(dumps(parse_exact(text), pretty=pretty))


def is_stored_canonical(text: str, canonical: str) -> bool:
    """Whether ``text`` is ``canonical`` as stored: itself or its :func:`storable` form, plus at most one ``"\\n"``.

    >>> is_stored_canonical('{"a":1}\\n', '{"a":1}'), is_stored_canonical('{"a":1}\\n\\n', '{"a":1}')
    (True, False)
    """
    body = text[:-1] if text.endswith("\n") else text
    return body == canonical or body == storable(canonical)
