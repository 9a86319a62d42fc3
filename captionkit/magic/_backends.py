"""Backends: the registry, and the pure request builders and response parsers per wire contract."""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from captionkit.magic.errors import (
    APIResponseError,
    APIStatusError,
    ConfigurationError,
    error_for_status,
    truncate,
)

#: The registry key used when none is given (as upstream).
DEFAULT_BACKEND = "ideogram-4-v1"

Protocol = Literal["ideogram", "chat"]


@dataclass(frozen=True, slots=True)
class Backend:
    """A registry entry: where a backend lives and how to talk to it.

    Attributes:
        key: The registry key (``ideogram-4-v1``, ``claude-opus-v1``, ...).
        protocol: ``ideogram`` (hosted magic-prompt endpoint) or ``chat`` (chat completions).
        base_url: The default API root the path is appended to (``None``: must be given).
        path: The request path below ``base_url``.
        model: The default model slug (``None``: fixed server-side, or must be given).
        key_env: Environment variables read for the key, in order.
        key_required: Whether a call without a key is refused before sending.
        temperature: Sent when not ``None``.
        extra_body: Fields merged into every chat request body.
        auth: ``api-key`` (``Api-Key: <key>``) or ``bearer`` (``Authorization: Bearer <key>``).
        description: One line for ``--help`` and the docs.
    """

    key: str
    protocol: Protocol
    base_url: str | None
    path: str
    model: str | None
    key_env: tuple[str, ...]
    key_required: bool = True
    temperature: float | None = None
    extra_body: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    auth: Literal["api-key", "bearer"] = "bearer"
    description: str = ""

    @property
    def reasks(self) -> bool:
        """Whether a failing caption may be re-asked (LLMs yes; the hosted endpoint, repairs only)."""
        return self.protocol == "chat"

    @property
    def snaps_aspect(self) -> bool:
        """Whether the aspect ratio is snapped to the hosted endpoint's buckets."""
        return self.protocol == "ideogram"


_NO_REASONING = MappingProxyType({"reasoning": MappingProxyType({"enabled": False})})

#: Registry keys compatible with the official ``MAGIC_PROMPTS``, plus ``openai-compatible``.
BACKENDS: Mapping[str, Backend] = MappingProxyType(
    {
        "ideogram-4-v1": Backend(
            key="ideogram-4-v1",
            protocol="ideogram",
            base_url="https://api.ideogram.ai",
            path="/v1/ideogram-v4/magic-prompt",
            model=None,
            key_env=("IDEOGRAM_API_KEY",),
            auth="api-key",
            description="Ideogram's hosted magic-prompt endpoint (default)",
        ),
        "claude-opus-v1": Backend(
            key="claude-opus-v1",
            protocol="chat",
            base_url="https://openrouter.ai/api/v1",
            path="/chat/completions",
            model="anthropic/claude-opus-4.8",
            key_env=("MAGIC_PROMPT_API_KEY", "OPENROUTER_API_KEY"),
            # Opus 4.7+ dropped temperature; OpenRouter ignores it, Anthropic rejects it: omit.
            temperature=None,
            extra_body=_NO_REASONING,
            description="Claude Opus through OpenRouter",
        ),
        "claude-sonnet-v1": Backend(
            key="claude-sonnet-v1",
            protocol="chat",
            base_url="https://openrouter.ai/api/v1",
            path="/chat/completions",
            model="anthropic/claude-sonnet-4.6",
            key_env=("MAGIC_PROMPT_API_KEY", "OPENROUTER_API_KEY"),
            temperature=1.0,
            extra_body=_NO_REASONING,
            description="Claude Sonnet through OpenRouter",
        ),
        "openai-compatible": Backend(
            key="openai-compatible",
            protocol="chat",
            base_url=None,
            path="/chat/completions",
            model=None,
            # never OPENAI_API_KEY: that would send an OpenAI key to whatever base_url is set
            key_env=("CAPTIONKIT_OPENAI_COMPAT_API_KEY",),
            key_required=False,
            description="any chat-completions server (llama.cpp, vLLM, Ollama, LM Studio, LiteLLM)",
        ),
    }
)


def get_backend(key: str | Backend) -> Backend:
    """Look a backend up by registry key.

    Raises:
        ConfigurationError: For an unknown key, listing the known ones.

    >>> get_backend("claude-sonnet-v1").model
    'anthropic/claude-sonnet-4.6'
    """
    if isinstance(key, Backend):
        return key
    try:
        return BACKENDS[key]
    except KeyError:
        known = ", ".join(BACKENDS)
        raise ConfigurationError(f"unknown backend {key!r} (choose one of: {known})") from None


