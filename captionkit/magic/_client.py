"""The sync and async shells around the sans-IO core, plus the one-call helpers."""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

import anyio
import httpx

from captionkit.magic._aspect import resolve_aspect
from captionkit.magic._backends import DEFAULT_BACKEND, Backend, auth_headers, get_backend
from captionkit.magic._batch import run_batch
from captionkit.magic._core import (
    DEFAULT_DEADLINE,
    DEFAULT_TIMEOUT,
    CallConfig,
    DeadlineExceeded,
    Flow,
    RawResponse,
    RetryPolicy,
    Send,
    Sleep,
    expand_flow,
)
from captionkit.magic._local import LOCAL_BACKEND, LocalMagicPrompt
from captionkit.magic._prompt import PromptFile, load_prompt
from captionkit.magic._result import BatchItem, ExpandResult
from captionkit.magic._secrets import KEY_WHITESPACE, Hold, Secret, install_log_filter
from captionkit.magic.errors import ConfigurationError, InvalidAPIKeyError, MissingAPIKeyError

_UNSET: Any = object()


def resolve_api_key(backend: Backend, api_key: str | Secret | None = None) -> Secret | None:
    """The key for ``backend``: the explicit argument, else its own variables, in order.

    Each backend reads only its own variables, so an OpenRouter key is never sent to Ideogram.
    Whitespace around a key (a trailing ``\\r`` from a CRLF file read with ``$(cat key.txt)``)
    is removed with an :class:`~captionkit.magic.errors.APIKeyWarning`; a value that is only
    whitespace counts as unset.

    Raises:
        MissingAPIKeyError: When the backend needs a key and none is found (the message names
            the variables, never a value).
        InvalidAPIKeyError: When the key holds a character no header can carry (a control
            character, an inner space, a non-breaking space, any non-ASCII character); raised
            before anything is sent, naming the character and never the key.
    """
    if isinstance(api_key, Secret):
        return api_key
    if api_key is not None and not isinstance(api_key, str):
        raise InvalidAPIKeyError(f"api_key must be a string, got {type(api_key).__name__}", source="api_key")
    if api_key and api_key.strip(KEY_WHITESPACE):
        return Secret(api_key, "api_key")
    for name in backend.key_env:
        value = os.environ.get(name)
        if value and value.strip(KEY_WHITESPACE):
            return Secret(value, name)
    if backend.key_required:
        raise MissingAPIKeyError.for_backend(backend.key, backend.key_env)
    return None


_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _check_header(name: object, value: object) -> None:
    """Refuse an extra header that cannot be sent, naming it but never showing its value."""
    if not isinstance(name, str) or not name or not set(name) <= _TOKEN:
        raise ConfigurationError(f"headers: {name!r} is not a valid header name")
    if not isinstance(value, str):
        raise ConfigurationError(f"headers: the value of {name!r} must be a string, got {type(value).__name__}")
    for index, char in enumerate(value):
        if not (" " <= char <= "~" or char == "\t"):
            raise ConfigurationError(
                f"headers: the value of {name!r} holds U+{ord(char):04X} at character {index + 1}; "
                "header values are printable ASCII"
            )


