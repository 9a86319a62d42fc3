"""Key hygiene: key checks, a masked secret type, and the one redactor every output goes through.

A key enters through :class:`Secret`, which strips surrounding whitespace (with a warning) and
refuses characters no HTTP header can carry; a client holds it (:class:`Hold`) while it is open.
Everything that leaves the magic-prompt client then passes :func:`scrub` (results, errors and
their chains, batch records) or the log-record factory installed by :func:`install_log_filter`
(every log record of the process), and both use :func:`redact`.

What :func:`redact` removes, for every live key:

- any run of at least :data:`PARTIAL` consecutive characters of the key (a server echoing
  the key's first 12 characters is caught), except runs that are ordinary words (see
  :func:`pieces`); a key shorter than that is removed whole, and a key shorter than
  :data:`SHORTEST` is not removed at all (it would mangle ordinary words, and nothing that
  short is a secret);
- in its raw form and in escaped forms, decoded up to :data:`_LEVELS` times: JSON and Python
  escapes (``\\u0073``, ``\\x73``, ``\\"``, ``\\\\``), percent-encoding (``%73``) and HTML
  character references (``&#115;``), mixed freely with raw characters.

>>> hold = Hold(Secret("sk-test-0123456789abcdef"))  # what a client does while it is open
>>> redact("invalid key sk-test-0123456789abcdef")
'invalid key <redacted>'
>>> redact("key prefix sk-test-0123 rejected")
'key prefix <redacted> rejected'
>>> redact(r'{"error": "\\u0073\\u006b-test-0123456789abcdef"}')
'{"error": "<redacted>"}'
>>> redact("q=sk-test-%30%31%32%33%34%35%36")
'q=<redacted>'
>>> hold.release()
"""

from __future__ import annotations

import bisect
import copy
import dataclasses
import functools
import itertools
import logging
import re
import sys
import threading
import traceback
import unicodedata
import warnings
from collections.abc import Mapping
from enum import Enum
from typing import Any

from captionkit._errors import CaptionkitError
from captionkit.diagnostics import Report

#: What replaces a key (or a piece of one).
MARKER = "<redacted>"
#: Shortest run of a key's characters that is redacted on its own.
PARTIAL = 8
#: Keys shorter than this are not redacted (see the module docs).
SHORTEST = 4
#: The whitespace stripped from around a key (ASCII only: other characters are refused).
KEY_WHITESPACE = " \t\r\n\x0b\x0c"
#: How many layers of escaping are undone when looking for a key.
_LEVELS = 4

_SENSITIVE_HEADERS = ("authorization", "api-key", "x-api-key", "proxy-authorization")
_HEADER_VALUE = re.compile(
    r"(?i)(['\"]?(?:" + "|".join(map(re.escape, _SENSITIVE_HEADERS)) + r")['\"]?\s*[:=,]\s*(?:b?['\"])?)"
    r"(?:Bearer\s+)?[^'\"\s,)\]}]+"
)
_HEADER_LOGGERS = frozenset({"captionkit", "httpx", "httpcore"})
_LOGGERS = (
    "captionkit",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)

_log = logging.getLogger("captionkit.magic")
# a library's records go where the application sends them, never to logging's last resort
logging.getLogger("captionkit").addHandler(logging.NullHandler())

# Live keys: each hold (a client, from creation to close) registers its key under a token of
# its own, so two clients with one key do not release each other's, and a closed client's key
# stops being looked for (a short test key such as "k-describe" would otherwise go on redacting
# "captionkit-describe-v1" long after its client is gone).
_live: dict[int, str] = {}
_ids = itertools.count()
# Re-entrant: a client that is garbage-collected releases its hold from a finalizer, which can run
# on this thread at any allocation, also while the lock is held (a plain Lock would deadlock).
_lock = threading.RLock()


# -- the errors key hygiene raises and stands in with: the root of the magic-prompt errors lives
# here, beside the redactor its constructor uses (captionkit.magic.errors is their public home)


