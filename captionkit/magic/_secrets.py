"""Key hygiene: a masked secret type and a logging filter that redacts keys everywhere."""

from __future__ import annotations

import logging
import re
import threading

_SENSITIVE_HEADERS = ("authorization", "api-key", "x-api-key", "proxy-authorization")
_HEADER_VALUE = re.compile(
    r"(?i)(['\"]?(?:" + "|".join(map(re.escape, _SENSITIVE_HEADERS)) + r")['\"]?\s*[:=,]\s*(?:b?['\"])?)"
    r"(?:Bearer\s+)?[^'\"\s,)\]}]+"
)
_LOGGERS = (
    "captionkit",
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
)
_known: dict[str, None] = {}  # insertion-ordered set of live key values, bounded
_lock = threading.Lock()
_MAX_KNOWN = 256


class Secret:
    """An API key whose ``repr`` and ``str`` never show it; it refuses to be pickled.

    >>> key = Secret("sk-or-v1-0123456789abcdef")
    >>> key
    Secret('********')
    >>> f"{key}"
    '********'
    >>> key.get_secret_value()[-4:]
    'cdef'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

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


def register_secret(value: str) -> None:
    """Remember a key so that :func:`redact` and the log filter remove it from any text."""
    if len(value) < 4:  # too short to scrub without mangling ordinary text
        return
    with _lock:
        _known.pop(value, None)
        _known[value] = None
        while len(_known) > _MAX_KNOWN:
            _known.pop(next(iter(_known)))


def redact(text: str) -> str:
    """Remove sensitive header values and every known key from ``text``.

    >>> redact("headers: [(b'api-key', b'abc123secret')]")
    "headers: [(b'api-key', b'<redacted>')]"
    >>> redact("Authorization: Bearer sk-test-1234")
    'Authorization: <redacted>'
    """
    text = _HEADER_VALUE.sub(lambda m: m.group(1) + "<redacted>", text)
    with _lock:
        known = list(_known)
    for value in known:
        if value in text:
            text = text.replace(value, "<redacted>")
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites records so no key or auth header value is emitted."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's business, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_filter = RedactingFilter()


def install_log_filter() -> None:
    """Attach the redacting filter to captionkit's, httpx's and httpcore's loggers (idempotent)."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _filter not in logger.filters:
            logger.addFilter(_filter)