class _BaseMagicPromptClient:
    """Configuration shared by both shells: backend, key, URLs, prompt and policies."""

    _http: Any

    def __init__(
        self,
        backend: str | Backend = DEFAULT_BACKEND,
        *,
        api_key: str | Secret | None = None,
        base_url: str | None = None,
        model: str | None = None,
        prompt: str | PromptFile | None = None,
        strip_bboxes: bool = True,
        style: bool = True,
        max_reasks: int = 2,
        max_tokens: int | None = 16384,
        max_tokens_field: str = "max_tokens",
        temperature: float | None = _UNSET,
        extra_body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        unsafe_fixes: bool = False,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
        deadline: float | None = DEFAULT_DEADLINE,
        retry: RetryPolicy | None = None,
    ) -> None:
        spec = get_backend(backend)
        url = base_url or spec.base_url
        if not url:
            raise ConfigurationError(
                f"{spec.key}: no base URL; pass base_url= (--base-url), the server's /v1 root "
                "such as http://localhost:8080/v1"
            )
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{spec.key}: base URL {url!r} must start with http:// or https://")
        if spec.protocol == "chat" and not (model or spec.model):
            raise ConfigurationError(f"{spec.key}: no model; pass model= (--model), the name the server serves")
        if max_reasks < 0:
            raise ConfigurationError(f"max_reasks must be 0 or more, got {max_reasks}")
        for name, value in (headers or {}).items():
            _check_header(name, value)
        install_log_filter()
        self._api_key = resolve_api_key(spec, api_key)
        # the key is redacted from every output while this client is open (and at every call)
        self._hold = None if self._api_key is None else Hold(self._api_key)
        if self._hold is not None:
            weakref.finalize(self, self._hold.release)
        self._config = CallConfig(
            backend=spec,
            base_url=url,
            model=None if spec.protocol == "ideogram" else (model or spec.model),
            prompt=load_prompt(prompt),
            strip_bboxes=strip_bboxes,
            style=style,
            max_reasks=max_reasks,
            max_tokens=max_tokens,
            max_tokens_field=max_tokens_field,
            temperature=spec.temperature if temperature is _UNSET else temperature,
            extra_body={**spec.extra_body, **(extra_body or {})},
            headers=dict(headers or {}),
            unsafe_fixes=unsafe_fixes,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            deadline=deadline,
            retry=retry or RetryPolicy(),
        )

    @property
    def backend(self) -> str:
        """The registry key."""
        return self._config.backend.key

    @property
    def config(self) -> CallConfig:
        """The resolved configuration (holds no secret)."""
        return self._config

    def __repr__(self) -> str:
        cfg = self._config
        model = f", model={cfg.model!r}" if cfg.model else ""
        return f"{type(self).__name__}(backend={cfg.backend.key!r}, base_url={cfg.base_url!r}{model})"

    def _release_key(self) -> None:
        if self._hold is not None:
            self._hold.release()

    def _flow(self, idea: str, aspect_ratio: Any, strip_bboxes: bool | None, style: bool | None) -> Flow:
        if self._hold is not None:
            self._hold.acquire()  # a call after close() is protected as well
        if not isinstance(idea, str) or not idea.strip():
            raise ConfigurationError("the idea is empty; give a short description of the picture")
        cfg = self._config
        overrides: dict[str, Any] = {}
        if strip_bboxes is not None and strip_bboxes != cfg.strip_bboxes:
            overrides["strip_bboxes"] = strip_bboxes
        if style is not None and style != cfg.style:
            overrides["style"] = style
        if overrides:
            cfg = replace(cfg, **overrides)
        try:
            aspect = resolve_aspect(aspect_ratio, snap=cfg.backend.snaps_aspect)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        return expand_flow(cfg, idea.strip(), aspect)

    def _build(self, action: Send) -> httpx.Request:
        req = action.request
        headers = {**req.headers, **auth_headers(self._config.backend, self._key_value())}
        return self._http.build_request(
            req.method, req.url, headers=headers, content=req.content(), timeout=action.timeout
        )

    def _key_value(self) -> str | None:
        return None if self._api_key is None else self._api_key.get_secret_value()


