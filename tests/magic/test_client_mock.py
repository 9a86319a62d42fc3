"""Fine-grained client tests over httpx.MockTransport: wire contracts, errors, retries, keys."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import anyio
import httpx
import pytest

from captionkit.magic import (
    AsyncMagicPromptClient,
    MagicPromptClient,
    RetryPolicy,
    errors,
)
from captionkit.magic.testing import SAMPLE_CAPTION

NO_WAIT = RetryPolicy(max_retries=2, initial_delay=0.0, max_delay=0.0, jitter=0.0)
CAPTION_TEXT = json.dumps({"aspect_ratio": "3:2", **SAMPLE_CAPTION}, ensure_ascii=False)


def completion(content: str, finish: str = "stop", **extra: Any) -> dict[str, Any]:
    return {
        "id": "gen-1",
        "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 3000, "completion_tokens": 300, "total_tokens": 3300},
        **extra,
    }


Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def sync_client(handler: Handler, backend: str = "claude-sonnet-v1", **options: Any) -> MagicPromptClient:
    options.setdefault("api_key", "test-key-123")
    options.setdefault("retry", NO_WAIT)
    return MagicPromptClient(backend, http_client=httpx.Client(transport=httpx.MockTransport(handler)), **options)


def test_hosted_request_uses_api_key_header_and_the_snapped_enum() -> None:
    handler, seen = scripted(httpx.Response(200, json={"json_prompt": SAMPLE_CAPTION, "aspect_ratio": "16x9"}))
    with sync_client(handler, "ideogram-4-v1") as client:
        result = client.expand("a cafe", "1344x768")
    request = seen[0]
    assert str(request.url) == "https://api.ideogram.ai/v1/ideogram-v4/magic-prompt"
    assert request.headers["api-key"] == "test-key-123"
    assert "authorization" not in request.headers
    assert json.loads(request.content) == {"text_prompt": "a cafe", "aspect_ratio": "16x9"}
    assert result.aspect_ratio == "16:9" and result.requested_aspect == "7:4"
    assert result.model is None and result.prompt is None and result.attempts == 1


def test_hosted_auto_reports_the_bucket_the_server_chose() -> None:
    handler, seen = scripted(httpx.Response(200, json={"json_prompt": SAMPLE_CAPTION, "aspect_ratio": "9x16"}))
    with sync_client(handler, "ideogram-4-v1") as client:
        result = client.expand("a tall tower")
    assert json.loads(seen[0].content)["aspect_ratio"] == "AUTO"
    assert result.aspect_ratio == "9:16" and result.requested_aspect == "auto"


def test_openrouter_request_body_matches_the_official_shape() -> None:
    handler, seen = scripted(httpx.Response(200, json=completion(CAPTION_TEXT), headers={"X-Generation-Id": "gen-xyz"}))
    with sync_client(handler, "claude-sonnet-v1") as client:
        result = client.expand("a cafe", "3:2")
    request = seen[0]
    body = json.loads(request.content)
    assert str(request.url) == "https://openrouter.ai/api/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer test-key-123"
    assert "api-key" not in request.headers
    assert list(body) == ["model", "messages", "max_tokens", "temperature", "reasoning"]
    assert body["model"] == "anthropic/claude-sonnet-4.6" and body["max_tokens"] == 16384
    assert body["temperature"] == 1.0 and body["reasoning"] == {"enabled": False}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "TARGET IMAGE ASPECT RATIO: 3:2 (width:height)." in body["messages"][1]["content"]
    assert body["messages"][1]["content"].endswith("User idea: a cafe")
    assert result.request_id == "gen-xyz" and result.usage["total_tokens"] == 3300
    assert result.prompt.startswith("captionkit-v1@1.0.0#")


def test_opus_omits_temperature_and_generic_servers_get_no_reasoning() -> None:
    handler, seen = scripted(httpx.Response(200, json=completion(CAPTION_TEXT)))
    with sync_client(handler, "claude-opus-v1") as client:
        client.expand("x", "1:1")
    opus = json.loads(seen[0].content)
    assert opus["model"] == "anthropic/claude-opus-4.8" and "temperature" not in opus
    handler, seen = scripted(httpx.Response(200, json=completion(CAPTION_TEXT)))
    with sync_client(handler, "openai-compatible", api_key=None, base_url="http://127.0.0.1:9/v1/",
                     model="qwen", max_tokens_field="max_completion_tokens") as client:
        client.expand("x", "1:1")
    generic = json.loads(seen[0].content)
    assert str(seen[0].url) == "http://127.0.0.1:9/v1/chat/completions"
    assert "authorization" not in seen[0].headers  # no key configured: no header at all
    assert list(generic) == ["model", "messages", "max_completion_tokens"]


def test_base_url_override_points_anywhere() -> None:
    handler, seen = scripted(httpx.Response(200, json={"json_prompt": SAMPLE_CAPTION, "aspect_ratio": "1x1"}))
    with sync_client(handler, "ideogram-4-v1", base_url="http://proxy.local:8080/ideogram/") as client:
        client.expand("x", "1:1")
    assert str(seen[0].url) == "http://proxy.local:8080/ideogram/v1/ideogram-v4/magic-prompt"


@pytest.mark.parametrize(
    ("backend", "env", "expected"),
    [
        ("ideogram-4-v1", {"IDEOGRAM_API_KEY": "ideo"}, {"api-key": "ideo"}),
        ("claude-opus-v1", {"MAGIC_PROMPT_API_KEY": "mp", "OPENROUTER_API_KEY": "or"}, {"authorization": "Bearer mp"}),
        ("claude-opus-v1", {"OPENROUTER_API_KEY": "or-key"}, {"authorization": "Bearer or-key"}),
        # the official CLI's pitfall: an OpenRouter key must never reach Ideogram
        ("ideogram-4-v1", {"IDEOGRAM_API_KEY": "ideo", "MAGIC_PROMPT_API_KEY": "mp"}, {"api-key": "ideo"}),
    ],
)
def test_each_backend_reads_only_its_own_variables(monkeypatch, backend, env, expected) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    ok = {"json_prompt": SAMPLE_CAPTION, "aspect_ratio": "1x1"} if backend.startswith("ideogram") else completion(CAPTION_TEXT)
    handler, seen = scripted(httpx.Response(200, json=ok))
    with sync_client(handler, backend, api_key=None) as client:
        client.expand("x", "1:1")
    for header, value in expected.items():
        assert seen[0].headers[header] == value


def test_explicit_key_wins_over_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_API_KEY", "from-env")
    handler, seen = scripted(httpx.Response(200, json={"json_prompt": SAMPLE_CAPTION, "aspect_ratio": "1x1"}))
    with sync_client(handler, "ideogram-4-v1", api_key="explicit") as client:
        client.expand("x")
    assert seen[0].headers["api-key"] == "explicit"


@pytest.mark.parametrize(
    ("backend", "names"),
    [("ideogram-4-v1", "IDEOGRAM_API_KEY"), ("claude-sonnet-v1", "MAGIC_PROMPT_API_KEY or OPENROUTER_API_KEY")],
)
def test_missing_key_is_a_one_line_error_naming_the_variables(monkeypatch, backend, names) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "never-used")
    with pytest.raises(errors.MissingAPIKeyError) as info:
        MagicPromptClient(backend)
    message = str(info.value)
    assert names in message and "\n" not in message and "never-used" not in message
    assert info.value.env_vars == tuple(names.split(" or "))


def test_openai_compatible_needs_base_url_and_model_but_no_key() -> None:
    with pytest.raises(errors.ConfigurationError, match="no base URL"):
        MagicPromptClient("openai-compatible", model="m")
    with pytest.raises(errors.ConfigurationError, match="no model"):
        MagicPromptClient("openai-compatible", base_url="http://127.0.0.1:1/v1")
    with pytest.raises(errors.ConfigurationError, match="unknown backend 'gpt'"):
        MagicPromptClient("gpt")


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (400, {"error": {"message": "bad model", "code": 400}}, errors.BadRequestError, None),
        (401, {"error": {"message": "No auth credentials found", "code": 401}}, errors.AuthenticationError, None),
        (402, {"error": {"message": "Insufficient credits", "code": 402}}, errors.InsufficientCreditsError, None),
        (403, {"error": {"message": "flagged", "code": 403, "metadata": {"reasons": ["violence"]}}}, errors.ModerationError, None),
        (422, {"error": "The prompt failed the safety check"}, errors.SafetyRejectedError, None),
        (400, {"detail": "aspect_ratio must be one of ..."}, errors.BadRequestError, None),
        (404, {"object": "error", "message": "model 'x' not found"}, errors.NotFoundError, None),
    ],
)
def test_error_statuses_map_to_typed_errors_without_retry(status, body, cls, code) -> None:
    handler, seen = scripted(httpx.Response(status, json=body, headers={"x-request-id": "req-9"}))
    with sync_client(handler) as client, pytest.raises(cls) as info:
        client.expand("x", "1:1")
    exc = info.value
    assert len(seen) == 1  # never retried
    assert exc.status_code == status and exc.request_id == "req-9" and exc.retryable is False
    assert "\n" not in str(exc) and f"HTTP {status}" in str(exc)


def test_body_text_is_truncated_on_errors() -> None:
    handler, _ = scripted(httpx.Response(400, text="x" * 5000))
    with sync_client(handler) as client, pytest.raises(errors.BadRequestError) as info:
        client.expand("x")
    assert len(info.value.body) < 700 and len(str(info.value)) < 600


def test_429_with_retry_after_then_success_waits_as_told(monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("captionkit.magic._client.time.sleep", slept.append)
    handler, seen = scripted(
        httpx.Response(429, json={"error": "Too many requests in flight", "reject_reason": "inflight_limit"},
                       headers={"Retry-After": "7"}),
        httpx.Response(200, json={"json_prompt": SAMPLE_CAPTION, "aspect_ratio": "1x1"}),
    )
    with sync_client(handler, "ideogram-4-v1", retry=RetryPolicy()) as client:
        result = client.expand("x", "1:1")
    assert slept == [7.0] and len(seen) == 2 and result.transport_attempts == 2


def test_backoff_is_exponential_with_jitter_and_bounded(monkeypatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("captionkit.magic._client.time.sleep", slept.append)
    handler, seen = scripted(httpx.Response(503, json={"error": {"message": "down", "code": 503}}))
    with sync_client(handler, retry=RetryPolicy(max_retries=3)) as client, pytest.raises(errors.InternalServerError):
        client.expand("x")
    assert len(seen) == 4 and len(slept) == 3
    for got, base in zip(slept, [0.5, 1.0, 2.0]):
        assert 0.75 * base <= got <= base


def test_openrouter_in_flight_402_retries_but_plain_402_does_not() -> None:
    budget = {"error": {"message": "in-flight budget", "code": 402, "metadata": {"limit_source": "openrouter_in_flight_budget"}}}
    handler, seen = scripted(httpx.Response(402, json=budget), httpx.Response(200, json=completion(CAPTION_TEXT)))
    with sync_client(handler) as client:
        assert client.expand("x").transport_attempts == 2
    handler, seen = scripted(httpx.Response(402, json={"error": {"message": "no credits", "code": 402}}))
    with sync_client(handler) as client, pytest.raises(errors.InsufficientCreditsError):
        client.expand("x")
    assert len(seen) == 1


def test_200_with_error_body_is_an_error_and_retried_when_transient() -> None:
    mid = {"error": {"message": "upstream overloaded", "code": 502}}
    handler, seen = scripted(httpx.Response(200, json=mid), httpx.Response(200, json=completion(CAPTION_TEXT)))
    with sync_client(handler) as client:
        assert client.expand("x").transport_attempts == 2
    choice_error = completion("", finish="error")
    choice_error["choices"][0]["error"] = {"message": "provider failed", "code": 400}
    handler, seen = scripted(httpx.Response(200, json=choice_error))
    with sync_client(handler) as client, pytest.raises(errors.BadRequestError, match="provider failed"):
        client.expand("x")
    assert len(seen) == 1


def test_envelopes_without_a_result_are_response_errors() -> None:
    for body in ({"choices": []}, completion("   ")):
        handler, _ = scripted(httpx.Response(200, json=body))
        with sync_client(handler) as client, pytest.raises(errors.APIResponseError):
            client.expand("x")
    handler, _ = scripted(httpx.Response(200, json={"aspect_ratio": "1x1"}))
    with sync_client(handler, "ideogram-4-v1") as client, pytest.raises(errors.APIResponseError, match="no json_prompt"):
        client.expand("x")
    handler, _ = scripted(httpx.Response(200, text="<html>proxy login</html>"))
    with sync_client(handler) as client, pytest.raises(errors.APIResponseError, match="not a JSON object"):
        client.expand("x")


def test_connection_errors_and_timeouts_are_retried_then_typed() -> None:
    handler, seen = scripted(httpx.ConnectError("refused"), httpx.Response(200, json=completion(CAPTION_TEXT)))
    with sync_client(handler) as client:
        assert client.expand("x").transport_attempts == 2
    handler, seen = scripted(httpx.ReadTimeout("slow"))
    with sync_client(handler) as client, pytest.raises(errors.APITimeoutError) as info:
        client.expand("x")
    assert info.value.phase == "read" and len(seen) == 3


def test_think_blocks_and_double_encoded_json_are_unwrapped() -> None:
    reply = "<think>plan the scene first</think>\n" + json.dumps(CAPTION_TEXT)
    handler, _ = scripted(httpx.Response(200, json=completion(reply)))
    with sync_client(handler) as client:
        result = client.expand("x", "3:2")
    messages = [c.message for c in result.changes]
    assert any("<think>" in m for m in messages)
    assert any("encoded as a JSON string" in m for m in messages)
    assert result.metadata["aspect_ratio"] == "3:2" and result.aspect_ratio == "3:2"


def test_non_ascii_text_round_trips_literally() -> None:
    caption = json.loads(CAPTION_TEXT)
    caption["compositional_deconstruction"]["elements"][1]["text"] = "東京\nCAFÉ 2,50 €"
    handler, _ = scripted(httpx.Response(200, json=completion(json.dumps(caption))))  # \u-escaped on the wire
    with sync_client(handler) as client:
        result = client.expand("x", "3:2")
    assert "東京\\nCAFÉ 2,50 €" in result.text and "\\u" not in result.text


def test_sync_and_async_clients_agree() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=completion(CAPTION_TEXT))

    with sync_client(handler) as client:
        expected = client.expand("x", "3:2")

    async def main() -> Any:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        async with AsyncMagicPromptClient("claude-sonnet-v1", api_key="k", http_client=http, retry=NO_WAIT) as client:
            return await client.expand("x", "3:2")

    got = anyio.run(main)
    assert got.text == expected.text and got.aspect_ratio == expected.aspect_ratio
    assert [c.code for c in got.changes] == [c.code for c in expected.changes]


def test_injected_clients_are_not_closed_but_owned_ones_are() -> None:
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=completion(CAPTION_TEXT))))
    with MagicPromptClient("claude-sonnet-v1", api_key="k", http_client=http):
        pass
    assert not http.is_closed
    with MagicPromptClient("claude-sonnet-v1", api_key="k") as owned:
        inner = owned._http
    assert inner.is_closed


def test_a_refused_fix_is_named_in_the_reask_and_in_the_error() -> None:
    # "\ud800" parses to a lone surrogate, which UTF-8 cannot store: fix() refuses the caption.
    # The loop used to re-ask and fail with "does not match the caption model", hiding why.
    bad = '{"compositional_deconstruction":{"background":"a\\ud800","elements":[]}}'
    handler, seen = scripted(httpx.Response(200, json=completion(bad)))
    reason = "/compositional_deconstruction/background holds a lone surrogate, which UTF-8 cannot store"
    with sync_client(handler, max_reasks=1) as client, pytest.raises(errors.CaptionVerificationError) as info:
        client.expand("a wall", "1:1")
    assert f"the fix was refused: {reason}" in str(info.value)
    assert info.value.diagnostics[0] == f"the fix was refused: {reason}"
    reask = json.loads(seen[1].content)["messages"][-1]["content"]
    assert reason in reask
