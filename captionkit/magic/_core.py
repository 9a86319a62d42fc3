"""The sans-IO core: configuration, request building, response handling, retries and re-asks.

The whole call is a generator that yields :class:`Send` and :class:`Sleep` actions and receives
:class:`RawResponse` values (or has transport exceptions thrown into it). The sync and async
clients only drive it: they differ in how they send and how they sleep, nothing else.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from captionkit.magic._aspect import AspectRatio, ratio_from_wire
from captionkit.magic._backends import (
    Backend,
    PreparedRequest,
    Reply,
    build_chat_request,
    build_hosted_request,
    parse_response,
)
from captionkit.magic._prompt import PromptFile
from captionkit.magic._repair import Outcome, process_reply
from captionkit.magic._result import ExpandResult
from captionkit.magic._secrets import redact, scrub, scrub_exception
from captionkit.magic.errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    CaptionParseError,
    CaptionRepairError,
    CaptionTruncatedError,
    CaptionVerificationError,
    truncate,
)

#: Per-phase timeouts: connect, read (per chunk, as upstream's 120 s), write, pool.
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=120.0, write=30.0, pool=10.0)
#: Overall deadline of one ``expand`` call, retries and re-asks included (seconds).
DEFAULT_DEADLINE = 600.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Transport retries: jittered exponential backoff that honours ``Retry-After``.

    The defaults are the OpenAI and Anthropic SDKs': 2 retries, 0.5 s doubling to at most 8 s,
    each delay multiplied by ``1 - jitter * random()``.

    >>> policy = RetryPolicy(jitter=0.0)
    >>> [policy.delay(n) for n in range(5)]
    [0.5, 1.0, 2.0, 4.0, 8.0]
    >>> policy.delay(0, retry_after=3.0)
    3.0
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    multiplier: float = 2.0
    max_delay: float = 8.0
    jitter: float = 0.25

    def delay(self, retry: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        if retry_after is not None and retry_after > 0:
            return retry_after
        base = min(self.initial_delay * self.multiplier**retry, self.max_delay)
        return base * (1.0 - self.jitter * (rng or random).random())


@dataclass(frozen=True, slots=True)
class CallConfig:
    """Everything one ``expand`` call needs except secrets and the HTTP client."""

    backend: Backend
    base_url: str
    model: str | None
    prompt: PromptFile
    strip_bboxes: bool = True
    style: bool = True
    max_reasks: int = 2
    max_tokens: int | None = 16384
    max_tokens_field: str = "max_tokens"
    temperature: float | None = None
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    unsafe_fixes: bool = False
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)
    deadline: float | None = DEFAULT_DEADLINE
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True, slots=True)
class Send:
    """Action: send ``request`` (add the auth header) within ``timeout``, before ``deadline_at``."""

    request: PreparedRequest
    timeout: httpx.Timeout
    deadline_at: float | None


@dataclass(frozen=True, slots=True)
class Sleep:
    """Action: wait ``seconds``."""

    seconds: float


@dataclass(frozen=True, slots=True)
class RawResponse:
    """What a shell hands back for a :class:`Send`."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class DeadlineExceeded(Exception):
    """Thrown into the core by a shell when the overall deadline passes mid-response."""


Action = Send | Sleep
Flow = Generator[Action, RawResponse | None, Any]


def _attempt_timeout(timeout: httpx.Timeout, deadline_at: float | None) -> httpx.Timeout:
    if deadline_at is None:
        return timeout
    remaining = deadline_at - time.monotonic()
    if remaining <= 0:
        raise DeadlineExceeded

    def shrink(value: float | None) -> float:
        return remaining if value is None else min(value, remaining)

    return httpx.Timeout(
        connect=shrink(timeout.connect),
        read=shrink(timeout.read),
        write=shrink(timeout.write),
        pool=shrink(timeout.pool),
    )


@dataclass
class _Stats:
    transport_attempts: int = 0
    request_id: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    usage_seen: bool = False
    model: str | None = None

    def add_usage(self, usage: Mapping[str, Any] | None) -> None:
        if not usage:
            return
        self.usage_seen = True
        for key, value in usage.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                self.usage[key] = self.usage.get(key, 0) + value


def _timeout_phase(exc: httpx.TimeoutException) -> str:
    return {
        httpx.ConnectTimeout: "connect",
        httpx.ReadTimeout: "read",
        httpx.WriteTimeout: "write",
        httpx.PoolTimeout: "pool",
    }.get(type(exc), "read")


