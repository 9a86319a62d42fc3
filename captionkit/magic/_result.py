"""Result records of :func:`captionkit.magic.expand` and :func:`captionkit.magic.expand_many`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from captionkit.magic._secrets import scrub


@dataclass(frozen=True, slots=True)
class ExpandResult:
    """A verified caption and how it was obtained.

    Attributes:
        caption: The caption model (:class:`captionkit.Caption`).
        text: Its canonical JSON text (what a pipeline receives).
        aspect_ratio: The resolved ratio, ``"W:H"``: the hosted bucket, the model's echo, or the
            ratio sent; ``None`` only when ``auto`` was asked and nothing was echoed.
        requested_aspect: The ratio asked for (``"7:4"`` or ``"auto"``).
        aspect_error: Relative error of snapping the request to a hosted bucket (0.0 if none).
        backend: The registry key.
        model: The model slug sent or reported (``None`` for the hosted endpoint).
        prompt: The system prompt's id (``name@version#hash``); ``None`` for the hosted endpoint.
        attempts: Replies requested: 1 plus the number of re-asks.
        transport_attempts: HTTP requests sent, retries included.
        usage: Token usage summed over all replies, when the backend reports it.
        request_id: The last request or generation id, when reported.
        changes: Every repair applied to the accepted reply (``.code``, ``.message``, ``.applicability``, ``.safe``).
        diagnostics: Remaining findings (a :class:`captionkit.Report`; no errors, maybe warnings).
        metadata: Values moved out of the caption, such as the model's ``aspect_ratio`` echo.
        warnings: One-line notes (snapping error, a suspiciously small prompt-token count).
        elapsed: Seconds from the first request to the result.
    """

    caption: Any
    text: str
    aspect_ratio: str | None
    requested_aspect: str
    aspect_error: float
    backend: str
    model: str | None
    prompt: str | None
    attempts: int
    transport_attempts: int
    usage: Mapping[str, Any] | None
    request_id: str | None
    changes: tuple[Any, ...] = ()
    diagnostics: Any = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    elapsed: float = 0.0

    def __str__(self) -> str:
        return self.text

    def summary(self) -> str:
        """One line for people: backend, ratio, attempts, repairs.

        >>> r = ExpandResult(None, "{}", "16:9", "7:4", 0.016, "ideogram-4-v1", None, None, 1, 1, None, None)
        >>> r.summary()
        'ideogram-4-v1 · aspect 16:9 (asked 7:4, 1.6% off) · 1 reply · 1 request · 0 repairs'
        """
        parts = [self.backend if self.model is None else f"{self.backend} ({self.model})"]
        aspect = f"aspect {self.aspect_ratio or 'auto'}"
        if self.requested_aspect != (self.aspect_ratio or "auto"):
            aspect += f" (asked {self.requested_aspect}"
            aspect += f", {self.aspect_error:.1%} off)" if self.aspect_error else ")"
        parts.append(aspect)
        parts.append(f"{self.attempts} repl{'y' if self.attempts == 1 else 'ies'}")
        parts.append(f"{self.transport_attempts} request{'' if self.transport_attempts == 1 else 's'}")
        parts.append(f"{len(self.changes)} repair{'' if len(self.changes) == 1 else 's'}")
        if self.usage and self.usage.get("total_tokens"):
            parts.append(f"{self.usage['total_tokens']} tokens")
        return " · ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSONL): the caption as an object plus provenance."""
        return {
            "caption": self.caption.to_dict() if self.caption is not None else None,
            "aspect_ratio": self.aspect_ratio,
            "requested_aspect": self.requested_aspect,
            **provenance(self),
            "warnings": list(self.warnings),
            "elapsed": round(self.elapsed, 4),
        }


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One idea of a batch: its result, or the error that stopped it.

    Attributes:
        index: Position in the input (results keep input order).
        id: The item's id (``str(index)`` when the input gave none).
        idea: The idea text.
        result: The :class:`ExpandResult`, or ``None`` on error.
        error: The exception, or ``None`` on success.
    """

    index: int
    id: str
    idea: str
    result: ExpandResult | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when a caption was produced."""
        return self.error is None and self.result is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record written by ``captionkit expand --batch`` (with every live key redacted)."""
        return scrub(self._record())

    def _record(self) -> dict[str, Any]:
        if self.ok:
            assert self.result is not None
            return {"id": self.id, "ok": True, **self.result.to_dict()}
        assert self.error is not None
        return {"id": self.id, "ok": False, "error": error_record(self.error)}


def provenance(result: Any) -> dict[str, Any]:
    """How a result was obtained, as record data (what expand and describe records share)."""
    return {
        "backend": result.backend,
        "model": result.model,
        "prompt": result.prompt,
        "attempts": result.attempts,
        "transport_attempts": result.transport_attempts,
        "usage": dict(result.usage) if result.usage else None,
        "request_id": result.request_id,
        "changes": [
            {"code": c.code, "message": c.message, "safe": c.safe, "applicability": c.applicability}
            for c in result.changes
        ],
        "diagnostics": [str(d) for d in (result.diagnostics or ())],
    }


def error_record(error: BaseException) -> dict[str, Any]:
    """An error as record data: its type, its message and the facts it carries.

    >>> from captionkit.magic.errors import error_for_status
    >>> error_record(error_for_status(429, "ideogram-4-v1", "slow down"))["status_code"]
    429
    """
    record: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    for attr in ("status_code", "code", "request_id", "reason", "diagnostics"):
        value = getattr(error, attr, None)
        if value:
            record[attr] = list(value) if isinstance(value, tuple) else value
    return record
