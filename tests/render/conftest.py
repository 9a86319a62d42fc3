"""Fixtures for the render tests: one tiny random pipeline per session, saved to disk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from render_captions import KITE as CAPTION


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from captionkit.render._tiny import build_tiny_pipeline

    folder = tmp_path_factory.mktemp("models") / "tiny-ideogram4"
    build_tiny_pipeline(seed=0).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def renderer(tiny_model_dir: Path):
    """A renderer loaded once through the real loading path (CPU, float32, no compile)."""
    from captionkit.render import Renderer

    return Renderer(str(tiny_model_dir), device="cpu", dtype="float32", offline=True, compile=False).load()


@pytest.fixture(scope="session")
def quick():
    """Two-step custom parameters: the cheapest render that exercises a schedule."""
    from captionkit.render import Preset

    return Preset.custom(steps=2, schedule=[7.0, 3.0], mu=0.0, std=1.75, name="quick")


@pytest.fixture
def caption_file(tmp_path: Path) -> Path:
    path = tmp_path / "kite.json"
    path.write_text(json.dumps(CAPTION), encoding="utf-8")
    return path