def _rebuild(cls: type[MagicPromptError], message: str, attrs: dict[str, Any]) -> MagicPromptError:
    obj = cls.__new__(cls)
    Exception.__init__(obj, message)
    obj.__dict__.update(attrs)
    return obj


class MagicPromptError(CaptionkitError):
    """Base class of every magic-prompt error (a :class:`~captionkit.CaptionkitError`).

    The message and every attribute are redacted as the error is made (see the module docs).
    """

    __module__ = "captionkit.magic.errors"

    def __init__(self, message: str, **attrs: Any) -> None:
        super().__init__(redact(str(message), headers=True))
        self.__dict__.update(scrub(attrs))

    @property
    def message(self) -> str:
        """The one-line message."""
        return str(self.args[0]) if self.args else ""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigurationError(MagicPromptError, ValueError):
    """The call cannot be made as configured (unknown backend, missing model or base URL)."""

    __module__ = "captionkit.magic.errors"


class InvalidAPIKeyError(ConfigurationError):
    """The API key cannot be sent: it is empty, or holds a character no header can carry.

    Raised before anything is sent. The message names the character and its position, never
    the key.

    Attributes:
        source: Where the key came from (``api_key`` or the environment variable).
    """

    __module__ = "captionkit.magic.errors"
    source: str = "api_key"


class APIKeyWarning(UserWarning):
    """The API key was changed before use (whitespace around it was removed)."""

    __module__ = "captionkit.magic.errors"



def clean_key(value: str, source: str = "api_key") -> str:
    """Strip ASCII whitespace around a key (warning when there was any) and check what is left.

    The warning is an :class:`~captionkit.magic.errors.APIKeyWarning` and a WARNING record on
    the ``captionkit.magic`` logger; neither shows the key.

    Args:
        value: The key as given.
        source: Where it came from, for messages (``api_key`` or an environment variable).

    Returns:
        The key without surrounding whitespace.

    Raises:
        InvalidAPIKeyError: The key is empty, or holds a character other than printable
            ASCII (a control character, a space inside it, a non-breaking space, any
            non-ASCII letter). The message names the character and its position, never the key.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     clean_key("sk-abc123\\r\\n", "IDEOGRAM_API_KEY")
    'sk-abc123'
    >>> str(caught[0].message)
    "IDEOGRAM_API_KEY: removed whitespace around the API key (a trailing '\\\\r\\\\n')"
    >>> clean_key("sk-abc\\xa0123")
    Traceback (most recent call last):
    ...
    captionkit.magic.errors.InvalidAPIKeyError: api_key: the API key holds U+00A0 NO-BREAK SPACE at character 7 of 10; an API key is printable ASCII without spaces: copy it again
    """
    if not isinstance(value, str):
        raise InvalidAPIKeyError(f"{source}: the API key must be a string, got {type(value).__name__}", source=source)
    stripped = value.strip(KEY_WHITESPACE)
    if not stripped:
        raise InvalidAPIKeyError(f"{source}: the API key is empty", source=source)
    if stripped != value:
        head = value[: len(value) - len(value.lstrip(KEY_WHITESPACE))]
        tail = value[len(value.rstrip(KEY_WHITESPACE)) :]
        where = " and ".join(
            f"a {side} {text!r}" for side, text in (("leading", head), ("trailing", tail)) if text
        )
        message = f"{source}: removed whitespace around the API key ({where})"
        warnings.warn(message, APIKeyWarning, stacklevel=_outside())
        _log.warning(message)
    for index, char in enumerate(stripped):
        if not "\x21" <= char <= "\x7e":
            if char == " ":
                what = "a space"
            else:
                what = f"U+{ord(char):04X} {unicodedata.name(char, 'a control character')}"
            raise InvalidAPIKeyError(
                f"{source}: the API key holds {what} at character {index + 1} of {len(stripped)}; "
                "an API key is printable ASCII without spaces: copy it again",
                source=source,
            )
    return stripped


