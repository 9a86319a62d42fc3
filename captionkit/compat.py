"""A drop-in replacement for the official Ideogram 4 ``CaptionVerifier``.

:class:`CaptionVerifier` has the official public surface and returns the same
list of warning strings for any input, in the same order, with the same early
returns. Where the official class raises, this one returns a warning instead.
These are the documented divergences:

============================================================  ======================  ==============================================
input                                                         official                captionkit compat
============================================================  ======================  ==============================================
an element whose ``type`` is a JSON array or object           ``TypeError``           the usual ``'type' must be one of`` warning
an integer literal beyond CPython's digit limit, anywhere     ``ValueError``          one ``invalid JSON: ...`` warning
(the value of a shadowed duplicate key too)
nesting deeper than :data:`MAX_DEPTH` (993) levels            ``RecursionError``      one ``invalid JSON: ...`` warning
``verify_file`` on bytes that are not UTF-8                   ``UnicodeDecodeError``  one ``invalid JSON: ...`` warning
============================================================  ======================  ==============================================

The ``invalid JSON`` warning comes after the ensure-ASCII warning, if any, and
names the first thing ``json.loads`` meets: a syntax error earlier in the text
keeps its own official message.

**The depth rule.** ``json.loads`` counts each nested array or object against
the recursion limit, together with the Python frames already on the stack, so
the official verifier's own limit moves with its caller: on CPython 3.11 with
the default limit of 1000 it reads 994 levels when called from a script's top
level, 993 from inside one function, and fewer under a test runner or a web
framework; CPython 3.12 counts C recursion separately (limit 1500), and 3.13
allows more still. captionkit fixes the limit at :data:`MAX_DEPTH` = 993
levels, the official verifier called from a function on CPython 3.11, on every
route and whatever the caller's stack or recursion limit: 993 levels are
read and checked like any other text, 994 or more give the documented
warning, naming the array or object that opens level 994, unless a syntax
error or an over-long integer comes earlier in the text. On CPython 3.11 a
text nested that deep is parsed with the very stack of that official run (see
:func:`official_loads`), so the rare texts where it runs out of stack a level
or two earlier (a ``NaN`` to convert, or a syntax error to word, right at the
limit) get the same warning it would crash with.

The ``'type' must be one of`` message prints ``frozenset({'text', 'obj'})``, the
rendering the official class gives under ``PYTHONHASHSEED=0``, so output never
changes between runs. ``CaptionVerifier(live_types=True)`` renders the set in
the current process instead, exactly like the official class; the rendering is
held by each verifier, so verifiers of both kinds can run in parallel threads.

Substitutions render as the official f-strings do: ``str()`` of the value, so a
``list`` subclass passed to :meth:`CaptionVerifier.verify` prints through its
own ``__str__``.

How ``verify_raw`` stays cheap (every route ends in the same check code, so
the answer never depends on the route): the optional C locator
(``captionkit._speedups``, compiled at install when a compiler is present)
reads the text in place, in any layout (minified, pretty-printed, escaped, any
root order), and either proves it a clean caption, or points at the few values
that may hold findings, which alone are parsed and walked. Texts it cannot
place (duplicate root keys, a composition out of shape, unusual JSON) take the
Python routes in :mod:`captionkit._fastcheck` (typed msgspec decoding), and
the last resort is the full parse and walk. No route answers for text
``json.loads`` cannot read: the C locator only answers for texts nested at
most a few hundred levels with integers of at most 640 digits (the lowest
digit limit CPython allows), the Python routes only for texts their typed
decoding or a cheap scan has shown to be like that (see
:mod:`captionkit._fastcheck`), and everything else goes to
:func:`official_loads`.

>>> CaptionVerifier().verify_raw('{"aspect_ratio":"16:9","high_level_description":7}')
["root: unknown keys ['aspect_ratio'] (not in schema)", 'high_level_description: expected a string, got int', "root: 'compositional_deconstruction' must exist"]
>>> CaptionVerifier().verify_raw('{"a":' + '[' * 995 + ']' * 995 + '}')
['invalid JSON: maximum recursion depth exceeded while decoding a JSON array from a unicode string']
"""

from __future__ import annotations

import _thread
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import orjson