class MagicPromptClient(_BaseMagicPromptClient):
    """Expand ideas into verified captions over a blocking ``httpx.Client``.

    Args:
        backend: A registry key (``ideogram-4-v1`` by default) or a :class:`Backend`.
        api_key: The key; defaults to the backend's own environment variables.
        base_url: The API root the request path is appended to (proxies, local servers, tests).
        model: The model slug (chat backends; required for ``openai-compatible``).
        prompt: A packaged prompt name, a prompt-file path, or a :class:`PromptFile`.
        strip_bboxes: Remove element boxes (default, as upstream); ``False`` keeps them.
        style: Ask for a ``style_description``.
        max_reasks: Follow-up requests after a failing reply (chat backends only).
        max_tokens: The output-token limit sent to chat backends.
        max_tokens_field: ``max_tokens`` or ``max_completion_tokens`` (OpenAI's newer models).
        temperature: Sent when not ``None`` (default: the backend's).
        extra_body: Fields merged into chat request bodies (``provider``, ``response_format``).
        headers: Extra non-secret headers (OpenRouter attribution, for instance).
        unsafe_fixes: Also apply unsafe fixes (invented element types, clamping).
        timeout: Per-phase ``httpx.Timeout`` (connect 10 s, read 120 s, write 30 s, pool 10 s).
        deadline: Overall seconds per ``expand`` call, retries and re-asks included.
        retry: Transport retry policy.
        http_client: An ``httpx.Client`` to use (never closed by us).

    Example:
        >>> import httpx
        >>> def server(request):
        ...     return httpx.Response(200, json={"aspect_ratio": "3x2", "json_prompt": {
        ...         "compositional_deconstruction": {"elements": [], "background": "A white wall."}}})
        >>> http = httpx.Client(transport=httpx.MockTransport(server))
        >>> with MagicPromptClient(api_key="test-key", http_client=http) as client:
        ...     result = client.expand("a white wall", aspect_ratio="1536x1024")
        >>> result.text, result.aspect_ratio
        ('{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}', '3:2')
    """

    def __init__(self, backend: str | Backend = DEFAULT_BACKEND, *, http_client: httpx.Client | None = None, **options: Any) -> None:
        super().__init__(backend, **options)
        self._owns_http = http_client is None
        self._http = http_client if http_client is not None else httpx.Client(timeout=self._config.timeout)

    def expand(
        self,
        idea: str,
        aspect_ratio: Any = "auto",
        *,
        strip_bboxes: bool | None = None,
        style: bool | None = None,
    ) -> ExpandResult:
        """Expand one idea into a verified caption.

        Args:
            idea: The plain idea.
            aspect_ratio: ``"W:H"``, ``"WxH"``, a frame size such as ``"1536x1024"``, a frame
                object, or ``"auto"``.
            strip_bboxes: Override the client's setting for this call.
            style: Override the client's setting for this call.

        Raises:
            MagicPromptError: A subclass naming the cause: configuration, connection, timeout,
                HTTP status, or a caption that could not be repaired.
        """
        return self._drive(self._flow(idea, aspect_ratio, strip_bboxes, style))

    def _drive(self, flow: Flow) -> Any:
        """Run a sans-IO flow to its result: send its requests, sleep its sleeps (blocking).

        Every call of this client and of :class:`~captionkit.magic.DescribeClient` runs here.
        """
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                action = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            if isinstance(action, Sleep):
                time.sleep(action.seconds)
                continue
            try:
                value = self._send(action)
            except Exception as exc:  # into the flow: it maps, retries and redacts every failure
                error = exc

    def _send(self, action: Send) -> RawResponse:
        response = self._http.send(self._build(action), stream=True)
        try:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                # httpx's read timeout is per chunk: enforce the overall deadline between chunks
                if action.deadline_at is not None and time.monotonic() > action.deadline_at:
                    raise DeadlineExceeded
            return RawResponse(response.status_code, dict(response.headers), b"".join(chunks))
        finally:
            response.close()

    def close(self) -> None:
        """Close the HTTP client if this object created it, and stop redacting the key."""
        if self._owns_http:
            self._http.close()
        self._release_key()

    def __enter__(self) -> MagicPromptClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class AsyncMagicPromptClient(_BaseMagicPromptClient):
    """The async twin of :class:`MagicPromptClient` over ``httpx.AsyncClient`` (asyncio or trio).

    Takes the same arguments; ``http_client`` is an ``httpx.AsyncClient``.

    Example:
        >>> import anyio, httpx
        >>> async def server(request):
        ...     return httpx.Response(200, json={"aspect_ratio": "1x1", "json_prompt": {
        ...         "compositional_deconstruction": {"background": "A white wall.", "elements": []}}})
        >>> async def main():
        ...     http = httpx.AsyncClient(transport=httpx.MockTransport(server))
        ...     async with AsyncMagicPromptClient(api_key="test-key", http_client=http) as client:
        ...         return await client.expand("a white wall", aspect_ratio="1:1")
        >>> anyio.run(main).aspect_ratio
        '1:1'
    """

    def __init__(self, backend: str | Backend = DEFAULT_BACKEND, *, http_client: httpx.AsyncClient | None = None, **options: Any) -> None:
        super().__init__(backend, **options)
        self._owns_http = http_client is None
        self._http = (
            http_client if http_client is not None else httpx.AsyncClient(timeout=self._config.timeout)
        )

    async def expand(
        self,
        idea: str,
        aspect_ratio: Any = "auto",
        *,
        strip_bboxes: bool | None = None,
        style: bool | None = None,
    ) -> ExpandResult:
        """Expand one idea into a verified caption (see :meth:`MagicPromptClient.expand`)."""
        return await self._drive(self._flow(idea, aspect_ratio, strip_bboxes, style))

    async def _drive(self, flow: Flow) -> Any:
        """Run a sans-IO flow to its result (see :meth:`MagicPromptClient._drive`), awaiting."""
        value: Any = None
        error: BaseException | None = None
        while True:
            try:
                action = flow.throw(error) if error is not None else flow.send(value)
            except StopIteration as stop:
                return stop.value
            value, error = None, None
            if isinstance(action, Sleep):
                await anyio.sleep(action.seconds)
                continue
            try:
                value = await self._send(action)
            except Exception as exc:  # into the flow: it maps, retries and redacts every failure
                error = exc

    async def _send(self, action: Send) -> RawResponse:
        if action.deadline_at is None:
            return await self._send_now(action)
        remaining = action.deadline_at - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded
        with anyio.move_on_after(remaining) as scope:
            return await self._send_now(action)
        assert scope.cancelled_caught
        raise DeadlineExceeded

    async def _send_now(self, action: Send) -> RawResponse:
        response = await self._http.send(self._build(action), stream=True)
        try:
            body = await response.aread()
            return RawResponse(response.status_code, dict(response.headers), body)
        finally:
            await response.aclose()

    async def expand_many(
        self,
        ideas: Iterable[str | Mapping[str, Any]],
        aspect_ratio: Any = "auto",
        *,
        concurrency: int = 8,
        progress: bool = False,
        on_result: Callable[[BatchItem], Awaitable[None] | None] | None = None,
    ) -> list[BatchItem]:
        """Expand many ideas concurrently; see :func:`captionkit.magic.expand_many`."""
        return await run_batch(
            self.expand, ideas, aspect_ratio, concurrency=concurrency, progress=progress, on_result=on_result
        )

    async def aclose(self) -> None:
        """Close the HTTP client if this object created it, and stop redacting the key."""
        if self._owns_http:
            await self._http.aclose()
        self._release_key()

    async def __aenter__(self) -> AsyncMagicPromptClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# Options of the HTTP clients that mean nothing to the local backend (it talks to no server).