def _outside() -> int:
    """The ``stacklevel`` of the first caller outside captionkit.magic (where a warning belongs)."""
    frame = sys._getframe(2)
    level = 2
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("captionkit.magic"):
        frame = frame.f_back
        level += 1
    return level


class Secret:
    """An API key whose ``repr`` and ``str`` never show it; it refuses to be pickled.

    Creating one checks the key (:func:`clean_key`). A client holds its key (:class:`Hold`)
    from creation to ``close()``, and :func:`redact` removes every held key from all output.

    >>> key = Secret("sk-or-v1-0123456789abcdef")
    >>> key
    Secret('********')
    >>> f"{key}"
    '********'
    >>> key.get_secret_value()[-4:]
    'cdef'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str, source: str = "api_key") -> None:
        self._value = clean_key(value, source)

    def get_secret_value(self) -> str:
        """The key itself; call only where it goes into a header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> str:
        raise TypeError("captionkit.magic.Secret cannot be pickled")


class Hold:
    """Keeps a key registered for redaction until :meth:`release` (idempotent; re-acquirable).

    A client takes one when it is made and at every call, and releases it in ``close()``; one
    that is never closed releases it when it is garbage-collected.

    >>> with Hold(Secret("sk-test-0123456789abcdef")):
    ...     redact("echo sk-test-0123456789abcdef")
    'echo <redacted>'
    >>> redact("echo sk-test-0123456789abcdef")
    'echo sk-test-0123456789abcdef'
    """

    __slots__ = ("_value", "_token", "__weakref__")

    def __init__(self, secret: Secret) -> None:
        self._value = secret.get_secret_value()
        self._token: int | None = None
        self.acquire()

    def acquire(self) -> None:
        """Register the key (again, after a release)."""
        with _lock:
            if self._token is None:
                self._token = next(_ids)
                _live[self._token] = self._value

    def release(self) -> None:
        """Stop redacting this key (other holds of the same key keep it registered)."""
        with _lock:
            if self._token is not None:
                _live.pop(self._token, None)
                self._token = None

    def __enter__(self) -> Hold:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"Hold({'held' if self._token is not None else 'released'})"


def live_keys() -> tuple[str, ...]:
    """The keys currently held that are long enough to redact."""
    with _lock:
        while True:
            try:
                values = set(_live.values())
                break
            except RuntimeError:  # a finalizer released a hold while the values were read: again
                continue
    return tuple(sorted(v for v in values if len(v) >= SHORTEST))


_SIMPLE = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'"}
# Characters that start an escape: decoding them can uncover another layer.
_ESCAPE_STARTS = frozenset("\\%&")


def _unescape(m: re.Match[str]) -> str:
    kind = m.lastgroup
    value = m.group(kind or 0)
    if kind == "c":
        return _SIMPLE.get(value, value)
    if kind == "n":
        return _ENTITIES[value]
    code = int(value, 10 if kind == "d" else 16)
    return chr(code) if code <= 0x10FFFF else "\ufffd"


def _escape_pattern(wanted: frozenset[str]) -> re.Pattern[str]:
    """One layer of escaping, limited to escapes of ``wanted`` characters (the rest cannot matter).

    JSON and Python backslash escapes, percent-encoding, and HTML character references. Keys
    are printable ASCII, so every wanted code point has two hex digits.
    """
    codes = sorted(ord(c) for c in wanted if ord(c) < 0x80)
    hexes = "|".join(f"{c:02x}" for c in codes)
    decimals = "|".join(str(c) for c in codes)
    simple = "".join(re.escape(c) for c in "\\\"'/" if c in wanted)
    entities = "|".join(name for name, char in _ENTITIES.items() if char in wanted)
    return re.compile(
        rf"""\\u(?P<u>00(?i:{hexes}))
          | \\U(?P<U>000000(?i:{hexes}))
          | \\x(?P<x>(?i:{hexes}))
          | \\(?P<c>[{simple}])
          | %(?P<p>(?i:{hexes}))
          | &\#(?P<d>0*(?:{decimals}));
          | &\#[xX](?P<h>0*(?i:{hexes}));
          | &(?P<n>{entities});""",
        re.VERBOSE,
    )