from captionkit import _accel, _walk
from captionkit._fastcheck import MAX_DEPTH, fast_findings, located_findings, plainly_readable

# the optional C accelerator (see captionkit._accel); the answers are the same without it
_locate = _accel.speedups.locate if _accel.speedups is not None else None
_unicode_escapes = _accel.speedups.unicode_escapes if _accel.speedups is not None else None

__all__ = ["MAX_DEPTH", "NON_ASCII_UNICODE_ESCAPE_RE", "CaptionVerifier", "official_loads"]

NON_ASCII_UNICODE_ESCAPE_RE = re.compile(
    r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})"
)

_R1 = (
    "raw text: found {n} non-ASCII unicode escape(s) (e.g. {examples}{more}) and no literal "
    "non-ASCII characters. This usually means the file was saved with ensure_ascii=True; please "
    "re-save with json.dump(..., ensure_ascii=False) so non-ASCII characters are stored as literal "
    "UTF-8. Note: this is a warning, not an error, because the escapes could have been written "
    "intentionally \u2014 we cannot tell from the file alone."
)
_R1_HEAD, _R1_TAIL = _R1.split("{n}")[0], _R1.split("{more}")[1]
_R1_MID = _R1.split("{n}")[1].split("{examples}")[0]


def _r1(n: int, examples: str, more: str) -> str:
    """``_R1.format(n=n, examples=examples, more=more)``, joined directly (a long template formats slowly)."""
    return f"{_R1_HEAD}{n}{_R1_MID}{examples}{more}{_R1_TAIL}"


_ESCAPES_KEPT = 4  # the C scan keeps the four smallest distinct escapes: enough to show three and tell "more"


def ensure_ascii_findings(raw_text: str, max_examples: int = 3) -> list[str]:
    """The official lexical check for ``\\uXXXX`` escapes of non-ASCII characters."""
    # Both tests below are single C-level scans (isascii is the cheaper one and
    # rules out most multilingual captions); the escapes are looked for only when needed.
    if not raw_text.isascii():
        return []
    if _unicode_escapes is not None and 0 <= max_examples < _ESCAPES_KEPT:
        count, smallest = _unicode_escapes(raw_text)  # the regex's matches, counted in C
    elif "\\u" not in raw_text:
        return []
    else:
        matches = NON_ASCII_UNICODE_ESCAPE_RE.findall(raw_text)
        count, smallest = len(matches), sorted(set(matches))
    if not count:
        return []
    return [_r1(count, ", ".join(smallest[:max_examples]), ", ..." if len(smallest) > max_examples else "")]


_RECURSION = "maximum recursion depth exceeded while decoding a JSON {} from a unicode string"
# Strings (an unterminated one runs to the end of the text) and brackets, as json.loads sees them
# in any text it reads up to that point.
_LEXEMES = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.S)
# Texts with at most this many brackets parse in the caller's thread when it has the room:
# they leave json.loads far more headroom than it ever needs below MAX_DEPTH.
_SHALLOW = 900


def _too_deep(text: str) -> tuple[int, str]:
    """Where the first array or object opening level ``MAX_DEPTH + 1`` starts, and the closers of the levels open there.

    ``(-1, "")`` when no value nests that deep. Exact for every text
    ``json.loads`` reads up to that point; where it fails earlier,
    :func:`official_loads` reports that failure instead.
    """
    open_: list[str] = []
    for match in _LEXEMES.finditer(text):
        start = match.start()
        char = text[start]
        if char == "[" or char == "{":
            if len(open_) == MAX_DEPTH:
                return start, "".join(reversed(open_))
            open_.append("]" if char == "[" else "}")
        elif char != '"' and open_:
            open_.pop()
    return -1, ""


