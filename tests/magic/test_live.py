"""Live smoke tests against the real services: opt-in (CAPTIONKIT_LIVE=1 plus the backend's key)."""

from __future__ import annotations

import os

import pytest

from captionkit.compat import CaptionVerifier
from captionkit.magic import expand

from .conftest import REAL_KEYS

pytestmark = pytest.mark.live

LIVE = os.environ.get("CAPTIONKIT_LIVE") == "1"


@pytest.mark.parametrize(
    ("backend", "variables"),
    [
        ("ideogram-4-v1", ("IDEOGRAM_API_KEY",)),
        ("claude-sonnet-v1", ("MAGIC_PROMPT_API_KEY", "OPENROUTER_API_KEY")),
    ],
)
def test_live_expand_gives_a_verified_caption(backend: str, variables: tuple[str, ...], monkeypatch) -> None:
    values = {name: REAL_KEYS[name] for name in variables if name in REAL_KEYS}
    if not LIVE or not values:
        pytest.skip(f"live test: set CAPTIONKIT_LIVE=1 and {' or '.join(variables)}")
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    result = expand("a neon diner sign at dusk reading 'OPEN 24H'", "16:9", backend=backend)
    assert CaptionVerifier().verify_raw(result.text) == []
    assert result.aspect_ratio == "16:9"