class _View:
    """A decoding of the text, with the way back: where each of its characters came from.

    Only the decoded escapes are recorded (``units``: new index, old start, old end), so a view
    costs as much as its escapes, not as its length; characters between them are copied.
    """

    __slots__ = ("text", "parent", "new", "old_start", "old_end")

    def __init__(self, text: str, parent: _View | None = None, units: list[tuple[int, int, int]] | None = None) -> None:
        self.text = text
        self.parent = parent
        units = units or []
        self.new = [u[0] for u in units]
        self.old_start = [u[1] for u in units]
        self.old_end = [u[2] for u in units]

    def _old(self, i: int) -> tuple[int, int]:
        """The span in the parent view of character ``i``."""
        k = bisect.bisect_right(self.new, i) - 1
        if k < 0:
            return i, i + 1
        if self.new[k] == i:
            return self.old_start[k], self.old_end[k]
        at = self.old_end[k] + (i - self.new[k] - 1)
        return at, at + 1

    def span(self, i: int, j: int) -> tuple[int, int]:
        """The span in the original text of characters ``i`` to ``j`` (exclusive) of this view."""
        view: _View = self
        while view.parent is not None:
            i, j = view._old(i)[0], view._old(j - 1)[1]
            view = view.parent
        return i, j


class _Keys:
    """The live keys compiled for searching: their windows, and runs of their characters."""

    def __init__(self, keys: tuple[str, ...]) -> None:
        self.windows: dict[int, frozenset[str]] = {}
        for key in keys:
            for piece in pieces(key):
                self.windows[len(piece)] = self.windows.get(len(piece), frozenset()) | {piece}
        self.alphabet = frozenset("".join(keys))
        # a window can only sit inside a run of key characters at least as long as it
        chars = "".join(map(re.escape, sorted(self.alphabet)))
        self.runs = re.compile(f"[{chars}]{{{min(self.windows)},}}")
        self.escape = _escape_pattern(self.alphabet | _ESCAPE_STARTS)

    def views(self, text: str) -> list[_View]:
        """``text`` and its successive decodings (up to :data:`_LEVELS` layers)."""
        view = _View(text)
        views = [view]
        for _ in range(_LEVELS):
            current = view.text
            if not any(c in current for c in _ESCAPE_STARTS):
                break
            parts: list[str] = []
            units: list[tuple[int, int, int]] = []
            pos = size = 0
            for m in self.escape.finditer(current):
                a, b = m.span()
                parts.append(current[pos:a])
                size += a - pos
                units.append((size, a, b))
                parts.append(_unescape(m))
                size += 1
                pos = b
            if not units:
                break
            parts.append(current[pos:])
            view = _View("".join(parts), view, units)
            views.append(view)
        return views

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where pieces of a key sit in ``text`` (in any view), as spans of ``text``."""
        found: list[tuple[int, int]] = []
        for view in self.views(text):
            decoded = view.text
            for run in self.runs.finditer(decoded):
                lo, hi = run.span()
                for width, windows in self.windows.items():
                    for i in range(lo, hi - width + 1):
                        if decoded[i : i + width] in windows:
                            found.append(view.span(i, i + width))
        return found


def pieces(key: str) -> frozenset[str]:
    """The pieces of ``key`` that :func:`redact` removes wherever they appear.

    Every run of :data:`PARTIAL` characters, except a run that is an ordinary word (ASCII
    letters of one case, such as ``describe`` in the test key ``k-describe``): that would
    redact the word from every message. A random key rarely holds one, and a longer echo is
    still caught by the runs around it. The whole key is always a piece.

    >>> sorted(pieces("k-describe"))
    ['-describ', 'k-descri', 'k-describe']
    >>> sorted(pieces("Zq9x!"))
    ['Zq9x!']
    """
    width = min(PARTIAL, len(key))
    runs = {key[i : i + width] for i in range(len(key) - width + 1)}
    return frozenset(r for r in runs if not _word(r)) | {key}


def _word(run: str) -> bool:
    return run.isascii() and run.isalpha() and (run.islower() or run.isupper())


@functools.lru_cache(maxsize=64)
def _compiled(keys: tuple[str, ...]) -> _Keys:
    return _Keys(keys)


def redact(text: str, *, headers: bool = False) -> str:
    """Replace every live key, whole or in part, raw or escaped, with ``<redacted>``.

    Args:
        text: Any text.
        headers: Also replace the values of authorization headers (``Authorization``,
            ``Api-Key``...), whatever they hold; used for log records and error messages.

    >>> redact("headers: [(b'api-key', b'abc123secret')]", headers=True)
    "headers: [(b'api-key', b'<redacted>')]"
    >>> redact("Authorization: Bearer sk-test-1234", headers=True)
    'Authorization: <redacted>'
    """
    if headers:
        text = _HEADER_VALUE.sub(lambda m: m.group(1) + MARKER, text)
    keys = live_keys()
    if not keys or not text:
        return text
    spans = _compiled(keys).spans(text)
    if not spans:
        return text
    spans.sort()
    out: list[str] = []
    pos = 0
    start, end = spans[0]
    for a, b in spans[1:]:
        if a <= end:  # overlapping or touching runs become one marker
            end = max(end, b)
            continue
        out += (text[pos:start], MARKER)
        pos, start, end = end, a, b
    out += (text[pos:start], MARKER, text[end:])
    return "".join(out)


def contains_key(text: str) -> bool:
    """Whether ``text`` holds a live key or a redactable piece of one (in any form :func:`redact` knows)."""
    return redact(text) != text


def scrub(value: Any, *, headers: bool = False) -> Any:
    """A copy of ``value`` with :func:`redact` applied to every string inside it.

    Walks strings, bytes, lists, tuples, sets, mappings (keys too), dataclasses, pydantic
    models, :class:`captionkit.Report` and exceptions (see :func:`scrub_exception`). Returns
    ``value`` itself when nothing had to change; other objects are returned as they are.

    >>> with Hold(Secret("sk-test-0123456789abcdef")):
    ...     scrub({"model": "m", "echo": ["sk-test-0123456789abcdef", 3]})
    {'model': 'm', 'echo': ['<redacted>', 3]}
    """
    if not live_keys() and not headers:
        return value
    return _scrub(value, headers, 0)


def _scrub(value: Any, headers: bool, depth: int) -> Any:
    if depth > 64 or value is None or isinstance(value, bool | int | float | Enum):
        return value
    if isinstance(value, str):
        return redact(value, headers=headers)
    if isinstance(value, bytes | bytearray):
        text = bytes(value).decode("utf-8", "surrogateescape")
        cleaned = redact(text, headers=headers)
        return value if cleaned == text else type(value)(cleaned.encode("utf-8", "surrogateescape"))
    if isinstance(value, BaseException):
        return scrub_exception(value)
    d = depth + 1
    if type(value) in (list, tuple, set, frozenset):
        items = [_scrub(v, headers, d) for v in value]
        if all(a is b for a, b in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, Mapping):
        pairs = [(_scrub(k, headers, d), _scrub(v, headers, d)) for k, v in value.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(pairs, value.items(), strict=True)):
            return value
        return dict(pairs)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changed = {}
        for f in dataclasses.fields(value):
            old = getattr(value, f.name)
            new = _scrub(old, headers, d)
            if new is not old:
                changed[f.name] = new
        if not changed:
            return value
        clone = copy.copy(value)
        for name, new in changed.items():
            object.__setattr__(clone, name, new)
        return clone
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        changed = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = _scrub(old, headers, d)
            if new is not old:
                changed[name] = new
        return value.model_copy(update=changed) if changed else value
    if isinstance(value, Report):
        items = [_scrub(v, headers, d) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else Report(items)
    return value


def _leaks(exc: BaseException) -> bool:
    try:
        return contains_key(str(exc)) or contains_key(repr(exc))
    except Exception:  # an exception whose str() fails cannot be shown at all
        return False


def _clean_in_place(exc: BaseException) -> bool:
    """Redact an exception's args, attributes and notes; return whether it is now clean."""
    try:
        args = _scrub(exc.args, True, 0)
        if args is not exc.args:
            exc.args = args
    except Exception:  # some exceptions refuse new args; then the check below decides
        pass
    attrs = getattr(exc, "__dict__", None)
    if isinstance(attrs, dict):  # attributes, __notes__ included
        for name, old in list(attrs.items()):
            new = _scrub(old, False, 1)
            if new is not old:
                attrs[name] = new
    return not _leaks(exc)


