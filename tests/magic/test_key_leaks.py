"""Property: a canary key echoed anywhere in a reply appears in no output, whatever the path.

A generated canary key is sent to a server (the real loopback server, or httpx.MockTransport)
that echoes a piece of it (the whole key, or any run of 8 or more of its characters; raw, in
repr, JSON ``\\u`` escapes, percent-encoding or HTML references) in the status line's reason,
in response headers, in error bodies, in malformed 200 bodies, or inside the caption it
returns. Under every backend and in sync, async, batch and CLI modes, the oracle in
:mod:`leaks` must find no piece of the key in any output: results (repr, str, records,
pickle), exceptions (str, repr, args, attributes, pickle, formatted traceback), batch JSONL,
every log record captured by caplog at DEBUG, and the CLI's stdout, stderr and files.

Hypothesis builds keys from constants of the code under test, so a key can share 8 characters
with, say, the field name ``transport_attempts``; such pieces are not counted (see
:func:`leaks.vocabulary`). Pieces of the canary prefixes are always counted.
"""

from __future__ import annotations

import copy
import json
import logging
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from captionkit.cli import app
from captionkit.magic import (
    BACKENDS,
    AsyncMagicPromptClient,
    MagicPromptClient,
    RetryPolicy,
    expand_many,
)
from captionkit.magic.testing import SAMPLE_CAPTION, FakeMagicServer, Step

from .conftest import LEAK_SETTINGS
from .leaks import canaries, echoes, exception_outputs, leaks, result_outputs

NO_RETRY = RetryPolicy(max_retries=0)
KEY_VAR = {
    "ideogram-4-v1": "IDEOGRAM_API_KEY",
    "claude-opus-v1": "MAGIC_PROMPT_API_KEY",
    "claude-sonnet-v1": "MAGIC_PROMPT_API_KEY",
    "openai-compatible": "CAPTIONKIT_OPENAI_COMPAT_API_KEY",
}
# statuses the transport policy never retries (the CLI uses the default policy, with real waits)
FINAL_STATUSES = [400, 401, 402, 403, 404, 413, 422]
RETRYABLE_STATUSES = [408, 429, 500, 502, 503, 504]
WHITESPACE = ["", "", "", "\r", "\n", "\r\n", "\t", " ", "\t\r\n"]
runner = CliRunner()


@dataclass
class Reply:
    """One scripted response and where the echo sits."""

    kind: str
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    def step(self) -> Step:
        return Step(status=self.status, body=self.body, headers=self.headers, reason=self.reason)

    def response(self) -> httpx.Response:
        extensions = {"reason_phrase": self.reason.encode("ascii")} if self.reason is not None else {}
        headers = {"Content-Type": "application/json", **self.headers}
        return httpx.Response(self.status, headers=headers, content=self.body, extensions=extensions)


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _chat(content: str, finish: str = "stop", **extra: Any) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3000, "completion_tokens": 300, "total_tokens": 3300},
        **extra,
    }


def _ok(caption: Any, hosted: bool) -> bytes:
    if hosted:
        return _dumps({"json_prompt": caption, "aspect_ratio": "1x1"})
    return _dumps(_chat(caption if isinstance(caption, str) else json.dumps(caption, ensure_ascii=False)))


KINDS = [
    "status-json", "status-text", "ok-not-json", "ok-no-result", "ok-with-error", "choice-error",
    "caption-ok", "caption-text", "caption-invalid", "caption-unparseable", "caption-foreign-key",
    "caption-truncated", "envelope", "header-only", "reason-only",
]