_SERVER_ONLY = frozenset({
    "api_key", "base_url", "prompt", "style", "max_tokens", "max_tokens_field", "extra_body", "headers",
    "timeout", "deadline", "retry",
})


def _is_local(backend: str | Backend) -> bool:
    return backend == LOCAL_BACKEND.key or backend == LOCAL_BACKEND


def _local(options: Mapping[str, Any], http_client: Any) -> LocalMagicPrompt:
    """The local backend for one call of :func:`expand`, :func:`aexpand` or :func:`expand_many`."""
    if http_client is not None:
        raise ConfigurationError("local: the local backend talks to no server, so it takes no http_client")
    unused = sorted(name for name in options if name in _SERVER_ONLY)
    if unused:
        raise ConfigurationError(
            f"local: {', '.join(unused)} {'does' if len(unused) == 1 else 'do'} not apply to the local backend "
            "(it talks to no server; pass model=, a local Ideogram 4 folder with a prompt_enhancer_head)"
        )
    return LocalMagicPrompt(**options)


def expand(
    idea: str,
    aspect_ratio: Any = "auto",
    *,
    backend: str | Backend = DEFAULT_BACKEND,
    http_client: httpx.Client | None = None,
    **options: Any,
) -> ExpandResult:
    """Expand one idea into a verified caption (a :class:`MagicPromptClient` for one call).

    Takes the client's options as keywords (``api_key``, ``base_url``, ``model``,
    ``strip_bboxes``, ``style``, ``max_reasks``, ``deadline``, ...). ``backend="local"``
    expands with a local pipeline's prompt enhancer instead (:class:`LocalMagicPrompt`:
    ``model=`` is its folder; its own options, such as ``seed`` and ``max_new_tokens``, apply).

    Example:
        >>> import httpx
        >>> reply = {"choices": [{"finish_reason": "stop", "message": {"content":
        ...     'Here you go: {"aspect_ratio":"3:2","compositional_deconstruction":'
        ...     '{"background":"A white wall.","elements":[]}}'}}]}
        >>> http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=reply)))
        >>> result = expand("a white wall", "3:2", backend="openai-compatible",
        ...                 base_url="http://127.0.0.1:8080/v1", model="local", http_client=http)
        >>> result.text
        '{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}'
        >>> result.metadata["aspect_ratio"], result.backend, result.attempts
        ('3:2', 'openai-compatible', 1)
    """
    if _is_local(backend):
        return _local(options, http_client).expand(idea, aspect_ratio)
    with MagicPromptClient(backend, http_client=http_client, **options) as client:
        return client.expand(idea, aspect_ratio)