def send_with_retries(
    cfg: CallConfig, request: PreparedRequest, deadline_at: float | None, stats: _Stats
) -> Generator[Action, RawResponse | None, Reply]:
    """Send one request, retrying transient failures per ``cfg.retry``; return the parsed reply."""
    key = cfg.backend.key
    retry = 0
    while True:
        error: APIError
        try:
            timeout = _attempt_timeout(cfg.timeout, deadline_at)
            stats.transport_attempts += 1
            response = yield Send(request, timeout, deadline_at)
            assert response is not None
            reply = parse_response(cfg.backend, response.status, response.headers, response.body)
            if reply.request_id:
                stats.request_id = reply.request_id
            return reply
        except DeadlineExceeded:
            raise APITimeoutError(
                f"{key}: the overall deadline of {cfg.deadline:g} s passed "
                f"after {stats.transport_attempts} request(s); raise the deadline or try again",
                backend=key,
                phase="deadline",
                retryable=False,
            ) from None
        except httpx.TimeoutException as exc:
            phase = _timeout_phase(exc)
            error = APITimeoutError(
                f"{key}: {phase} timeout talking to {request.url}; the server is slow or unreachable",
                backend=key,
                phase=phase,
            )
        except httpx.TransportError as exc:
            detail = redact(str(exc), headers=True) or type(exc).__name__
            error = APIConnectionError(
                f"{key}: cannot reach {request.url} ({truncate(detail, 200)}); "
                "check --base-url and the network",
                backend=key,
            )
        except APIError as exc:
            error = exc
        if not error.retryable or retry >= cfg.retry.max_retries:
            raise error from None
        delay = cfg.retry.delay(retry, getattr(error, "retry_after", None))
        if deadline_at is not None and time.monotonic() + delay >= deadline_at:
            raise error from None  # never sleep past the deadline
        retry += 1
        yield Sleep(delay)


def expand_flow(cfg: CallConfig, idea: str, aspect: AspectRatio) -> Flow:
    """The whole ``expand`` call as a sans-IO generator returning an :class:`ExpandResult`."""
    return guarded(_expand(cfg, idea, aspect))


def guarded(flow: Flow) -> Flow:
    """``flow``, with its result and any exception that leaves it redacted: key hygiene's choke point.

    Every call runs as a flow that the shells drive, throwing every send failure into it, so
    all that a call returns or raises (with the exception's chain) passes
    :func:`~captionkit.magic._secrets.scrub` here, whatever the shell.
    """
    try:
        result = yield from flow
    except Exception as exc:
        clean = scrub_exception(exc)
        if clean is exc:
            raise
        failure = clean
    else:
        return clean_result(result)
    raise failure


def clean_result(result: Any) -> Any:
    """``result`` redacted; a result whose caption held a key gets its text re-derived from it."""
    clean = scrub(result)
    caption = getattr(clean, "caption", None)
    if caption is not None and caption is not getattr(result, "caption", None) and hasattr(clean, "text"):
        clean = replace(clean, text=caption.dumps())  # so the text and the caption agree
    return clean


def chat_request(cfg: CallConfig, messages: list[dict[str, Any]]) -> PreparedRequest:
    """The chat-completions request for ``messages`` under ``cfg`` (every chat call builds it so)."""
    return build_chat_request(
        cfg.base_url,
        cfg.backend.path,
        model=cfg.model,
        messages=messages,
        max_tokens=cfg.max_tokens,
        max_tokens_field=cfg.max_tokens_field,
        temperature=cfg.temperature,
        extra_body=cfg.extra_body,
        headers=cfg.headers,
    )


def follow_up(cfg: CallConfig, outcome: Outcome) -> dict[str, Any]:
    """The re-ask message after a failing reply: cut off, or the verifier's messages verbatim."""
    if outcome.reason == "truncated":
        return {"role": "user", "content": cfg.prompt.truncated_message()}
    return {"role": "user", "content": cfg.prompt.repair_message(list(outcome.problems))}


def repair_loop(
    cfg: CallConfig,
    messages: list[dict[str, Any]],
    request: Callable[[list[dict[str, Any]]], PreparedRequest],
    read: Callable[[Reply], Outcome],
    deadline_at: float | None,
    stats: _Stats,
) -> Generator[Action, RawResponse | None, tuple[Outcome, Reply, int]]:
    """Ask until a reply repairs into a verified caption: the loop ``expand`` and ``describe`` share.

    Each turn sends ``request(messages)`` (with retries), reads the reply into an
    :class:`~captionkit.magic._repair.Outcome` with ``read``, and returns
    ``(outcome, reply, asks)`` once it is usable. A chat backend is asked again with the
    verifier's messages (or told it was cut off) at most ``cfg.max_reasks`` times; then, or
    at once on a backend that takes no follow-up, the typed repair error is raised.
    """
    asks = 0
    while True:
        asks += 1
        reply = yield from send_with_retries(cfg, request(messages), deadline_at, stats)
        stats.add_usage(reply.usage)
        stats.model = reply.model or stats.model
        outcome = read(reply)
        if outcome.ok:
            return outcome, reply, asks
        if not cfg.backend.reasks or asks > cfg.max_reasks:
            raise _repair_error(cfg, outcome, asks)
        messages = [*messages, {"role": "assistant", "content": reply.content or ""}, follow_up(cfg, outcome)]