def _in_the_official_room(call: Callable[[], Any]) -> Any:
    """``call()`` (which calls ``json.loads`` itself) with the stack of the official verifier called from a function.

    A fresh thread whose first frame stands for a script's module frame and
    whose second for its function, like ``def main(): verifier.verify_raw(t)``
    then ``main()``, with frames spent first where the recursion limit is
    above its default of 1000. So ``json.loads`` has exactly the room it has
    there: beyond :data:`MAX_DEPTH` levels it fails, and where a syntax
    error, ``NaN`` or ``Infinity`` sits within a level or two of that depth,
    wording or converting it exhausts the stack exactly as it does there.
    """
    result: list[Any] = []
    done = _thread.allocate_lock()
    done.acquire()

    def script(spare: int) -> None:  # the script's module frame
        try:
            result.append((True, function(spare)))
        except BaseException as exc:  # handed to the caller below
            result.append((False, exc))
        finally:
            done.release()

    def function(spare: int) -> Any:  # spare frames, then the script's function, which calls the verifier
        return function(spare - 1) if spare > 0 else call()

    _thread.start_new_thread(script, (sys.getrecursionlimit() - 1000,))
    done.acquire()
    ok, value = result[0]
    if ok:
        return value
    raise value


def official_loads(text: str, **kwargs: Any) -> Any:
    """``json.loads(text, **kwargs)`` as the official verifier meets it, under compat's depth rule.

    It raises what ``json.loads`` raises there, whatever the caller's stack:
    ``json.JSONDecodeError`` for a syntax error, ``ValueError`` for an integer
    beyond CPython's digit limit, and ``RecursionError`` exactly when the text
    nests deeper than :data:`MAX_DEPTH` before either of those. On CPython
    3.11, "there" is the official verifier called from a function of a script
    (see the module docs); a ``NaN`` or a syntax error within a level or two
    of that depth exhausts its stack too, and raises ``RecursionError`` here
    as well.

    >>> len(official_loads('{"a":' + '[' * 992 + ']' * 992 + '}')["a"])
    1
    >>> official_loads('{"a":' + '[' * 993 + ']' * 993 + '}')
    Traceback (most recent call last):
    ...
    RecursionError: maximum recursion depth exceeded while decoding a JSON array from a unicode string
    >>> official_loads('[1 ' + '[' * 1000)
    Traceback (most recent call last):
    ...
    json.decoder.JSONDecodeError: Expecting ',' delimiter: line 1 column 4 (char 3)
    """
    if text.count("[") + text.count("{") <= _SHALLOW:  # cannot nest deeper than it has brackets
        try:
            return json.loads(text, **kwargs)
        except RecursionError:
            pass  # the caller's stack is deep: the official room decides
        return _in_the_official_room(lambda: json.loads(text, **kwargs))
    deep, closers = _too_deep(text)
    if deep < 0:
        return _in_the_official_room(lambda: json.loads(text, **kwargs))
    # json.loads reads in text order, so it meets any syntax error or over-long integer
    # before `deep` first. Read the text up to there with "null" standing in for the deep
    # value (accepted exactly where an array or object is, and never merging with what
    # precedes it) and the open levels closed.
    prefix = text[:deep] + "null" + closers
    try:
        _in_the_official_room(lambda: json.loads(prefix))
    except json.JSONDecodeError as exc:
        if exc.pos <= deep:
            raise
    raise RecursionError(_RECURSION.format("array" if text[deep] == "[" else "object"))


def _parsed(text: str) -> tuple[Any, str | None]:
    """``(value, None)``, or ``(None, reason)`` where the official verifier says or would crash with ``reason``."""
    try:
        return official_loads(text), None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        return None, str(exc)


def _checked(raw_text: str, types: str = _walk.ELEMENT_TYPES_REPR) -> list[str]:
    """The official warnings after the ensure-ASCII scan, by the fastest exact Python route."""
    known = fast_findings(raw_text, types)  # typed decoding decides most texts without a full walk
    if known is not None:
        return known
    try:
        value = orjson.loads(raw_text)
    except orjson.JSONDecodeError:
        pass  # json.loads decides, and words the error
    else:
        if plainly_readable(raw_text):  # orjson reads some texts json.loads cannot
            try:
                return [m for _, _, m in _walk.walk(value, True, types=types)]
            except _walk.NeedExactParse:
                pass
    value, error = _parsed(raw_text)
    if error is not None:
        return [f"invalid JSON: {error}"]
    return [m for _, _, m in _walk.walk(value, types=types)]


def _pure_verify_raw(raw_text: str) -> list[str]:
    """``verify_raw`` as a build without the C accelerator answers (for tests and the benchmark)."""
    return ensure_ascii_findings(raw_text) + _checked(raw_text)