async def aexpand(
    idea: str,
    aspect_ratio: Any = "auto",
    *,
    backend: str | Backend = DEFAULT_BACKEND,
    http_client: httpx.AsyncClient | None = None,
    **options: Any,
) -> ExpandResult:
    """The async form of :func:`expand` (the local backend runs in a worker thread)."""
    if _is_local(backend):
        return await anyio.to_thread.run_sync(_local(options, http_client).expand, idea, aspect_ratio)
    async with AsyncMagicPromptClient(backend, http_client=http_client, **options) as client:
        return await client.expand(idea, aspect_ratio)


async def expand_many(
    ideas: Iterable[str | Mapping[str, Any]],
    aspect_ratio: Any = "auto",
    *,
    backend: str | Backend = DEFAULT_BACKEND,
    concurrency: int = 8,
    progress: bool = False,
    on_result: Callable[[BatchItem], Awaitable[None] | None] | None = None,
    client: AsyncMagicPromptClient | None = None,
    http_client: httpx.AsyncClient | None = None,
    **options: Any,
) -> list[BatchItem]:
    """Expand many ideas with bounded concurrency, keeping input order.

    Each idea is a string or a mapping with ``idea`` (or ``prompt``), optional ``id`` and
    optional ``aspect_ratio``/``aspect``. A failing item is recorded in its
    :class:`BatchItem` (``.error``) and never stops the batch.

    Args:
        ideas: The ideas.
        aspect_ratio: The default ratio for items that give none.
        backend: A registry key (ignored when ``client`` is given).
        concurrency: Calls in flight at once (keep it at 8 or less for the hosted API,
            whose per-organisation in-flight limit is 10).
        progress: Show a rich progress bar on stderr.
        on_result: Called (or awaited) with each finished item, in completion order.
        client: An :class:`AsyncMagicPromptClient` to use instead of making one.
        http_client: An ``httpx.AsyncClient`` for the client made here.
        **options: Client options when ``client`` is not given.

    Returns:
        One :class:`BatchItem` per idea, in input order.

    With ``backend="local"`` the ideas are expanded one at a time (one pipeline) in a worker
    thread, each a :class:`LocalMagicPrompt` sample.
    """
    if _is_local(backend) and client is None:
        local = _local(options, http_client)
        lock = anyio.Lock()

        async def one_at_a_time(idea: str, aspect: Any) -> ExpandResult:
            async with lock:
                return await anyio.to_thread.run_sync(local.expand, idea, aspect)

        return await run_batch(one_at_a_time, ideas, aspect_ratio, concurrency=concurrency, progress=progress,
                               on_result=on_result)
    if client is not None:
        return await client.expand_many(
            ideas, aspect_ratio, concurrency=concurrency, progress=progress, on_result=on_result
        )
    limits = httpx.Limits(max_connections=max(concurrency, 1), max_keepalive_connections=max(concurrency, 1))
    own_http = http_client is None
    if http_client is None:
        http_client = httpx.AsyncClient(timeout=options.get("timeout", DEFAULT_TIMEOUT), limits=limits)
    try:
        async with AsyncMagicPromptClient(backend, http_client=http_client, **options) as made:
            return await made.expand_many(
                ideas, aspect_ratio, concurrency=concurrency, progress=progress, on_result=on_result
            )
    finally:
        if own_http:
            await http_client.aclose()
