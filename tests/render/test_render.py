"""End-to-end renders on the tiny pipeline: seeds, schedule order, progress, cancel, metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from render_captions import KITE as CAPTION  # noqa: E402

from captionkit.render import Cancelled, CancelToken, Preset, read_recipe  # noqa: E402


def pixels(result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


def test_render_returns_images_with_recipe(renderer, quick) -> None:
    (result,) = renderer.render(CAPTION, preset=quick, size="256x512", seed=5)
    assert result.image.size == (256, 512)
    r = result.recipe
    assert (r.seed, r.width, r.height, r.backend, r.dtype) == (5, 256, 512, "diffusers", "float32")
    assert r.caption == json.dumps(CAPTION, separators=(",", ":"))
    assert r.preset == quick
    assert {"captionkit", "diffusers", "torch"} <= set(r.versions)


def test_same_seed_same_image_and_seed_batches(renderer, quick) -> None:
    a = renderer.render(CAPTION, preset=quick, size=(256, 256), seed=11)[0]
    b = renderer.render(CAPTION, preset=quick, size=(256, 256), seed=11)[0]
    assert np.array_equal(pixels(a), pixels(b))
    batch = renderer.render(CAPTION, preset=quick, size=(256, 256), seeds=[3, 11, 12], batch_size=2)
    assert [r.recipe.seed for r in batch] == [3, 11, 12]
    assert np.abs(pixels(batch[1]) - pixels(a)).max() <= 1
    assert not np.array_equal(pixels(batch[0]), pixels(batch[1]))


def _fresh(label: str) -> dict:
    """The kite caption with a description no other test renders (so it is not already encoded)."""
    return {**CAPTION, "high_level_description": f"A red kite over a green hill ({label})."}


def test_seed_list_encodes_the_caption_once(renderer, quick) -> None:
    calls = []
    # the pipeline calls the decoder layers directly; count the embedding lookups
    emb = renderer.pipe.text_encoder.language_model.embed_tokens.register_forward_hook(lambda *a: calls.append(1))
    events = []
    try:
        caption = _fresh("seed list")
        renderer.render(caption, preset=quick, size=(256, 256), seeds=[1, 2, 3], batch_size=1, on_progress=events.append)
        # more seeds of the same caption later reuse the encoding too
        renderer.render(caption, preset=quick, size=(256, 256), seeds=[4], on_progress=events.append)
        assert len(calls) == 1
        # a new caption is encoded
        renderer.render(_fresh("another"), preset=quick, size=(256, 256), seed=1, on_progress=events.append)
    finally:
        emb.remove()
    assert len(calls) == 2
    assert [e.phase for e in events].count("encode") == 2


def test_progress_covers_every_phase(renderer, quick) -> None:
    events = []
    renderer.render(_fresh("phases"), preset=quick, size=(256, 256), seed=1, on_progress=events.append)
    phases = [e.phase for e in events]
    assert phases == ["encode", "step", "step", "decode"]
    assert [e.step for e in events if e.phase == "step"] == [1, 2]
    assert all(e.steps == 2 for e in events)
    assert all(b.elapsed >= a.elapsed for a, b in zip(events, events[1:]))


def test_diffusers_receives_run_order(renderer) -> None:
    # The official order [1, 2, 3] is index 0 = last step; diffusers must run 3, 2, 1.
    p = Preset.custom(steps=3, schedule=[1.0, 2.0, 3.0], order="official")
    seen = []

    def progress(event) -> None:
        if event.phase == "step":
            seen.append(renderer.pipe.guidance_scale)

    renderer.render(CAPTION, preset=p, size=(256, 256), seed=1, on_progress=progress)
    assert seen == [3.0, 2.0, 1.0]


def test_turbo_preset_schedule_ends_with_polish(renderer) -> None:
    seen = []
    renderer.render(CAPTION, preset="V4_TURBO_12", size=(256, 256), seed=1,
                    on_progress=lambda e: seen.append(renderer.pipe.guidance_scale) if e.phase == "step" else None)
    assert seen == [7.0] * 11 + [3.0]


def test_cancel_token_stops_without_result(renderer, quick) -> None:
    token = CancelToken()

    def progress(event) -> None:
        if event.phase == "step":
            token.cancel()

    with pytest.raises(Cancelled):
        renderer.render(CAPTION, preset=quick, size=(256, 256), seed=1, on_progress=progress, cancel=token)
    # the renderer stays usable afterwards
    assert renderer.render(CAPTION, preset=quick, size=(256, 256), seed=1)[0].image.size == (256, 256)


def test_png_metadata_round_trip_reproduces(renderer, quick, tmp_path: Path) -> None:
    first = renderer.render(CAPTION, preset=quick, size=(256, 256), seed=21)[0]
    path = first.save(tmp_path / "kite.png")
    recipe = read_recipe(path)
    assert recipe == first.recipe
    again = renderer.render(recipe.caption, preset=recipe.preset, size=(recipe.width, recipe.height), seed=recipe.seed)
    assert np.array_equal(pixels(again[0]), pixels(first))


def test_memory_report(renderer) -> None:
    report = renderer.memory()
    assert report.device == "cpu"
    assert report.rss > 0 and report.ram_total > 0 and 0 <= report.ram_pressure <= 1
    assert report.format().startswith("memory: process RSS")