class CaptionVerifier:
    """Verify Ideogram 4 JSON captions exactly as the official verifier does.

    Args:
        live_types: render the element-type set with ``repr(frozenset(...))`` in
            this process (order depends on ``PYTHONHASHSEED``) instead of the
            fixed, reproducible ``frozenset({'text', 'obj'})``.
    """

    top_level_known_keys: ClassVar[frozenset[str]] = _walk.TOP_LEVEL_KNOWN_KEYS
    style_description_key_order_photo: ClassVar[tuple[str, ...]] = _walk.STYLE_KEY_ORDER_PHOTO
    style_description_key_order_non_photo: ClassVar[tuple[str, ...]] = (
        _walk.STYLE_KEY_ORDER_NON_PHOTO
    )
    compositional_deconstruction_key_order: ClassVar[tuple[str, ...]] = (
        _walk.COMPOSITION_KEY_ORDER
    )
    element_key_order_obj: ClassVar[tuple[str, ...]] = _walk.ELEMENT_KEY_ORDER_OBJ
    element_key_order_text: ClassVar[tuple[str, ...]] = _walk.ELEMENT_KEY_ORDER_TEXT
    style_description_known_keys: ClassVar[frozenset[str]] = _walk.STYLE_KNOWN_KEYS
    element_known_keys: ClassVar[frozenset[str]] = _walk.ELEMENT_KNOWN_KEYS
    element_types: ClassVar[frozenset[str]] = _walk.ELEMENT_TYPES
    bbox_min: ClassVar[int] = _walk.BBOX_MIN
    bbox_max: ClassVar[int] = _walk.BBOX_MAX
    style_description_palette_max: ClassVar[int] = _walk.STYLE_PALETTE_MAX
    element_palette_max: ClassVar[int] = _walk.ELEMENT_PALETTE_MAX

    def __init__(self, *, live_types: bool = False) -> None:
        self._live_types = live_types
        # a value handed to every check, never shared state: verifiers of both kinds can run at once
        self._types = repr(frozenset({"obj", "text"})) if live_types else _walk.ELEMENT_TYPES_REPR

    def __repr__(self) -> str:
        return f"CaptionVerifier(live_types={self._live_types})"

    def verify(self, caption: Any) -> list[str]:
        """Check an already-parsed caption; return the official warnings (empty when valid)."""
        return [m for _, _, m in _walk.walk(caption, types=self._types)]

    def verify_raw(self, raw_text: str) -> list[str]:
        """Check caption text: the ensure-ASCII scan, then the JSON parse, then :meth:`verify`."""
        warnings = ensure_ascii_findings(raw_text)
        if _locate is not None:
            found = _locate(raw_text)  # C: proves most texts clean, or points at the suspect values
            if found is True or found is False:  # clean (canonical, or in another form)
                return warnings
            if found is not None:
                known = located_findings(raw_text, found, self._types)
                if known is not None:
                    return warnings + known
        return warnings + _checked(raw_text, self._types)

    def verify_file(self, path: str | Path) -> list[str]:
        """Check a caption file read as UTF-8 text (universal newlines, BOM kept)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            return [f"invalid JSON: {exc}"]
        return self.verify_raw(text)

    @classmethod
    def check_ensure_ascii_false(cls, raw_text: str, max_examples: int = 3) -> list[str]:
        """Warn when the text holds ``\\uXXXX`` escapes of non-ASCII characters and no literal ones."""
        return ensure_ascii_findings(raw_text, max_examples)

    def _style_description_key_order(self, sd: dict[str, Any]) -> tuple[str, ...]:
        return _walk.style_expected(sd)

    def _element_key_order(self, element: dict[str, Any]) -> tuple[str, ...]:
        return _walk.element_expected(element)

    @staticmethod
    def _check_key_order(obj: dict[str, Any], expected: tuple[str, ...], path: str) -> list[str]:
        out: list[_walk.Finding] = []
        _walk.check_key_order(obj, expected, path, out)
        return [message for _, _, message in out]

    @staticmethod
    def _check_unknown_keys(obj: dict[str, Any], known: frozenset[str], path: str) -> list[str]:
        out: list[_walk.Finding] = []
        _walk.check_unknown_keys(obj, known, path, out)
        return [message for _, _, message in out]