@st.composite
def replies(draw: Any, key: str, backend: str, *, retries_allowed: bool) -> Reply:
    """A response that echoes pieces of ``key`` somewhere (see the module docs)."""
    hosted = BACKENDS[backend].protocol == "ideogram"
    statuses = FINAL_STATUSES + (RETRYABLE_STATUSES if retries_allowed else [])

    def echo() -> str:
        return draw(echoes(key))

    kind = draw(st.sampled_from(KINDS))
    caption = copy.deepcopy(SAMPLE_CAPTION)
    reply = Reply(kind)
    if kind == "status-json":
        reply.status = draw(st.sampled_from(statuses))
        shape = draw(st.sampled_from(["openai", "string", "detail", "message", "reject"]))
        body: Any = {
            "openai": {"error": {"message": echo(), "code": reply.status, "metadata": {"raw": echo()}}},
            "string": {"error": echo()},
            "detail": {"detail": echo()},
            "message": {"object": "error", "message": echo()},
            "reject": {"error": echo(), "reject_reason": echo()},
        }[shape]
        reply.body = _dumps(body)
    elif kind == "status-text":
        reply.status = draw(st.sampled_from(statuses))
        reply.body = f"<html>{echo()}</html>".encode()
    elif kind == "ok-not-json":
        reply.body = f"upstream said: {echo()}".encode()
    elif kind == "ok-no-result":
        reply.body = _dumps(draw(st.sampled_from([{"detail": echo()}, {"choices": [], "echo": echo()},
                                                   {"json_prompt": None, "note": echo()}])))
    elif kind == "ok-with-error":
        reply.body = _dumps({"error": {"message": echo(), "code": draw(st.sampled_from(statuses))}})
    elif kind == "choice-error":
        code = draw(st.sampled_from(statuses))
        reply.body = _dumps({"choices": [{"finish_reason": "error", "error": {"message": echo(), "code": code}}]})
    elif kind == "caption-ok":
        caption["compositional_deconstruction"]["elements"][0]["desc"] += " Printed on it: " + echo()
        reply.body = _ok(caption, hosted)
    elif kind == "caption-text":
        caption["compositional_deconstruction"]["elements"][1]["text"] = echo()
        caption["high_level_description"] = echo() + " " + caption["high_level_description"]
        reply.body = _ok(caption, hosted)
    elif kind == "caption-invalid":
        del caption["compositional_deconstruction"]["background"]
        caption["high_level_description"] = echo()
        caption["style_description"]["color_palette"] = [echo()]
        reply.body = _ok(caption, hosted)
    elif kind == "caption-unparseable":
        reply.body = _ok(f"I cannot help with that: {echo()}", hosted)
    elif kind == "caption-foreign-key":
        caption[echo()] = echo()
        caption["compositional_deconstruction"]["elements"][0][echo()] = 1
        reply.body = _ok(caption, hosted)
    elif kind == "caption-truncated":
        text = json.dumps(caption, ensure_ascii=False)
        cut = text[: len(text) // 2] + echo()
        reply.body = _dumps({"json_prompt": cut}) if hosted else _dumps(_chat(cut, finish="length"))
    elif kind == "envelope":
        if hosted:
            reply.body = _dumps({"json_prompt": caption, "aspect_ratio": echo(), "id": echo()})
        else:
            reply.body = _dumps(_chat(json.dumps(caption), id=echo(), model=echo(),
                                      usage={echo(): 5, "total_tokens": 10, "prompt_tokens": 3000}))
    else:  # header-only / reason-only: a good reply, the echo is in the envelope of the response
        reply.body = _ok(caption, hosted)
    if kind == "reason-only" or draw(st.booleans()):
        reply.reason = echo()
    if kind == "header-only" or draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(["X-Request-Id", "X-Generation-Id", "Retry-After", "X-Echo",
                                               "Www-Authenticate", "Location"]), min_size=1, max_size=3, unique=True))
        reply.headers = {name: echo() for name in names}
    return reply


def _options(backend: str, base: str) -> dict[str, Any]:
    options: dict[str, Any] = {"base_url": base, "retry": NO_RETRY, "max_reasks": 0}
    if backend == "openai-compatible":
        options["model"] = "fake"
    return options


def _base(backend: str, server: FakeMagicServer | None) -> str:
    hosted = BACKENDS[backend].protocol == "ideogram"
    if server is None:
        return "http://127.0.0.1:9" if hosted else "http://127.0.0.1:9/v1"
    return server.url if hosted else server.chat_url


def _outcome_outputs(name: str, call: Any) -> list[tuple[str, str]]:
    try:
        result = call()
    except Exception as exc:  # every failure is an output too
        return exception_outputs(name, exc)
    return result_outputs(name, result)


def _run_library(mode: str, transport: str, backend: str, raw_key: str, reply: Reply,
                 server: FakeMagicServer) -> tuple[list[tuple[str, str]], list[str]]:
    """Run one call; return the outputs and the auth header values the server received."""
    sent: list[str] = []
    outputs: list[tuple[str, str]] = []
    if transport == "loopback":
        server.default = reply.step()
        before = len(server.requests)
    else:
        def handler(request: httpx.Request) -> httpx.Response:
            sent.append(request.headers.get("api-key") or request.headers.get("authorization", ""))
            return reply.response()

    options = _options(backend, _base(backend, server if transport == "loopback" else None))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if mode == "sync":
            http = httpx.Client(transport=httpx.MockTransport(handler)) if transport == "mock" else None

            def call() -> Any:
                with MagicPromptClient(backend, api_key=raw_key, http_client=http, **options) as client:
                    return client.expand("a cafe counter", "3:2")

            outputs += _outcome_outputs("sync", call)
        elif mode == "async":
            ahttp = httpx.AsyncClient(transport=httpx.MockTransport(handler)) if transport == "mock" else None

            async def acall() -> Any:
                async with AsyncMagicPromptClient(backend, api_key=raw_key, http_client=ahttp, **options) as client:
                    return await client.expand("a cafe counter", "3:2")

            outputs += _outcome_outputs("async", lambda: anyio.run(acall))
        else:
            ahttp = httpx.AsyncClient(transport=httpx.MockTransport(handler)) if transport == "mock" else None
            items = anyio.run(lambda: expand_many(["one", {"id": "two", "idea": "two"}], "3:2", backend=backend,
                                                  concurrency=2, api_key=raw_key, http_client=ahttp, **options))
            for item in items:
                outputs.append((f"batch[{item.id}].record", json.dumps(item.to_dict(), ensure_ascii=False)))
                if item.error is not None:
                    outputs += exception_outputs(f"batch[{item.id}].error", item.error)
                else:
                    outputs += result_outputs(f"batch[{item.id}].result", item.result)
    outputs += [(f"warning[{i}]", str(w.message)) for i, w in enumerate(caught)]
    if transport == "loopback":
        sent = [r.headers.get("api-key") or r.headers.get("authorization", "") for r in server.requests[before:]]
    return outputs, sent