@dataclass(frozen=True, slots=True)
class PreparedRequest:
    """A request without secrets: the shells add the auth header at send time."""

    method: str
    url: str
    headers: Mapping[str, str]
    json: Mapping[str, Any]

    def content(self) -> bytes:
        """The body bytes (UTF-8 JSON, non-ASCII kept literal; escaped where it cannot be UTF-8)."""
        try:
            return json.dumps(self.json, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, e.g. from undecodable command-line bytes
            return json.dumps(self.json, separators=(",", ":")).encode("ascii")


def join_url(base_url: str, path: str) -> str:
    """Append ``path`` to an API root, with or without a trailing slash.

    >>> join_url("http://127.0.0.1:8080/v1/", "/chat/completions")
    'http://127.0.0.1:8080/v1/chat/completions'
    """
    return base_url.rstrip("/") + "/" + path.lstrip("/")


def auth_headers(backend: Backend, key: str | None) -> dict[str, str]:
    """The header carrying the key (empty when there is none)."""
    if not key:
        return {}
    if backend.auth == "api-key":
        return {"Api-Key": key}
    return {"Authorization": f"Bearer {key}"}


def build_hosted_request(base_url: str, path: str, idea: str, aspect_wire: str) -> PreparedRequest:
    """The hosted magic-prompt request: ``{"text_prompt": ..., "aspect_ratio": "16x9"}``.

    >>> build_hosted_request("https://api.ideogram.ai", "/v1/ideogram-v4/magic-prompt", "a kite", "3x2").json
    {'text_prompt': 'a kite', 'aspect_ratio': '3x2'}
    """
    return PreparedRequest(
        "POST",
        join_url(base_url, path),
        {"Content-Type": "application/json"},
        {"text_prompt": idea, "aspect_ratio": aspect_wire},
    )


def build_chat_request(
    base_url: str,
    path: str,
    *,
    model: str | None,
    messages: list[dict[str, Any]],
    max_tokens: int | None,
    max_tokens_field: str = "max_tokens",
    temperature: float | None = None,
    extra_body: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> PreparedRequest:
    """A chat-completions request body: model, messages, the output limit, then extras.

    >>> r = build_chat_request("http://h/v1", "/chat/completions", model="m",
    ...                        messages=[{"role": "user", "content": "hi"}], max_tokens=10)
    >>> r.url, r.json
    ('http://h/v1/chat/completions', {'model': 'm', 'messages': [{'role': 'user', 'content': 'hi'}], 'max_tokens': 10})
    """
    body: dict[str, Any] = {}
    if model is not None:
        body["model"] = model
    body["messages"] = messages
    if max_tokens is not None:
        body[max_tokens_field] = max_tokens
    if temperature is not None:
        body["temperature"] = temperature
    if extra_body:
        body.update(_plain(extra_body))
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    return PreparedRequest("POST", join_url(base_url, path), all_headers, body)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Reply:
    """What a successful response carried.

    Attributes:
        content: The chat reply text (``None`` for the hosted API).
        json_prompt: The hosted API's caption object (``None`` for chat backends).
        finish_reason: ``stop``, ``length``, ... when reported.
        aspect_ratio: The hosted API's resolved bucket (``"16x9"``), if any.
        usage: Token usage when reported.
        request_id: The generation or request id.
        model: The model that answered, when reported.
    """

    content: str | None = None
    json_prompt: Any = None
    finish_reason: str | None = None
    aspect_ratio: str | None = None
    usage: Mapping[str, Any] | None = None
    request_id: str | None = None
    model: str | None = None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date).

    Values outside ``(0, 60]`` seconds are ignored (``None``), as the reference SDKs do.

    >>> parse_retry_after({"retry-after": "2"})
    2.0
    >>> parse_retry_after({"retry-after-ms": "250"})
    0.25
    >>> parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, now=1445412470.0)
    10.0
    >>> parse_retry_after({"retry-after": "3600"}) is None
    True
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    seconds: float | None = None
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms is not None:
        try:
            seconds = float(raw_ms) / 1000.0
        except ValueError:
            seconds = None
    if seconds is None and (raw := lowered.get("retry-after")) is not None:
        try:
            seconds = float(raw)
        except ValueError:
            parsed = email.utils.parsedate_tz(raw)
            if parsed is not None:
                when = email.utils.mktime_tz(parsed)
                seconds = when - (time.time() if now is None else now)
    if seconds is None or not (0 < seconds <= 60):
        return None
    return seconds


def _error_detail(data: Any, text: str) -> tuple[str, str | None, Any]:
    """(message, provider code, metadata) from any of the known error-body shapes."""
    if isinstance(data, Mapping):
        error = data.get("error")
        code = data.get("reject_reason")
        if isinstance(error, Mapping):
            message = error.get("message")
            ecode = error.get("code") if code is None else code
            meta = error.get("metadata")
            if ecode is None:
                ecode = error.get("type")
            return (str(message) if message is not None else truncate(text)), _code(ecode), meta
        if isinstance(error, str):
            return error, _code(code), data
        for key in ("detail", "message", "title"):
            value = data.get(key)
            if value is not None:
                return (value if isinstance(value, str) else json.dumps(value)), _code(code), data
    return truncate(text), None, None


