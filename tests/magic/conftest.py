"""Fixtures for magic-prompt tests: a real loopback server and fast retry policies."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from captionkit.magic import RetryPolicy
from captionkit.magic.testing import SAMPLE_CAPTION, FakeMagicServer

KEY_VARS = (
    "IDEOGRAM_API_KEY",
    "MAGIC_PROMPT_API_KEY",
    "OPENROUTER_API_KEY",
    "CAPTIONKIT_OPENAI_COMPAT_API_KEY",
)

# The real keys, captured before the autouse fixture hides them (for opt-in live tests only).
REAL_KEYS = {name: os.environ[name] for name in KEY_VARS if os.environ.get(name)}

# Key-leak properties: the suite's hypothesis profile, plus caplog (function-scoped: each test
# clears it at the start of every example, hence the suppressed health check) and real HTTP
# calls (slow examples, large draws). CAPTIONKIT_LEAK_EXAMPLES sets the count for a long run.
_LEAK_EXAMPLES = os.environ.get("CAPTIONKIT_LEAK_EXAMPLES")
LEAK_SETTINGS = settings(
    settings.default,
    deadline=None,
    suppress_health_check=[
        *settings.default.suppress_health_check,
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
    **({"max_examples": int(_LEAK_EXAMPLES)} if _LEAK_EXAMPLES else {}),
)

# Retries that wait milliseconds, so tests of backoff stay fast.
FAST_RETRY = RetryPolicy(max_retries=2, initial_delay=0.001, max_delay=0.005)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees a real key from the environment."""
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[FakeMagicServer]:
    with FakeMagicServer() as srv:
        yield srv


@pytest.fixture
def sample() -> dict[str, Any]:
    return json.loads(json.dumps(SAMPLE_CAPTION))


def chat_options(server: FakeMagicServer, **extra: Any) -> dict[str, Any]:
    """Client options for the openai-compatible backend against the loopback server."""
    return {"base_url": server.chat_url, "model": "fake-model", "retry": FAST_RETRY, **extra}
