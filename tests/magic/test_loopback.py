"""The client against a real loopback server: repair loop, re-asks, retries, deadlines."""

from __future__ import annotations

import json
import time
from email.utils import formatdate
from typing import Any

import anyio
import pytest

from captionkit.compat import CaptionVerifier
from captionkit.magic import AsyncMagicPromptClient, MagicPromptClient, errors
from captionkit.magic.testing import FakeMagicServer, Step, fenced

from .conftest import FAST_RETRY, chat_options


def chat(server: FakeMagicServer, **extra: Any) -> MagicPromptClient:
    return MagicPromptClient("openai-compatible", **chat_options(server, **extra))


def hosted(server: FakeMagicServer, **extra: Any) -> MagicPromptClient:
    return MagicPromptClient("ideogram-4-v1", api_key="k-hosted", base_url=server.url, retry=FAST_RETRY, **extra)


def assert_clean(text: str) -> None:
    assert CaptionVerifier().verify_raw(text) == []


def test_fenced_json_with_prose_is_extracted(server, sample) -> None:
    server.push(Step.caption(fenced({"aspect_ratio": "3:2", **sample})))
    with chat(server) as client:
        result = client.expand("cafe", "3:2")
    assert_clean(result.text)
    assert result.attempts == 1 and len(server.requests) == 1
    assert any(c.code == "CK005" for c in result.changes)


def test_wrong_key_order_and_lowercase_hex_are_fixed_without_reasking(server, sample) -> None:
    messy = {
        "compositional_deconstruction": {
            "elements": [{"desc": e["desc"], **{k: v for k, v in e.items() if k != "desc"}} for e in sample["compositional_deconstruction"]["elements"]],
            "background": sample["compositional_deconstruction"]["background"],
        },
        "style_description": {**dict(reversed(list(sample["style_description"].items()))),
                              "color_palette": ["#f4f1ec", "#2b2b2b", "#fff"]},
        "high_level_description": sample["high_level_description"],
    }
    server.push(Step.caption(messy))
    with chat(server) as client:
        result = client.expand("cafe", "3:2")
    assert_clean(result.text)
    assert result.caption.style_description.color_palette == ("#F4F1EC", "#2B2B2B", "#FFFFFF")
    assert list(json.loads(result.text)) == ["high_level_description", "style_description", "compositional_deconstruction"]
    codes = {c.code for c in result.changes}
    assert {"CK201", "CK203", "CK205"} <= codes and result.attempts == 1


def test_aspect_ratio_key_is_moved_to_metadata(server, sample) -> None:
    server.push(Step.caption({"aspect_ratio": "16:9", **sample}))
    with chat(server) as client:
        result = client.expand("cafe", "auto")
    assert "aspect_ratio" not in result.text
    assert result.metadata["aspect_ratio"] == "16:9" and result.aspect_ratio == "16:9"
    sent = server.requests[0].json["messages"][1]["content"]
    assert "TARGET IMAGE ASPECT RATIO: auto (width:height)." in sent


def test_boxes_are_stripped_by_default_and_kept_on_request(server, sample) -> None:
    boxed = json.loads(json.dumps(sample))
    boxed["compositional_deconstruction"]["elements"][0]["bbox"] = [540, 180, 840, 520]
    server.push(Step.caption(boxed), Step.caption(boxed))
    with chat(server) as client:
        stripped = client.expand("cafe", "3:2")
        kept = client.expand("cafe", "3:2", strip_bboxes=False)
    assert "bbox" not in stripped.text
    # the stripped boxes are not lost: they are kept, by pointer, in the metadata
    assert stripped.metadata["stripped_bboxes"] == {"/compositional_deconstruction/elements/0/bbox": [540, 180, 840, 520]}
    assert kept.caption.compositional_deconstruction.elements[0].bbox is not None
    assert "stripped_bboxes" not in kept.metadata
    assert 'Do not include "bbox"' in server.requests[0].json["messages"][1]["content"]
    assert "x-span / y-span = H / W" in server.requests[1].json["messages"][1]["content"]


def test_invented_element_types_are_reasked_with_the_verifier_messages(server, sample) -> None:
    bad = json.loads(json.dumps(sample))
    bad["compositional_deconstruction"]["elements"][0]["type"] = "character"
    server.push(Step.caption(bad), Step.caption(sample))
    with chat(server) as client:
        result = client.expand("cafe", "3:2")
    assert result.attempts == 2 and len(server.requests) == 2
    followup = server.requests[1].json["messages"]
    assert [m["role"] for m in followup] == ["system", "user", "assistant", "user"]
    assert json.loads(followup[2]["content"])["compositional_deconstruction"]["elements"][0]["type"] == "character"
    assert "elements[0]: 'type' must be one of frozenset" in followup[3]["content"]
    assert "complete corrected JSON object only" in followup[3]["content"]


