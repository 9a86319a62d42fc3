"""Finding the one caption object in what an LLM or a person handed over.

Code fences, prose around the object, JSON encoded as a JSON string, a byte order
mark, and lenient JSON (trailing commas, single quotes, Python literals) read on
tokens by :func:`captionkit._json.parse_lenient`. The value found must account for
the whole input: nothing is cut away or guessed. The verifier uses this to tell a
repairable text (CK005, CK002 with a fix) from one a person must mend; the fixes
use it to repair.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from captionkit._json import Parsed, parse_lenient, parse_tracked

__all__ = ["LENIENT", "extract_json"]

_FENCE = re.compile(r"```[a-zA-Z0-9_-]*[ \t]*\r?\n?(.*?)```", re.DOTALL)

LENIENT = "re-parsed leniently (trailing commas, single quotes or Python's True/False/None)"
_ENCODED = "decoded JSON that was encoded as a JSON string"
_FENCED = "extracted the JSON object from a code fence"
_SURROUNDED = "extracted the JSON object from surrounding text"
_STRIPPED = "removed a byte order mark or surrounding whitespace"


# In the text around the one object: a bracket, or a quoted key and its colon, means the object
# is a piece of a larger (broken) JSON value, not a caption in prose.
_STRUCTURE = re.compile(r"""[\[\]]|["'][ \t\r\n]*:""")
_BRACES = re.compile(r"[{}]")


class _Refused(Exception):
    """Internal: the input cannot be repaired without losing or guessing content (one-line reason)."""


@dataclass(frozen=True, slots=True)
class _Found:
    parsed: Parsed
    how: str


def _find(text: str, depth: int = 0) -> _Found:
    """The one JSON value that the whole text stands for, or :class:`_Refused`.

    The value must account for the whole input: the text itself (a JSON string in it
    decoded), or the span from its first ``{`` to its last ``}`` with only prose around
    it: no brace, bracket or quoted key outside. A nested object that happens to parse
    is never taken for the whole.
    """
    stripped = text.strip().lstrip("\ufeff").strip()
    try:
        parsed = parse_tracked(stripped)
    except json.JSONDecodeError:
        pass
    except ValueError as exc:  # well-formed, but beyond the digit limit or the nesting limit
        raise _Refused(f"the JSON cannot be read: {exc}") from None
    else:
        if isinstance(parsed.value, str):
            return _decoded(parsed.value, depth)
        return _Found(parsed, "parsed" if stripped == text else _STRIPPED)
    fences = list(_FENCE.finditer(text))
    if len(fences) == 1 and fences[0].group(1).strip().startswith('"'):
        # JSON encoded as a string, in the text's only fence, with only prose around that fence
        outside = text[: fences[0].start()] + text[fences[0].end() :]
        try:
            inner = parse_tracked(fences[0].group(1).strip())
        except ValueError:
            pass
        else:
            if isinstance(inner.value, str) and not _STRUCTURE.search(outside) and not _BRACES.search(outside):
                return _decoded(inner.value, depth)
    start, end = text.find("{"), text.rfind("}")
    if start == -1 or end < start:
        raise _Refused("no JSON object found")
    span = text[start : end + 1]
    for outside in (text[:start], text[end + 1 :]):
        if _STRUCTURE.search(outside):
            raise _Refused("the JSON object stands inside a larger JSON structure that does not parse "
                           "(a bracket or a quoted key outside it); taking the object alone would lose the rest")
    if span != stripped:
        try:
            parsed = parse_tracked(span)
        except ValueError:
            pass
        else:
            fenced = any(m.start(1) <= start and end < m.end(1) for m in _FENCE.finditer(text))
            return _Found(parsed, _FENCED if fenced else _SURROUNDED)
    try:
        return _Found(parse_lenient(span), LENIENT)
    except ValueError as exc:
        where = f" (in the text from character {start})" if start else ""
        detail = str(exc).removeprefix("not JSON even read leniently: ")
        raise _Refused(f"no complete JSON object, even read leniently: {detail}{where}") from None


def _decoded(inner: str, depth: int) -> _Found:
    if depth >= 2:
        raise _Refused("JSON encoded as a JSON string more than twice")
    found = _find(inner, depth + 1)
    if not isinstance(found.parsed.value, dict):
        raise _Refused("a JSON string that does not hold a JSON object")
    return _Found(found.parsed, _ENCODED if found.how != LENIENT else LENIENT)


def extract_json(text: str) -> tuple[Any, str] | None:
    """Find the caption object in LLM-style text. Returns ``(value, how)`` or ``None``.

    Handles code fences, prose or trigger words around the object, JSON encoded
    as a JSON string, and (reported as lenient) trailing commas, single quotes and
    Python's ``True``/``False``/``None``. The value always accounts for the whole
    object in the text: when that object does not parse even leniently, the answer
    is ``None``, never a smaller object found inside it. Repeated keys keep their
    last value, as ``json.loads`` does (:func:`fix` refuses to choose in safe mode).

    >>> extract_json('Sure! {"a": 1} Hope it helps.')
    ({'a': 1}, 'extracted the JSON object from surrounding text')
    >>> extract_json('"{\\\\"a\\\\":1}"')
    ({'a': 1}, 'decoded JSON that was encoded as a JSON string')
    >>> extract_json('{"a": {"b": 1}, "c": [1,}') is None
    True
    >>> extract_json('no json here') is None
    True
    """
    try:
        found = _find(text)
    except _Refused:
        return None
    return found.parsed.value, found.how


# --------------------------------------------------------------------------- value fixes