def scrub_exception(exc: BaseException) -> BaseException:
    """Redact an exception and its whole chain, in place; return it, or a clean stand-in.

    Args, attributes and ``__notes__`` are redacted on the exception and on every exception
    in its ``__cause__``/``__context__`` chain. A context hidden by ``raise ... from None`` is
    dropped (it is never shown, and may hold the request that carried the key). A chained
    exception that stays readable only with the key in it is cut from the chain. If ``exc``
    itself cannot be cleaned, a :class:`~captionkit.magic.errors.MagicPromptError` with its
    redacted message and traceback is returned instead.
    """
    if not live_keys():
        return exc
    seen: set[int] = set()
    todo = [exc]
    while todo:
        link = todo.pop()
        if id(link) in seen:
            continue
        seen.add(id(link))
        if link.__suppress_context__ and link.__cause__ is None:
            link.__context__ = None
        for attr in ("__cause__", "__context__"):
            chained = getattr(link, attr)
            if chained is None:
                continue
            if _clean_in_place(chained):
                todo.append(chained)
            else:
                setattr(link, attr, None)
    if _clean_in_place(exc):
        return exc
    try:
        message = redact(str(exc), headers=True)
    except Exception:  # an exception whose str() fails: its type is all there is to say
        message = ""
    stand_in = MagicPromptError(f"{type(exc).__name__}: {message}" if message else type(exc).__name__)
    return stand_in.with_traceback(exc.__traceback__)


