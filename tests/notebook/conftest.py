"""Fixtures for the notebook tests: a short caption and the tiny renderer."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# nb_html.py (the HTML reader) is imported by name, like tests/core/official_ref.py.
sys.path.insert(0, str(Path(__file__).parent))

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
