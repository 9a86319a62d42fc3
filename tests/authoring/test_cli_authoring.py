"""The authoring commands, run the way users run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from captionkit.cli import app
from captionkit.compat import CaptionVerifier

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "night_market.json"
runner = CliRunner()


def run(*args, **kwargs):
    return runner.invoke(app, list(map(str, args)), **kwargs)


@pytest.fixture(autouse=True)
def _no_local_tokenizer(monkeypatch, tmp_path):
    monkeypatch.delenv("CAPTIONKIT_TOKENIZER", raising=False)
    monkeypatch.setattr("captionkit.tokens.find_tokenizer", lambda: None)


@pytest.mark.parametrize("template", ["poster", "product", "scene"])
def test_new_scaffolds_a_clean_caption(template):
    result = run("new", "--template", template)
    assert result.exit_code == 0
    text = result.stdout
    assert text.endswith("}\n") and CaptionVerifier().verify_raw(text.removesuffix("\n")) == []
    verify = run("verify", "-", input=text)
    assert verify.exit_code == 0, verify.output


def test_new_lays_out_for_the_size_and_never_clobbers(tmp_path):
    out = tmp_path / "c.json"
    assert run("new", "-t", "product", "--size", "1920x1088", "-o", out).exit_code == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["style_description"]["medium"] == "photograph"
    again = run("new", "-t", "poster", "-o", out)
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert json.loads(out.read_text(encoding="utf-8")) == data
    assert run("new", "-t", "poster", "-o", out, "--force").exit_code == 0
    bad = run("new", "--size", "1000x1000")
    assert bad.exit_code == 2
    assert bad.stderr.strip() == "error: --size: width must be divisible by 16, got 1000"


def test_preview_of_the_bundled_example(tmp_path):
    out = tmp_path / "nm.png"
    result = run("preview", EXAMPLE, "--size", "1536x1024", "-o", out, "--width", "768")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out)
    with Image.open(out) as img:
        assert img.format == "PNG" and img.width == 768
        assert img.height > 512  # 3:2 picture plus the text panel
        # obj outlines (blue) and text outlines (orange) are both drawn
        colours = {c for _, c in img.convert("RGB").getcolors(1 << 20)}
    assert (31, 119, 180) in colours and (230, 110, 0) in colours


def test_preview_overlay_uses_the_image(tmp_path):
    render = tmp_path / "render.png"
    Image.new("RGB", (1536, 1024), (10, 200, 10)).save(render)
    out = tmp_path / "o.png"
    result = run("preview", EXAMPLE, "--overlay", render, "-o", out, "--width", "300")
    assert result.exit_code == 0, result.output
    with Image.open(out) as img:
        assert img.width == 300 and img.getpixel((2, 150))[1] > 150  # the green render shows through


def test_preview_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"compositional_deconstruction":{"elements":[]}}', encoding="utf-8")
    result = run("preview", bad, "-o", tmp_path / "x.png")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "not a valid caption" in result.stderr and not (tmp_path / "x.png").exists()
    missing = run("preview", tmp_path / "nope.json")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    overlay = run("preview", EXAMPLE, "--overlay", tmp_path / "none.png", "-o", tmp_path / "y.png")
    assert overlay.exit_code == 2 and "none.png: no such file" in overlay.stderr
    assert run("preview", EXAMPLE, "-o", tmp_path / "y.jpg").exit_code == 2


def test_palette_command_on_a_generated_image(tmp_path):
    img = Image.new("RGB", (100, 100), (11, 29, 58))
    img.paste((242, 107, 29), (50, 0, 100, 100))
    path = tmp_path / "two.png"
    img.save(path)
    text = run("palette", path)
    assert text.exit_code == 0
    assert text.stdout.splitlines() == ["#0B1D3A   50.0%", "#F26B1D   50.0%"]
    as_json = run("palette", path, "--box", "0,500,1000,1000", "--format", "json")
    assert json.loads(as_json.stdout) == ["#F26B1D"]
    bad_box = run("palette", path, "--box", "0,600,1000,500")
    assert bad_box.exit_code == 2 and "left (600) is right of right (500)" in bad_box.stderr
    missing = run("palette", tmp_path / "nope.png")
    assert missing.exit_code == 2 and "nope.png: no such file" in missing.stderr


def test_tokens_command(tmp_path):
    result = run("tokens", EXAMPLE, "--format", "json")
    assert result.exit_code == 0
    [row] = json.loads(result.stdout)
    assert row["exact"] is False and row["status"] == "ok" and row["count"] <= row["upper_bound"] < 2048
    # a pretty-printed copy counts as its canonical form; --raw counts the text as is
    pretty = tmp_path / "pretty.json"
    pretty.write_text(json.dumps(json.loads(EXAMPLE.read_text(encoding="utf-8")), indent=2, ensure_ascii=False))
    canon = json.loads(run("tokens", pretty, "--format", "json").stdout)[0]["count"]
    as_is = json.loads(run("tokens", pretty, "--raw", "--format", "json").stdout)[0]["count"]
    assert canon == row["count"] < as_is


def test_tokens_over_the_limit_exits_1(tmp_path):
    big = {
        "compositional_deconstruction": {
            "background": "A wall.",
            "elements": [{"type": "obj", "desc": "A red brick with a chipped corner. " * 40} for _ in range(8)],
        }
    }
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big), encoding="utf-8")
    result = run("tokens", path)
    assert result.exit_code == 1
    assert "over the pipeline's limit of 2048" in result.stderr


def test_tokens_with_a_bad_tokenizer_path(tmp_path):
    result = run("tokens", EXAMPLE, "--tokenizer", tmp_path)
    assert result.exit_code == 2 and "no tokenizer.json there" in result.stderr


def test_python_m_captionkit_new_in_a_subprocess():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "captionkit", "new", "-t", "scene"], capture_output=True, env=env, check=False
    )
    assert done.returncode == 0
    assert CaptionVerifier().verify_raw(done.stdout.decode("utf-8").removesuffix("\n")) == []
