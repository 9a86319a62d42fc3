"""A canary key must never appear in logs, reprs, exceptions, pickles or results."""

from __future__ import annotations

import logging
import pickle

import httpx
import pytest

from captionkit.magic import MagicPromptClient, Secret, errors
from captionkit.magic.testing import SAMPLE_CAPTION, RecordedRequest, Step

from .conftest import FAST_RETRY

CANARY = "sk-canary-7f3a9c1e5b2d4f60"


def echo_key(request: RecordedRequest) -> bytes:
    """A hostile server that puts the key it received into its error message."""
    key = request.headers.get("authorization", "") + request.headers.get("api-key", "")
    return ('{"error": {"message": "invalid key ' + key + '", "code": 401}}').encode()


def leaks(*texts: str) -> list[str]:
    return [t for t in texts if CANARY in t]


def test_canary_never_leaks_over_a_real_loopback_call(server, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore log at DEBUG
    server.push(Step.caption(SAMPLE_CAPTION))
    server.push(Step(status=401, body=echo_key))
    with MagicPromptClient("claude-sonnet-v1", api_key=CANARY, base_url=server.chat_url, retry=FAST_RETRY) as client:
        result = client.expand("x", "3:2")
        logging.getLogger("httpcore.http11").debug("send_request_headers headers=[(b'Authorization', b'Bearer %s')]", CANARY)
        with pytest.raises(errors.AuthenticationError) as info:
            client.expand("x", "3:2")
        client_repr = repr(client)
    assert server.requests[0].headers["authorization"] == f"Bearer {CANARY}"  # it was really sent
    exc = info.value
    assert leaks(caplog.text, client_repr, repr(result), str(result.to_dict()), str(exc), repr(exc), exc.body,
                 repr(pickle.loads(pickle.dumps(exc)).__dict__)) == []
    assert "<redacted>" in exc.body and "<redacted>" in caplog.text


def test_canary_never_leaks_with_a_mock_transport_and_the_hosted_header(caplog) -> None:
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"error": f"key {request.headers['api-key']} has no access"})

    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = MagicPromptClient("ideogram-4-v1", api_key=CANARY, http_client=http)
    with pytest.raises(errors.PermissionDeniedError) as info:
        client.expand("x")
    exc = info.value
    assert leaks(caplog.text, repr(client), str(exc), repr(exc), exc.body, str(pickle.loads(pickle.dumps(exc)))) == []


def test_secret_type_masks_and_refuses_pickling(monkeypatch) -> None:
    secret = Secret(CANARY)
    assert CANARY not in repr(secret) and CANARY not in str(secret) and CANARY not in f"{secret!r} {secret}"
    with pytest.raises(TypeError):
        pickle.dumps(secret)
    monkeypatch.setenv("IDEOGRAM_API_KEY", CANARY)
    client = MagicPromptClient()
    assert CANARY not in repr(client) and CANARY not in repr(client.config) and CANARY not in str(vars(client))


def test_missing_key_error_never_shows_other_keys(monkeypatch) -> None:
    monkeypatch.setenv("MAGIC_PROMPT_API_KEY", CANARY)  # a key for another backend
    with pytest.raises(errors.MissingAPIKeyError) as info:
        MagicPromptClient("ideogram-4-v1")
    assert CANARY not in str(info.value) and CANARY not in repr(pickle.loads(pickle.dumps(info.value)))
