"""Fixtures for the notebook tests: a short caption, the tiny renderer, a Hypothesis profile."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import InvalidArgument

# nb_html.py (the HTML reader) is imported by name, like tests/core/official_ref.py.
sys.path.insert(0, str(Path(__file__).parent))

# The suite's Hypothesis profile ("captionkit", registered and loaded by tests/conftest.py). Where
# that conftest does not register it yet, the same profile is registered here, so the displays'
# properties never run under the default per-example deadline on a busy machine.
try:
    settings.get_profile("captionkit")
except InvalidArgument:
    settings.register_profile("captionkit", max_examples=100, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("captionkit")

_KITE = {
    "high_level_description": "A red kite over a green hill.",
    "compositional_deconstruction": {
        "background": "A green hill under a blue sky.",
        "elements": [{"type": "obj", "bbox": [100, 300, 400, 700], "desc": "A red diamond kite."}],
    },
}


@pytest.fixture
def kite() -> dict:
    """A short valid caption (the tiny pipeline's byte tokenizer makes long ones slow)."""
    import copy

    return copy.deepcopy(_KITE)


@pytest.fixture(scope="session")
def tiny_renderer():
    """The tiny random pipeline, built once, through the notebook's own loader."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from captionkit.notebook import load_renderer

    return load_renderer("tiny")


@pytest.fixture(scope="session")
def three_steps():
    """The cheapest custom parameters that still have a schedule with two values."""
    from captionkit.render import Preset

    return Preset.custom(steps=3, schedule=[7.0, 7.0, 3.0], name="custom")