def _code(value: Any) -> str | None:
    return None if value is None else str(value)


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def status_error(
    backend: Backend, status: int, headers: Mapping[str, str], body: bytes, *, data: Any = None
) -> APIStatusError:
    """The typed error for a failed response, keeping status, provider code and request id."""
    text = body.decode("utf-8", errors="replace")
    if data is None:
        data = _json_or_none(body)
    message, code, meta = _error_detail(data, text)
    retry_after = parse_retry_after(headers)
    if retry_after is None and isinstance(meta, Mapping):
        hinted = meta.get("retry_after_seconds")
        if isinstance(hinted, int | float) and 0 < hinted <= 60:
            retry_after = float(hinted)
    limit_source = meta.get("limit_source") if isinstance(meta, Mapping) else None
    code_is_status = code is not None and code.isdigit()
    retryable = (
        status in (408, 429, 500, 502, 503, 504)
        or (status == 402 and limit_source == "openrouter_in_flight_budget")
        or code == "inflight_limit"
    )
    if code_is_status:  # OpenRouter repeats the status as error.code; not a useful provider code
        code = None
    if limit_source and code is None:
        code = str(limit_source)
    moderation = status == 403 and isinstance(meta, Mapping) and bool(meta.get("reasons") or meta.get("flagged_input"))
    return error_for_status(
        status,
        backend.key,
        message,
        code=code,
        body=text,
        request_id=_request_id(headers, data),
        retry_after=retry_after,
        retryable=retryable,
        moderation=moderation,
    )


def _request_id(headers: Mapping[str, str], data: Any) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    for name in ("x-generation-id", "x-request-id", "request-id"):
        if lowered.get(name):
            return lowered[name]
    if isinstance(data, Mapping) and isinstance(data.get("id"), str):
        return data["id"]
    return None


def parse_response(backend: Backend, status: int, headers: Mapping[str, str], body: bytes) -> Reply:
    """Turn a response into a :class:`Reply`, or raise the typed error it signals.

    Handles HTTP errors, OpenRouter's 200-with-error bodies (top-level ``error`` or a choice
    whose ``finish_reason`` is ``error``), and envelopes without a usable result.

    Raises:
        APIStatusError: A subclass per status; ``.retryable`` follows the retry policy.
        APIResponseError: A 2xx without choices, message or ``json_prompt``.

    >>> body = b'{"json_prompt":{"compositional_deconstruction":{"background":"b","elements":[]}},"aspect_ratio":"1x1"}'
    >>> parse_response(get_backend("ideogram-4-v1"), 200, {}, body).aspect_ratio
    '1x1'
    """
    if not 200 <= status < 300:
        raise status_error(backend, status, headers, body)
    data = _json_or_none(body)
    rid = _request_id(headers, data)
    if not isinstance(data, Mapping):
        raise APIResponseError(
            f"{backend.key}: HTTP {status} with a body that is not a JSON object: "
            f"{truncate(body.decode('utf-8', errors='replace'), 200)!r}; check --base-url",
            backend=backend.key,
            request_id=rid,
        )
    if data.get("error") is not None:  # 200-with-error: map error.code like an HTTP status
        raise status_error(backend, _embedded_status(data["error"]), headers, body, data=data)
    if backend.protocol == "ideogram":
        prompt = data.get("json_prompt")
        if not prompt:
            raise APIResponseError(
                f"{backend.key}: response has no json_prompt: {truncate(json.dumps(data), 200)}",
                backend=backend.key,
                request_id=rid,
            )
        aspect = data.get("aspect_ratio")
        return Reply(
            json_prompt=prompt,
            aspect_ratio=aspect if isinstance(aspect, str) else None,
            request_id=rid,
        )
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise APIResponseError(
            f"{backend.key}: response has no choices: {truncate(json.dumps(data), 200)}",
            backend=backend.key,
            request_id=rid,
        )
    choice = choices[0]
    finish = choice.get("finish_reason")
    if finish == "error":
        error = choice.get("error") or {"message": "the model failed mid-generation", "code": 502}
        raise status_error(backend, _embedded_status(error), headers, body, data={"error": error})
    message = choice.get("message") if isinstance(choice.get("message"), Mapping) else {}
    content = message.get("content")
    if isinstance(content, list):  # content parts: keep the text ones
        content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    if not isinstance(content, str) or not content.strip():
        if finish == "length":
            content = ""
        else:
            raise APIResponseError(
                f"{backend.key}: response has an empty message (finish_reason {finish!r})",
                backend=backend.key,
                request_id=rid,
            )
    usage = data.get("usage")
    return Reply(
        content=content,
        finish_reason=finish if isinstance(finish, str) else None,
        usage=usage if isinstance(usage, Mapping) else None,
        request_id=rid,
        model=data.get("model") if isinstance(data.get("model"), str) else None,
    )


def _embedded_status(error: Any) -> int:
    code = error.get("code") if isinstance(error, Mapping) else None
    if isinstance(code, int) and 400 <= code <= 599:
        return code
    if isinstance(code, str) and code.isdigit() and 400 <= int(code) <= 599:
        return int(code)
    return 502  # an unspecified mid-generation failure: treat like an upstream error