def _redact_record(record: logging.LogRecord, *, headers: bool) -> None:
    """Redact a record's message, formatted exception and stack (``headers``: auth headers too)."""
    if not headers and not live_keys():
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken record is the logging module's business, not ours
        return
    cleaned = redact(message, headers=headers)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
        text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if contains_key(text):
            record.exc_text = redact(text, headers=True)  # what formatters print instead
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites records so no key or auth header value is emitted.

    :func:`install_log_filter` puts it on captionkit's, httpx's and httpcore's loggers; attach
    it to a handler to cover records whatever their logger.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record, headers=True)
        return True


_filter = RedactingFilter()


class _RedactingFactory:
    """Wraps the process's log-record factory: every record is redacted as it is made."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        _redact_record(record, headers=record.name.split(".", 1)[0] in _HEADER_LOGGERS)
        return record


def install_log_filter() -> None:
    """Redact every log record of the process while a key lives (idempotent).

    Wraps the log-record factory, so records of any logger are covered, and puts a
    :class:`RedactingFilter` on captionkit's, httpx's and httpcore's loggers as well (it also
    masks auth header values, and still works if another library replaces the factory).
    """
    with _lock:
        factory = logging.getLogRecordFactory()
        if not isinstance(factory, _RedactingFactory):
            logging.setLogRecordFactory(_RedactingFactory(factory))
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
