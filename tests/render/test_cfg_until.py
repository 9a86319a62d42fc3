"""The opt-in guidance cut (--cfg-until): which steps keep the unconditional pass, what it renders, the recipe."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from captionkit.render import RenderError
from captionkit.render.pipeline import check_cfg_until, guided_steps

fractions = st.floats(0.0, 1.0, allow_nan=False)


@given(fractions, st.integers(1, 64))
def test_guided_steps_are_those_before_the_fraction(f: float, steps: int) -> None:
    n = guided_steps(f, steps)
    assert n == sum(1 for i in range(steps) if i / steps < f)


@given(fractions, fractions, st.integers(1, 64))
def test_guided_steps_grow_with_the_fraction(a: float, b: float, steps: int) -> None:
    lo, hi = sorted((a, b))
    assert guided_steps(lo, steps) <= guided_steps(hi, steps) <= steps
    assert guided_steps(None, steps) == steps == guided_steps(1.0, steps)


@given(st.one_of(st.floats(allow_nan=True).filter(lambda x: not 0.0 <= x <= 1.0), st.booleans(), st.text(max_size=3)))
def test_bad_fractions_are_one_line(value) -> None:
    if isinstance(value, str):
        try:
            if 0.0 <= float(value) <= 1.0:
                return
        except ValueError:
            pass
    with pytest.raises(RenderError) as info:
        check_cfg_until(value)
    assert "\n" not in str(info.value) and str(info.value).startswith("--cfg-until must be")


torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from render_captions import KITE as CAPTION  # noqa: E402

from captionkit.render import Preset, read_recipe  # noqa: E402


def _px(result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


@pytest.fixture(scope="module")
def four():
    return Preset.custom(steps=4, schedule=[7.0, 7.0, 6.0, 3.0], mu=0.0, std=1.75, name="four")


def test_cut_skips_the_unconditional_pass_and_equals_guidance_one(renderer, four) -> None:
    calls = []
    inner = renderer.pipe.unconditional_transformer.input_proj
    hook = inner.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        cut = renderer.render(CAPTION, preset=four, size=(256, 256), seed=3, cfg_until=0.5)[0]
    finally:
        hook.remove()
    assert len(calls) == 2  # steps 0 and 1 of 4
    # skipping the pass is exactly a guidance weight of 1 for the later steps
    ones = Preset.custom(steps=4, schedule=[7.0, 7.0, 1.0, 1.0], mu=0.0, std=1.75, name="ones")
    same = renderer.render(CAPTION, preset=ones, size=(256, 256), seed=3)[0]
    assert np.array_equal(_px(cut), _px(same))
    full = renderer.render(CAPTION, preset=four, size=(256, 256), seed=3)[0]
    assert not np.array_equal(_px(cut), _px(full))
    assert cut.recipe.cfg_until == 0.5 and full.recipe.cfg_until is None
    assert cut.recipe.preset == four  # the preset is recorded as given; the cut beside it


def test_cut_at_one_is_full_guidance(renderer, four) -> None:
    a = renderer.render(CAPTION, preset=four, size=(256, 256), seed=4, cfg_until=1.0)[0]
    b = renderer.render(CAPTION, preset=four, size=(256, 256), seed=4)[0]
    assert np.array_equal(_px(a), _px(b))


def test_cut_survives_the_png_and_is_reproduced(renderer, four, tmp_path: Path) -> None:
    from captionkit.render import BatchItem, render_batch

    first = renderer.render(CAPTION, preset=four, size=(256, 256), seed=6, cfg_until=0.25)[0]
    path = first.save(tmp_path / "kite-s6.png")
    recipe = read_recipe(path)
    assert recipe.cfg_until == 0.25 and recipe == first.recipe
    out = tmp_path / "again"
    render_batch(renderer, [BatchItem("kite", str(path), recipe.caption, recipe=recipe)], out)
    again = read_recipe(out / "kite-s6.png")
    assert again.cfg_until == 0.25
    assert np.array_equal(_px(first), np.asarray(__import__("PIL.Image").Image.open(out / "kite-s6.png"), dtype=np.int16))


def test_recipe_rejects_a_bad_cut(tmp_path: Path) -> None:
    from PIL import Image

    from captionkit.render.metadata import RECIPE_KEY, Recipe, png_bytes
    from captionkit.render.presets import PRESETS

    good = png_bytes(Image.new("RGB", (4, 4)), Recipe(caption="{}", seed=1, preset=PRESETS["V4_TURBO_12"],
                                                      width=256, height=256, cfg_until=0.5))
    path = tmp_path / "x.png"
    path.write_bytes(good)
    with Image.open(path) as img:
        data = json.loads(img.text[RECIPE_KEY])
        caption = img.text["caption"]
    from PIL.PngImagePlugin import PngInfo

    for bad in (1.5, -0.1, "half", True):
        info = PngInfo()
        info.add_itxt("caption", caption)
        info.add_itxt(RECIPE_KEY, json.dumps({**data, "cfg_until": bad}))
        Image.new("RGB", (4, 4)).save(path, pnginfo=info)
        with pytest.raises(RenderError, match="malformed 'captionkit' metadata"):
            read_recipe(path)


@given(fractions)
def test_recipe_round_trip_keeps_the_cut(f: float) -> None:
    import io

    from PIL import Image

    from captionkit.render.metadata import Recipe, png_bytes
    from captionkit.render.presets import PRESETS

    r = Recipe(caption='{"a":1}', seed=2, preset=PRESETS["V4_TURBO_12"], width=256, height=512,
               cfg_until=f, vae_tiling=f > 0.5)
    back = read_recipe(io.BytesIO(png_bytes(Image.new("RGB", (2, 2)), r)))
    assert back == r and math.isclose(back.cfg_until, f)


def test_official_backend_refuses_the_cut() -> None:
    from captionkit.render import Renderer

    r = Renderer("/nonexistent", backend="official", device="cpu", cfg_until=0.6)
    with pytest.raises(RenderError, match="--cfg-until needs the diffusers backend"):
        r.render(CAPTION, size=(256, 256), seed=1)


def test_each_png_item_keeps_its_own_cut_in_a_mixed_batch(tmp_path: Path) -> None:
    # Regression: the last item's recipe leaked into every item of a batch, so a caption file
    # rendered beside a PNG with a cut was rendered with that PNG's cut.
    from captionkit.render import BatchItem, render_batch
    from captionkit.render.metadata import Recipe
    from captionkit.render.presets import PRESETS

    cut = Recipe(caption=json.dumps(CAPTION), seed=3, preset=PRESETS["V4_TURBO_12"], width=256, height=256,
                 cfg_until=0.5)
    full = Recipe(caption=json.dumps(CAPTION), seed=4, preset=PRESETS["V4_TURBO_12"], width=256, height=256)
    asked: dict[str, object] = {}

    class Recorder:
        model = backend_requested = cfg_until = None

        def load(self, on_progress=None):
            return self

        def render(self, caption, *, label, **kwargs):
            asked[label] = kwargs.get("cfg_until", "not given")
            return []

    items = [BatchItem("plain", "plain.json", json.dumps(CAPTION)), BatchItem("full", "full.png", full.caption, recipe=full),
             BatchItem("cut", "cut.png", cut.caption, recipe=cut), BatchItem("last", "last.json", json.dumps(CAPTION))]
    render_batch(Recorder(), items, tmp_path / "out")
    assert asked == {"plain.json": "not given", "full.png": "not given", "cut.png": 0.5, "last.json": "not given"}