def _outcome(outputs: list[tuple[str, str]]) -> str:
    """For the statistics: which kind of result or error the call ended in."""
    for name, text in outputs:
        if name.endswith(".repr"):
            return text.split("(", 1)[0]
    return "none"


def _log_outputs(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    messages = "\n".join(f"{r.name}: {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    return [("caplog.text", caplog.text), ("caplog.records", messages)]


def _assert_sent(key: str, sent: list[str]) -> None:
    # the property means something only if the key really went out (stripped, in its header)
    assert sent and all(value in (key, f"Bearer {key}") for value in sent), sent


@pytest.fixture(scope="module")
def leak_server() -> Any:
    with FakeMagicServer() as srv:
        yield srv


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log headers and status lines at DEBUG
    return caplog


@LEAK_SETTINGS
@given(data=st.data(), key=canaries(), space=st.sampled_from(WHITESPACE),
       backend=st.sampled_from(sorted(BACKENDS)), mode=st.sampled_from(["sync", "async", "batch"]),
       transport=st.sampled_from(["loopback", "mock"]))
def test_a_canary_key_appears_in_no_library_output(leak_server, debug_logs, data, key, space, backend, mode,
                                                   transport) -> None:
    debug_logs.clear()  # caplog is function-scoped: start every example with no records
    raw_key = data.draw(st.sampled_from([key + space, space + key]))
    reply = data.draw(replies(key, backend, retries_allowed=True), label="reply")
    outputs, sent = _run_library(mode, transport, backend, raw_key, reply, leak_server)
    event(f"echo in: {reply.kind}")
    event(f"ran: {backend} {mode} over {transport}")
    event(f"outcome: {_outcome(outputs)}")
    _assert_sent(key, sent)
    outputs += _log_outputs(debug_logs)
    assert leaks(key, outputs) == []


def _cli_args(backend: str, server: FakeMagicServer) -> list[str]:
    args = ["-b", backend, "--base-url", _base(backend, server), "--max-reasks", "0", "--aspect", "3:2"]
    return args + (["-m", "fake"] if backend == "openai-compatible" else [])


@LEAK_SETTINGS
@given(data=st.data(), key=canaries(), space=st.sampled_from(WHITESPACE),
       backend=st.sampled_from(sorted(BACKENDS)), batch=st.booleans(), record=st.booleans())
def test_a_canary_key_appears_in_no_cli_output(leak_server, debug_logs, data, key, space, backend, batch,
                                               record) -> None:
    debug_logs.clear()
    reply = data.draw(replies(key, backend, retries_allowed=False), label="reply")
    leak_server.default = reply.step()
    before = len(leak_server.requests)
    env = {KEY_VAR[backend]: key + space}
    outputs: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        args = ["expand", *_cli_args(backend, leak_server)]
        if record:
            args += ["--format", "record"]
        if batch:
            ideas, out = Path(tmp) / "ideas.jsonl", Path(tmp) / "out.jsonl"
            ideas.write_text('{"id": "a", "idea": "one"}\n"two"\n', encoding="utf-8")
            args += ["--batch", str(ideas), "-o", str(out), "-j", "1"]
        else:
            args.insert(1, "a cafe counter")
        result = runner.invoke(app, args, env=env)
        outputs += [("cli.stdout", result.stdout), ("cli.stderr", result.stderr),
                    ("cli.exception", repr(result.exception) if not isinstance(result.exception, SystemExit) else "")]
        for path in Path(tmp).iterdir():
            outputs.append((f"cli.file[{path.name}]", path.read_text(encoding="utf-8")))
    assert result.exit_code in (0, 1, 2) and "Traceback" not in result.stderr, result.stderr
    if space:
        assert "removed whitespace around the API key" in result.stderr
    event(f"echo in: {reply.kind}")
    event(f"ran: {backend} {'batch' if batch else 'single'}, exit {result.exit_code}")
    sent = [r.headers.get("api-key") or r.headers.get("authorization", "") for r in leak_server.requests[before:]]
    _assert_sent(key, sent)
    outputs += _log_outputs(debug_logs)
    assert leaks(key, outputs) == []


def test_the_oracle_sees_every_encoding_it_is_given() -> None:
    """The property above is only as strong as its oracle: it must find each encoded echo."""
    from .leaks import ENCODINGS

    key = "sk-canary-7f3a9c1e5b2d4f60"
    for name, encode in ENCODINGS.items():
        for piece in (key, key[:12], key[-9:], key[5:13]):
            assert leaks(key, [(name, f"x {encode(piece)} y")]), (name, piece)
    assert leaks(key, [("clean", "x <redacted> y sk-cana 7f3a9c1")]) == []  # runs of 7: allowed