def begin(cfg: CallConfig) -> tuple[float, float | None, _Stats]:
    """A call's start: the clock, its overall deadline (``None`` when unbounded) and fresh stats."""
    started = time.monotonic()
    return started, None if cfg.deadline is None else started + cfg.deadline, _Stats()


def call_facts(cfg: CallConfig, stats: _Stats, asks: int) -> dict[str, Any]:
    """How a call went, as a result's fields: backend, model, prompt, replies, requests, usage, request id."""
    hosted = cfg.backend.protocol == "ideogram"
    return {
        "backend": cfg.backend.key,
        "model": None if hosted else (stats.model or cfg.model),
        "prompt": None if hosted else cfg.prompt.id,
        "attempts": asks,
        "transport_attempts": stats.transport_attempts,
        "usage": dict(stats.usage) if stats.usage_seen else None,
        "request_id": stats.request_id,
    }


def _expand(cfg: CallConfig, idea: str, aspect: AspectRatio) -> Flow:
    started, deadline_at, stats = begin(cfg)
    backend = cfg.backend
    hosted = backend.protocol == "ideogram"
    messages: list[dict[str, Any]] = []
    if not hosted:
        messages = cfg.prompt.messages(idea, aspect.ratio, strip_bboxes=cfg.strip_bboxes, style=cfg.style)

    def request(turns: list[dict[str, Any]]) -> PreparedRequest:
        if hosted:
            return build_hosted_request(cfg.base_url, backend.path, idea, aspect.wire)
        return chat_request(cfg, turns)

    def read(reply: Reply) -> Outcome:
        source: Any = reply.json_prompt if hosted else (reply.content or "")
        truncated = reply.finish_reason == "length"
        return process_reply(source, strip_boxes=cfg.strip_bboxes, unsafe=cfg.unsafe_fixes, truncated=truncated)

    outcome, reply, asks = yield from repair_loop(cfg, messages, request, read, deadline_at, stats)
    return _result(cfg, aspect, outcome, reply, stats, asks, started, messages)


def _repair_error(cfg: CallConfig, outcome: Outcome, asks: int) -> CaptionRepairError:
    cls = {
        "parse": CaptionParseError,
        "truncated": CaptionTruncatedError,
    }.get(outcome.reason or "", CaptionVerificationError)
    what = {
        "parse": "no JSON caption could be extracted from the reply",
        "truncated": "the reply was cut off by the output-token limit",
    }.get(outcome.reason or "", "the caption still fails verification")
    tried = f"after {asks} repl{'y' if asks == 1 else 'ies'}"
    first = outcome.problems[0] if outcome.problems else ""
    more = f" (and {len(outcome.problems) - 1} more)" if len(outcome.problems) > 1 else ""
    hint = {
        "truncated": "raise max_tokens",
        "parse": "try another model or backend",
    }.get(outcome.reason or "", "try again, allow unsafe fixes, or use another backend")
    return cls(
        f"{cfg.backend.key}: {what} {tried}: {truncate(first, 200)}{more}; {hint}",
        backend=cfg.backend.key,
        raw=truncate(outcome.raw, 4000),
        diagnostics=outcome.problems,
        report=outcome.report,
        text=outcome.text,
        attempts=asks,
        reason=outcome.reason or "verification",
    )


def _result(
    cfg: CallConfig,
    aspect: AspectRatio,
    outcome: Outcome,
    reply: Reply,
    stats: _Stats,
    asks: int,
    started: float,
    messages: list[dict[str, Any]],
) -> ExpandResult:
    hosted = cfg.backend.protocol == "ideogram"
    warnings: list[str] = []
    if aspect.warning:
        warnings.append(aspect.warning)
    echoed = ratio_from_wire(reply.aspect_ratio if hosted else outcome.metadata.get("aspect_ratio"))
    resolved = echoed or (None if aspect.is_auto else aspect.ratio)
    if echoed and not aspect.is_auto and not hosted and echoed != aspect.ratio:
        warnings.append(f"the model composed for {echoed} although {aspect.ratio} was asked")
    prompt_tokens = stats.usage.get("prompt_tokens") if stats.usage_seen else None
    if not hosted and isinstance(prompt_tokens, int) and asks == 1:
        # about 4 characters per token; far fewer tokens means the server cut the prompt
        expected = sum(len(m["content"]) for m in messages) / 4
        if prompt_tokens < 0.5 * expected:
            warnings.append(
                f"the server counted only {prompt_tokens} prompt tokens for a prompt of about "
                f"{int(expected)}; its context window may be too small (raise it to at least 12k)"
            )
    return ExpandResult(
        caption=outcome.caption,
        text=outcome.text or json.dumps(outcome.caption.to_dict(), ensure_ascii=False, separators=(",", ":")),
        aspect_ratio=resolved,
        requested_aspect=aspect.requested,
        aspect_error=aspect.error,
        **call_facts(cfg, stats, asks),
        changes=outcome.changes,
        diagnostics=outcome.report,
        metadata=dict(outcome.metadata),
        warnings=tuple(warnings),
        elapsed=time.monotonic() - started,
    )