def test_invented_element_types_are_mapped_when_unsafe_fixes_are_allowed(server, sample) -> None:
    bad = json.loads(json.dumps(sample))
    bad["compositional_deconstruction"]["elements"][0]["type"] = "character"
    server.push(Step.caption(bad))
    with chat(server, unsafe_fixes=True) as client:
        result = client.expand("cafe", "3:2")
    assert result.attempts == 1
    assert any(c.code == "CK133" and not c.safe for c in result.changes)


def test_truncated_output_is_reasked_with_the_truncation_message(server, sample) -> None:
    full = json.dumps(sample, ensure_ascii=False)
    server.push(Step.caption(full[: len(full) // 2], finish_reason="length"), Step.caption(sample))
    with chat(server) as client:
        result = client.expand("cafe", "3:2")
    assert result.attempts == 2
    assert "cut off by the output limit" in server.requests[1].json["messages"][-1]["content"]


def test_truncated_output_that_never_completes_raises_a_truncation_error(server, sample) -> None:
    full = json.dumps(sample, ensure_ascii=False)
    server.default = Step.caption(full[:200], finish_reason="length")
    with chat(server, max_reasks=1) as client, pytest.raises(errors.CaptionTruncatedError) as info:
        client.expand("cafe", "3:2")
    assert info.value.attempts == 2 and info.value.reason == "truncated"
    assert info.value.raw == full[:200] and len(server.requests) == 2


def test_unrepairable_caption_raises_with_raw_reply_and_diagnostics(server) -> None:
    server.default = Step.caption('{"high_level_description": "A kite.", "compositional_deconstruction": {"elements": []}}')
    with chat(server) as client, pytest.raises(errors.CaptionVerificationError) as info:
        client.expand("kite", "1:1")
    exc = info.value
    assert len(server.requests) == 3  # the first reply plus the default 2 re-asks
    assert exc.attempts == 3 and "A kite." in exc.raw
    assert "compositional_deconstruction: 'background' must exist" in exc.diagnostics
    assert "\n" not in str(exc) and "after 3 replies" in str(exc)


def test_prose_without_json_raises_a_parse_error(server) -> None:
    server.default = Step.caption("I'm sorry, I can't draw that.")
    with chat(server, max_reasks=0) as client, pytest.raises(errors.CaptionParseError) as info:
        client.expand("kite", "1:1")
    assert info.value.raw == "I'm sorry, I can't draw that." and info.value.diagnostics[0].startswith("invalid JSON")


def test_hosted_gets_repairs_but_never_a_reask(server, sample) -> None:
    style = {"aesthetics": "calm", "lighting": "soft", "medium": "photograph"}  # the docs' example: no branch
    server.push(Step.caption({**sample, "style_description": style}))
    with hosted(server) as client, pytest.raises(errors.CaptionVerificationError) as info:
        client.expand("cafe", "3:2")
    assert len(server.requests) == 1 and info.value.attempts == 1
    assert any("expected one of 'photo'" in d for d in info.value.diagnostics)


def test_hosted_output_in_any_key_order_is_reordered(server, sample) -> None:
    reordered = dict(reversed(list(sample.items())))
    server.push(Step.caption(reordered, aspect_ratio="3x2"))
    with hosted(server) as client:
        result = client.expand("cafe", "1536x1024")
    assert_clean(result.text)
    assert server.requests[0].headers["api-key"] == "k-hosted"
    assert server.requests[0].json == {"text_prompt": "cafe", "aspect_ratio": "3x2"}
    assert result.aspect_ratio == "3:2"


@pytest.fixture
def slept(monkeypatch) -> list[float]:
    """Record the client's sleeps instead of waiting."""
    waits: list[float] = []
    monkeypatch.setattr("captionkit.magic._client.time.sleep", waits.append)
    return waits


def test_429_with_retry_after_seconds_then_success(server, slept) -> None:
    server.push(Step.json({"error": "Too many requests", "reject_reason": "inflight_limit"}, status=429,
                          headers={"Retry-After": "2"}))
    with hosted(server) as client:
        result = client.expand("cafe", "1:1")
    assert result.transport_attempts == 2 and len(server.requests) == 2
    assert slept == [2.0]  # the server's wait, not the policy's millisecond backoff


def test_429_with_an_http_date_retry_after(server, slept) -> None:
    server.push(Step.error(429, "slow down", retry_after=formatdate(time.time() + 5, usegmt=True)))
    with chat(server) as client:
        assert client.expand("x", "1:1").transport_attempts == 2
    assert len(slept) == 1 and 3.0 < slept[0] <= 5.0  # whole-second date resolution


def test_retry_after_in_milliseconds(server, slept) -> None:
    server.push(Step.json({"error": {"code": 503, "message": "busy"}}, status=503, headers={"retry-after-ms": "1500"}))
    with chat(server) as client:
        client.expand("x", "1:1")
    assert slept == [1.5]


def test_500_then_success(server) -> None:
    server.push(Step.error(500, "internal error"))
    with chat(server) as client:
        result = client.expand("x", "1:1")
    assert result.transport_attempts == 2 and result.attempts == 1


def test_200_with_an_error_body(server) -> None:
    server.push(Step.json({"error": {"code": 503, "message": "no provider available"}}))
    with chat(server) as client:
        assert client.expand("x", "1:1").transport_attempts == 2
    server.push(Step.json({"error": {"code": 401, "message": "key revoked"}}))
    with chat(server) as client, pytest.raises(errors.AuthenticationError, match="key revoked"):
        client.expand("x", "1:1")


def test_dropped_connections_are_retried_then_reported(server) -> None:
    server.push(Step(drop=True))
    with chat(server) as client:
        assert client.expand("x", "1:1").transport_attempts == 2
    server.push(Step(drop=True), Step(drop=True), Step(drop=True))
    with chat(server) as client, pytest.raises(errors.APIConnectionError) as info:
        client.expand("x", "1:1")
    assert "\n" not in str(info.value)


def test_nothing_listening_is_a_connection_error() -> None:
    with FakeMagicServer() as gone:
        url = gone.chat_url
    with MagicPromptClient("openai-compatible", base_url=url, model="m", retry=FAST_RETRY) as client:
        with pytest.raises(errors.APIConnectionError, match="cannot reach"):
            client.expand("x", "1:1")


def test_a_response_slower_than_the_deadline_times_out(server) -> None:
    server.default = Step.caption({"compositional_deconstruction": {"background": "b", "elements": []}}, delay=2.0)
    with chat(server, deadline=0.3) as client, pytest.raises(errors.APITimeoutError) as info:
        client.expand("x", "1:1")  # without the deadline this succeeds after 2 s
    assert info.value.phase in ("read", "deadline")


def test_a_slow_dripping_body_cannot_outlive_the_deadline(server, sample) -> None:
    # every byte arrives well within the read timeout, so only the overall deadline can stop it
    server.push(Step.caption(sample, drip=0.02))
    with chat(server, deadline=0.4) as client, pytest.raises(errors.APITimeoutError) as info:
        client.expand("x", "1:1")  # without the deadline this succeeds after about 20 s
    assert info.value.phase == "deadline" and "deadline of 0.4 s" in str(info.value)


def test_async_deadline_against_a_dripping_body(server, sample) -> None:
    server.push(Step.caption(sample, drip=0.02))

    async def main() -> None:
        async with AsyncMagicPromptClient("openai-compatible", **chat_options(server, deadline=0.4)) as client:
            await client.expand("x", "1:1")

    with pytest.raises(errors.APITimeoutError) as info:
        anyio.run(main)
    assert info.value.phase == "deadline"


def test_sync_and_async_agree_on_the_loopback_server(server, sample) -> None:
    bad = json.loads(json.dumps(sample))
    bad["compositional_deconstruction"]["elements"][0]["type"] = "subject"
    server.push(Step.caption(fenced(bad)), Step.caption(sample))
    with chat(server) as client:
        sync_result = client.expand("cafe", "3:2")

    async def main() -> Any:
        async with AsyncMagicPromptClient("openai-compatible", **chat_options(server)) as client:
            return await client.expand("cafe", "3:2")

    server.push(Step.caption(fenced(bad)), Step.caption(sample))
    async_result = anyio.run(main)
    assert sync_result.text == async_result.text
    assert (sync_result.attempts, sync_result.transport_attempts) == (async_result.attempts, async_result.transport_attempts) == (2, 2)
    first, second = server.requests[:2], server.requests[2:]
    assert [r.json for r in first] == [r.json for r in second]


def test_a_small_prompt_token_count_warns_about_the_context_window(server, sample) -> None:
    server.push(Step.caption(sample, usage={"prompt_tokens": 512, "completion_tokens": 300, "total_tokens": 812}))
    with chat(server) as client:
        result = client.expand("x", "3:2")
    assert any("context window" in w for w in result.warnings)
