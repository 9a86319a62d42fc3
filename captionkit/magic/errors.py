"""Typed errors of the magic-prompt client, rooted at :class:`MagicPromptError`.

Every error is a record: attributes hold the facts (status, provider code, request id,
truncated body, raw reply, diagnostics), ``str(error)`` is one line ending with what to do.
No error ever holds a request header or an API key: every message and attribute passes
:func:`captionkit.magic._secrets.redact` when the error is made, so a server that echoes the
key (whole, in part, or escaped) cannot put it into one. All of them pickle.

>>> err = error_for_status(429, "ideogram-4-v1", "too many requests in flight", code="inflight_limit")
>>> type(err).__name__, err.status_code, err.retryable
('RateLimitError', 429, True)
>>> str(err).startswith("ideogram-4-v1: HTTP 429 (inflight_limit): too many requests in flight")
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from captionkit.magic._secrets import (
    APIKeyWarning,
    ConfigurationError,
    InvalidAPIKeyError,
    MagicPromptError,
    redact,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIKeyWarning",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "CaptionParseError",
    "CaptionRepairError",
    "CaptionTruncatedError",
    "CaptionVerificationError",
    "ConfigurationError",
    "InsufficientCreditsError",
    "InternalServerError",
    "InvalidAPIKeyError",
    "MagicPromptError",
    "MissingAPIKeyError",
    "ModerationError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SafetyRejectedError",
    "error_for_status",
]

#: Bodies kept on errors are cut to this many characters.
BODY_LIMIT = 600


def truncate(text: str, limit: int = BODY_LIMIT) -> str:
    """Cut ``text`` to ``limit`` characters, marking the cut; keys are redacted before the cut.

    Redacting first means a cut through a key never leaves a piece too short to recognise.

    >>> truncate("x" * 10, 4)
    'xxxx… (6 more characters)'
    """
    text = redact(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


class MissingAPIKeyError(ConfigurationError):
    """No API key: neither passed nor in the backend's environment variables.

    Attributes:
        backend: The registry key.
        env_vars: The variables that were looked at, in order.
    """

    backend: str
    env_vars: tuple[str, ...]

    @classmethod
    def for_backend(cls, backend: str, env_vars: Sequence[str]) -> MissingAPIKeyError:
        names = " or ".join(env_vars)
        return cls(
            f"{backend}: no API key; set {names} or pass api_key=...",
            backend=backend,
            env_vars=tuple(env_vars),
        )


class APIError(MagicPromptError):
    """A failure talking to a backend.

    Attributes:
        backend: The registry key.
        request_id: The provider's request or generation id, when known.
        retryable: Whether the transport policy retries this failure.
    """

    backend: str = ""
    request_id: str | None = None
    retryable: bool = False


class APIConnectionError(APIError):
    """The request never got a response (DNS, refused or reset connection, TLS)."""

    retryable = True


class APITimeoutError(APIConnectionError):
    """A phase timeout (connect, read, write, pool) or the overall deadline ran out.

    Attributes:
        phase: ``connect``, ``read``, ``write``, ``pool`` or ``deadline``.
    """

    phase: str = "read"


class APIResponseError(APIError):
    """A 2xx response that does not carry a usable result (no choices, no ``json_prompt``)."""


class APIStatusError(APIError):
    """An HTTP error status, or a 200 whose body reports an error.

    Attributes:
        status_code: The HTTP status (or the body's ``error.code`` for a 200 with an error).
        code: The provider's error code or ``reject_reason`` (``inflight_limit``), if any.
        body: The response body, truncated to 600 characters, with any key removed.
        retry_after: Seconds the server asked to wait, if it said.
    """

    status_code: int = 0
    code: str | None = None
    body: str = ""
    retry_after: float | None = None


class BadRequestError(APIStatusError):
    """400: the request was malformed or a parameter was rejected."""


class AuthenticationError(APIStatusError):
    """401: the key is missing, wrong or expired."""


class InsufficientCreditsError(APIStatusError):
    """402: out of credits or over a plan limit (retryable only for an in-flight budget)."""


class PermissionDeniedError(APIStatusError):
    """403: no access to this endpoint or model."""


class ModerationError(PermissionDeniedError):
    """403 raised by a moderation or guardrail flag (the provider's reasons are in ``body``)."""


class NotFoundError(APIStatusError):
    """404: wrong base URL or path, or an unknown model."""


class SafetyRejectedError(APIStatusError):
    """422: the prompt failed the provider's safety check."""


class RateLimitError(APIStatusError):
    """429: too many requests (or too many in flight)."""


class InternalServerError(APIStatusError):
    """5xx: the provider or an upstream model failed."""


_HINTS: dict[int, str] = {
    400: "check the model name and parameters (see the body)",
    401: "the API key was rejected; check it is the key for this backend",
    402: "add credits or wait for the plan limit to reset",
    403: "this key has no access, or the prompt was flagged",
    404: "check --base-url (the API root, e.g. .../v1) and the model name",
    408: "the server timed out; try again",
    413: "the request is too large",
    422: "the idea was rejected by the safety check; rephrase it",
    429: "rate limited; lower --concurrency or try again later",
}

_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    422: SafetyRejectedError,
    429: RateLimitError,
}


def error_for_status(
    status: int,
    backend: str,
    detail: str,
    *,
    code: str | None = None,
    body: str = "",
    request_id: str | None = None,
    retry_after: float | None = None,
    retryable: bool | None = None,
    moderation: bool = False,
) -> APIStatusError:
    """Build the typed error for an HTTP status (``retryable`` defaults to the transport policy)."""
    cls: type[APIStatusError]
    if status >= 500:
        cls = InternalServerError
    elif status == 403 and moderation:
        cls = ModerationError
    else:
        cls = _CLASSES.get(status, APIStatusError)
    if retryable is None:
        retryable = status in (408, 429) or status >= 500 or code == "inflight_limit"
    detail, body = redact(detail, headers=True), redact(body, headers=True)  # a server may echo the key
    hint = _HINTS.get(status) or ("the provider failed; try again later" if status >= 500 else "")
    where = f" ({code})" if code else ""
    rid = f" [request {request_id}]" if request_id else ""
    detail = " ".join(truncate(detail, 300).split()) or "no error message"
    message = f"{backend}: HTTP {status}{where}: {detail}{rid}"
    if hint:
        message += f"; {hint}"
    return cls(
        message,
        backend=backend,
        status_code=status,
        code=code,
        body=truncate(body),
        request_id=request_id,
        retry_after=retry_after,
        retryable=retryable,
    )


class CaptionRepairError(MagicPromptError, ValueError):
    """The backend answered, but no valid caption could be made from its replies.

    Attributes:
        backend: The registry key.
        raw: The last raw reply (text, or the hosted ``json_prompt`` as JSON), truncated.
        diagnostics: The remaining problems, one line each (verifier messages where they exist).
        report: The last :class:`captionkit.Report`, when the reply could be parsed.
        text: The last canonical caption text, when the reply could be parsed.
        attempts: How many replies were tried (1 + re-asks).
        reason: ``parse``, ``truncated`` or ``verification``.
    """

    backend: str = ""
    raw: str = ""
    diagnostics: tuple[str, ...] = ()
    report: Any = None
    text: str | None = None
    attempts: int = 1
    reason: str = "verification"


class CaptionParseError(CaptionRepairError):
    """No JSON object could be extracted from the reply."""


class CaptionTruncatedError(CaptionRepairError):
    """The reply was cut off by the output-token limit (``finish_reason: length``)."""


class CaptionVerificationError(CaptionRepairError):
    """A caption was parsed but still fails verification after repairs and re-asks."""
