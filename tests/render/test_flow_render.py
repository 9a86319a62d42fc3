"""Render as one connected flow: re-rendering from a PNG uses its recipe, resume compares recipes,
options are checked before anything runs, several sources, ``--fix``, and the token pre-check."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from PIL import Image  # noqa: E402
from render_captions import BOAT  # noqa: E402
from render_captions import KITE as CAPTION  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from captionkit.cli import app  # noqa: E402
from captionkit.render import Recipe, read_recipe, write_png  # noqa: E402
from captionkit.render.presets import PRESETS  # noqa: E402

cli = CliRunner()
QUICK = ["--steps", "2", "--guidance", "5", "--size", "256x256", "--device", "cpu", "--quiet"]


def render(*argv: str):
    return cli.invoke(app, ["render", *argv])


@pytest.fixture
def kite(tmp_path: Path) -> Path:
    path = tmp_path / "kite.json"
    path.write_text(json.dumps(CAPTION), encoding="utf-8")
    return path


def test_rerender_uses_the_recipes_local_model_and_settings(tiny_model_dir: Path, kite: Path, tmp_path: Path) -> None:
    first = render(str(kite), "--out", str(tmp_path / "a"), "--model", str(tiny_model_dir), "--dtype", "float32",
                   "--seed", "7", *QUICK)
    assert first.exit_code == 0, first.output
    png = tmp_path / "a" / "kite-s7.png"
    # no --model, --dtype, --size, --seed or sampler flags: all from the recipe
    again = render(str(png), "--out", str(tmp_path / "b"), "--device", "cpu", "--quiet")
    assert again.exit_code == 0, again.output
    redo = tmp_path / "b" / "kite-s7.png"
    before, after = read_recipe(png), read_recipe(redo)
    assert after.model == str(tiny_model_dir) and after.dtype == "float32" and after == before
    with Image.open(png) as a, Image.open(redo) as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))
    # an override still wins over the recipe
    steps = render(str(png), "--out", str(tmp_path / "c"), "--device", "cpu", "--quiet", "--steps", "1")
    assert steps.exit_code == 0, steps.output
    assert read_recipe(tmp_path / "c" / "kite-s7.png").preset.steps == 1


def _recipe_png(path: Path, **fields) -> Path:
    recipe = Recipe(caption=json.dumps(CAPTION, separators=(",", ":")), seed=3, preset=PRESETS["V4_TURBO_12"],
                    width=256, height=256, **fields)
    write_png(Image.new("RGB", (16, 16)), path, recipe)
    return path


def test_rerender_of_a_hub_recipe_asks_for_its_id_and_revision(tmp_path: Path) -> None:
    png = _recipe_png(tmp_path / "hub-s3.png", model="someone/ideogram-mirror", revision="0" * 40)
    result = render(str(png), "--out", str(tmp_path / "o"), "--offline", "--device", "cpu")
    assert result.exit_code == 2
    assert "someone/ideogram-mirror" in result.stderr and "ideogram-ai/ideogram-v4" not in result.stderr


def test_rerender_when_the_recipes_folder_is_gone_names_model(tmp_path: Path) -> None:
    png = _recipe_png(tmp_path / "gone-s3.png", model=str(tmp_path / "deleted-model"))
    result = render(str(png), "--out", str(tmp_path / "o"))
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert f"the recipe's model folder {tmp_path / 'deleted-model'} no longer exists; pass --model" in result.stderr


def test_resume_compares_the_recipe_and_refuses_naming_the_difference(tiny_model_dir: Path, kite: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "out"
    base = ["--out", str(out), "--model", str(tiny_model_dir), "--dtype", "float32", "--device", "cpu", "--quiet",
            "--steps", "2", "--guidance", "5"]
    assert render(str(kite), *base, "--size", "256x256").exit_code == 0
    png = out / "kite-s0.png"
    stamp = png.stat().st_mtime_ns
    for extra, diff in (
        (["--size", "512x256"], "size 256x256 (this run: 512x256)"),
        (["--size", "256x256", "--mu", "0.5"], "preset custom (2 steps, mu 0, std 1.75) (this run: custom (2 steps, mu 0.5"),
    ):
        refused = render(str(kite), *base, *extra)
        assert refused.exit_code == 2, refused.output
        assert refused.stderr.count("\n") == 1
        assert f"{png}: already rendered with {diff}" in refused.stderr and "--overwrite" in refused.stderr
        assert png.stat().st_mtime_ns == stamp  # kept, not mixed
    other = tmp_path / "other.json"
    other.write_text(json.dumps(BOAT), encoding="utf-8")
    shutil.copy(other, tmp_path / "kite.json")  # same name, another caption
    changed = render(str(kite), *base, "--size", "256x256")
    assert changed.exit_code == 2 and "another caption" in changed.stderr
    shutil.copy(other, kite)
    redone = render(str(kite), *base, "--size", "512x256", "--overwrite")
    assert redone.exit_code == 0, redone.output
    assert Image.open(png).size == (512, 256) and read_recipe(png).caption == json.dumps(BOAT, separators=(",", ":"))


def test_unknown_device_fails_even_when_every_output_exists(tiny_model_dir: Path, kite: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert render(str(kite), "--out", str(out), "--model", str(tiny_model_dir), "--dtype", "float32", *QUICK).exit_code == 0
    again = render(str(kite), "--out", str(out), "--model", str(tiny_model_dir), "--dtype", "float32",
                   "--steps", "2", "--guidance", "5", "--size", "256x256", "--device", "gpu0")
    assert again.exit_code == 2 and "unknown device 'gpu0'" in again.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--seed", "1", "--seeds", "2,3"], "--seed and --seeds exclude each other"),
        (["--seeds", "1,2,1"], "--seeds: 1 is given twice"),
        (["--guidance", "-2"], "--guidance: -2 is negative"),
        (["--size", "1024x1024", "--aspect", "16:9"], "--size and --aspect exclude each other"),
        (["--aspect", "10:1"], "aspect ratio must be at most 6:1"),
    ],
)
def test_conflicting_options_are_refused_before_anything(kite: Path, tmp_path: Path, extra, message) -> None:
    result = render(str(kite), "--out", str(tmp_path / "o"), "--model", str(tmp_path / "none"), *extra)
    assert result.exit_code == 2 and result.stderr.count("\n") == 1 and message in result.stderr
    assert not (tmp_path / "o").exists()


def test_several_sources_and_fix(tiny_model_dir: Path, kite: Path, tmp_path: Path) -> None:
    fenced = tmp_path / "boat.json"
    fenced.write_text("Here you go:\n```json\n" + json.dumps(BOAT) + "\n```\n", encoding="utf-8")
    common = ["--out", str(tmp_path / "out"), "--model", str(tiny_model_dir), "--dtype", "float32", *QUICK]
    strict = render(str(kite), str(fenced), *common)
    assert strict.exit_code == 1 and f"{fenced}: not a valid caption" in strict.stderr
    fixed = render(str(kite), str(fenced), "--fix", *common)
    assert fixed.exit_code == 0, fixed.output
    assert f"{fenced}: fixed /: CK005 [safe] extracted the JSON object from a code fence" in fixed.stderr
    assert sorted(p.name for p in (tmp_path / "out").glob("*.png")) == ["boat-s0.png", "kite-s0.png"]
    assert read_recipe(tmp_path / "out" / "boat-s0.png").caption == json.dumps(BOAT, separators=(",", ":"))


def test_aspect_picks_the_size_from_the_table(tiny_model_dir: Path, kite: Path, tmp_path: Path) -> None:
    result = render(str(kite), "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir), "--dtype", "float32",
                    "--steps", "1", "--guidance", "5", "--device", "cpu", "--quiet", "--aspect", "16:9")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "o" / "kite-s0.png").size == (1920, 1088)


def _long_caption(path: Path) -> Path:
    words = " ".join(f"word{k % 50} and more" for k in range(800))
    caption = {"high_level_description": words, "compositional_deconstruction": {"background": "b", "elements": []}}
    path.write_text(json.dumps(caption), encoding="utf-8")
    return path


def test_token_precheck_counts_with_the_models_tokenizer_or_can_be_skipped(tiny_model_dir: Path, tmp_path: Path) -> None:
    long = _long_caption(tmp_path / "long.json")
    exact = render(str(long), "--out", str(tmp_path / "o"), "--model", str(tiny_model_dir), "--device", "cpu")
    assert exact.exit_code == 2
    assert "caption is about" not in exact.stderr and "tokens with the chat wrapper" in exact.stderr
    estimated = render(str(long), "--out", str(tmp_path / "o"), "--model", "someone/mirror", "--offline")
    assert estimated.exit_code == 2 and "caption is about" in estimated.stderr
    assert "--no-token-check" in estimated.stderr
    skipped = render(str(long), "--out", str(tmp_path / "o"), "--model", "someone/mirror", "--offline",
                     "--no-token-check")
    assert skipped.exit_code == 2 and "tokens" not in skipped.stderr and "someone/mirror" in skipped.stderr


def _expand_batch(tmp_path: Path) -> Path:
    from captionkit.magic.testing import SAMPLE_CAPTION, FakeMagicServer, Step

    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text('{"id": "kite", "idea": "a kite", "aspect": "1:1"}\n'
                     '{"id": "tower", "idea": "a tower", "aspect": "2:3"}\n'
                     '{"id": "bad", "idea": "a failure"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    with FakeMagicServer() as server:
        server.push(Step.caption(SAMPLE_CAPTION), Step.caption(SAMPLE_CAPTION), Step.error(400, "rejected"))
        result = cli.invoke(app, ["expand", "--batch", str(ideas), "-o", str(out), "-j", "1", "-b", "openai-compatible",
                                  "--base-url", server.chat_url, "-m", "m"])
    assert result.exit_code == 1, result.output  # one idea failed
    return out


def test_expand_output_feeds_verify_fix_fmt_and_render(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = _expand_batch(tmp_path)
    before = out.read_text(encoding="utf-8")
    verified = cli.invoke(app, ["verify", str(out)])
    assert "CK102" not in verified.output and "no caption to render" not in verified.output
    assert verified.exit_code == 1 and f"{out}:3: record 'bad' has no caption: expand failed (" in verified.stderr
    assert "checked 2 caption(s)" in verified.stderr  # the two captions, read from their records
    for argv in (["fmt", "--check", str(out)], ["fix", "--diff", str(out)]):
        assert "CK102" not in cli.invoke(app, argv).output
    assert cli.invoke(app, ["fmt", str(out)]).exit_code == 0
    assert out.read_text(encoding="utf-8") == before  # records kept whole: the captions were canonical
    rendered = render(str(out), "--out", str(tmp_path / "png"), "--model", str(tiny_model_dir), "--dtype", "float32",
                      "--steps", "1", "--guidance", "5", "--device", "cpu", "--quiet")
    assert rendered.exit_code == 1, rendered.output  # the failed idea is reported, the rest rendered
    assert "record 'bad' has no caption: expand failed" in rendered.stderr
    sizes = {p.name: Image.open(p).size for p in (tmp_path / "png").glob("*.png")}
    assert sizes == {"kite-s0.png": (1024, 1024), "tower-s0.png": (1024, 1536)}  # records are named by id


def test_fix_rewrites_the_caption_inside_its_record(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    record = {"id": "a", "ok": True, "caption": {"compositional_deconstruction": {"elements": [], "background": "b"}},
              "aspect_ratio": "3:2", "backend": "x"}
    out.write_text(json.dumps(record) + "\n", encoding="utf-8")
    fixed = cli.invoke(app, ["fix", str(out)])
    assert fixed.exit_code == 0, fixed.output
    again = json.loads(out.read_text(encoding="utf-8"))
    assert list(again) == list(record) and again["backend"] == "x" and again["aspect_ratio"] == "3:2"
    assert list(again["caption"]["compositional_deconstruction"]) == ["background", "elements"]
