"""The preview on a fresh machine: CJK drawn, a warning with the remedy otherwise, a legend,
labels that never cover the text they name, ``--fix``, and a PNG given as the caption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from captionkit import preview
from captionkit.builder import CaptionBuilder
from captionkit.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "night_market.json"


@pytest.fixture
def fresh_fonts():
    """Font lookups are cached per process; each test starts and ends with a clean cache."""
    def clear() -> None:
        for cached in (preview._find_fonts, preview._font_at, preview._has_glyph):
            getattr(cached, "cache_clear", lambda: None)()  # a test may have replaced one

    clear()
    yield
    clear()


def test_readme_command_draws_the_japanese_signs_without_warning(cli, tmp_path: Path, fresh_fonts) -> None:
    out = tmp_path / "night_market.preview.png"
    result = cli.invoke(app, ["preview", str(EXAMPLE), "--size", "1536x1024", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    texts = [e["text"] for e in json.loads(EXAMPLE.read_text())["compositional_deconstruction"]["elements"]
             if e["type"] == "text"]
    assert preview._undrawable(texts) == []  # every kana and kanji has a glyph in the chain
    assert Image.open(out).size[0] == 1024


def _glyph_crop(char: str) -> bytes:
    cap = CaptionBuilder().background("b").text(char, "Lettering.", box=[200, 200, 800, 800]).build()
    img = preview.render_preview(cap, width=200)
    return img.crop((50, 60, 150, 140)).tobytes()


def test_distinct_cjk_characters_draw_distinct_glyphs_not_tofu(fresh_fonts) -> None:
    # A missing glyph draws the same .notdef box for every character.
    crops = {_glyph_crop(c) for c in "夜市ラ한"}
    assert len(crops) == 4


def test_undrawable_characters_warn_with_the_remedy(cli, tmp_path: Path, monkeypatch, fresh_fonts) -> None:
    monkeypatch.setattr(preview, "_find_fonts", lambda: ())  # a machine with no font at all
    out = tmp_path / "p.png"
    result = cli.invoke(app, ["preview", str(EXAMPLE), "-o", str(out)])
    assert result.exit_code == 0 and out.exists()
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1
    assert "cannot draw" in warning[0] and "夜 (U+591C)" in warning[0] and "CAPTIONKIT_FONT" in warning[0]


def test_missing_font_variable_warns(cli, tmp_path: Path, monkeypatch, fresh_fonts) -> None:
    monkeypatch.setenv("CAPTIONKIT_FONT", str(tmp_path / "nope.ttf"))
    result = cli.invoke(app, ["preview", str(EXAMPLE), "-o", str(tmp_path / "p.png")])
    assert result.exit_code == 0
    assert f"warning: CAPTIONKIT_FONT={tmp_path / 'nope.ttf'}: no such font file" in result.stderr


def test_legend_lists_every_element_number_type_and_description(cli, tmp_path: Path) -> None:
    base = CaptionBuilder().background("b").obj("A red kite.", box=[100, 100, 300, 300])
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    one.write_text(base.build().dumps(), encoding="utf-8")
    two.write_text(base.text("OPEN", "Neon.").build().dumps(), encoding="utf-8")
    heights = []
    for path in (one, two):
        result = cli.invoke(app, ["preview", str(path), "--width", "400"])
        assert result.exit_code == 0, result.output
        heights.append(Image.open(path.with_suffix(".preview.png")).height)
    assert heights[1] - heights[0] == preview._line_height(max(9, round(17 * 400 / 1024))) + max(3, round(6 * 400 / 1024))
    element = CaptionBuilder().background("b").text("OPEN\n24H", "Neon letters on the wall.").build()
    line = preview._legend_line(0, element.compositional_deconstruction.elements[0], 14, 2000)
    assert line == "0 text (no box): 'OPEN / 24H' Neon letters on the wall."
    assert preview._legend_line(0, element.compositional_deconstruction.elements[0], 14, 120).endswith("…")


boxes = st.tuples(
    st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000)
).map(lambda b: [min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])]).filter(
    lambda b: b[2] - b[0] >= 20 and b[3] - b[1] >= 20
)


@given(st.lists(st.tuples(boxes, st.sampled_from(["obj", "text"]), st.booleans()), min_size=1, max_size=6),
       st.sampled_from([(1536, 1024), (1024, 1536), (1600, 400), (1024, 1024)]))
def test_labels_never_cover_the_text_they_name(spec, size) -> None:
    builder = CaptionBuilder().background("b")
    for box, kind, palette in spec:
        colours = ["#AA0000", "#00AA00"] if palette else None
        if kind == "text":
            builder = builder.text("OPEN 24H\n夜市", "Letters.", box=box, palette=colours)
        else:
            builder = builder.obj("A thing.", box=box, palette=colours)
    cap = builder.build()
    pic_w, pic_h = 400, round(400 * size[1] / size[0])
    boxed = [(i, e) for i, e in enumerate(cap.compositional_deconstruction.elements)]

    def px(b):
        t, left, bottom, r = b
        return (left * pic_w / 1000, t * pic_h / 1000, r * pic_w / 1000, bottom * pic_h / 1000)

    plans = preview._plan(boxed, px, pic_w, pic_h, 10, 10)
    for (_, e), plan in zip(boxed, plans):
        lx, ly, rx, ry = plan.label
        assert 0 <= ly and ry <= pic_h + 1e-6  # inside the picture
        if e.type == "text":
            assert not preview._intersects(plan.label, plan.text_block), (e.bbox, plan)
            x0, y0, x1, y1 = px(e.bbox)
            tb = plan.text_block
            assert x0 - 1 <= tb[0] and tb[2] <= x1 + 1  # the text stays in its own box


def test_label_of_a_box_at_the_top_edge_goes_below_not_over_its_text(tmp_path: Path, cli) -> None:
    cap = CaptionBuilder().background("b").text("SALE", "Big letters.", box=[0, 100, 300, 900]).build()
    boxed = list(enumerate(cap.compositional_deconstruction.elements))
    def px(b):
        top, left, bottom, right = b
        return (left * 0.4, top * 0.4, right * 0.4, bottom * 0.4)

    plan = preview._plan(boxed, px, 400, 400, 10, 10)[0]
    assert plan.label[1] >= 300 * 0.4  # below the box
    path = tmp_path / "sale.json"
    path.write_text(cap.dumps(), encoding="utf-8")
    assert cli.invoke(app, ["preview", str(path)]).exit_code == 0


def test_preview_fix_applies_the_safe_fixes_and_reports_them(cli, tmp_path: Path) -> None:
    messy = tmp_path / "messy.json"
    messy.write_text('Here it is:\n```json\n{"compositional_deconstruction":{"elements":[],"background":"b"}}\n```',
                     encoding="utf-8")
    strict = cli.invoke(app, ["preview", str(messy)])
    assert strict.exit_code == 2 and "not a valid caption" in strict.stderr
    fixed = cli.invoke(app, ["preview", str(messy), "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert f"{messy}: fixed /: CK005 [safe] extracted the JSON object from a code fence" in fixed.stderr
    assert "CK203 [safe] put background before elements" in fixed.stderr
    assert Path(fixed.stdout.strip()).is_file()
    broken = tmp_path / "broken.json"
    broken.write_text('{"compositional_deconstruction":{"elements":[]}}', encoding="utf-8")
    still = cli.invoke(app, ["preview", str(broken), "--fix"])
    assert still.exit_code == 2 and "not a valid caption after the safe fixes" in still.stderr


def test_preview_of_a_render_reads_its_recipe_and_a_plain_image_points_to_overlay(cli, tmp_path: Path) -> None:
    from captionkit.render.metadata import Recipe, write_png
    from captionkit.render.presets import PRESETS

    caption = CaptionBuilder().background("b").obj("A kite.", box=[100, 100, 500, 500]).build().dumps()
    png = tmp_path / "kite-s7.png"
    write_png(Image.new("RGB", (512, 256), (0, 0, 255)), png,
              Recipe(caption=caption, seed=7, preset=PRESETS["V4_TURBO_12"], width=512, height=256))
    result = cli.invoke(app, ["preview", str(png), "--width", "200"])
    assert result.exit_code == 0, result.output
    drawn = Image.open(tmp_path / "kite-s7.preview.png")
    assert drawn.getpixel((199, 99)) == (0, 0, 255)  # the render itself is under the boxes, at 2:1
    plain = tmp_path / "photo.png"
    Image.new("RGB", (64, 64)).save(plain)
    refused = cli.invoke(app, ["preview", str(plain)])
    assert refused.exit_code == 2 and "UTF-8" not in refused.stderr
    assert f"--overlay {plain}" in refused.stderr and "captionkit info" in refused.stderr
    assert refused.stderr.count("\n") == 1


def test_readme_main_command_and_the_picture_it_shows(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    import captionkit

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = next(line for line in readme.splitlines() if "captionkit preview examples/night_market.json" in line)
    steps = [part.strip() for part in command.split("&&") if part.strip().startswith("captionkit ")]
    assert [s.split()[1] for s in steps] == ["verify", "preview"]
    env = {**os.environ, "PYTHONPATH": str(Path(captionkit.__file__).parent.parent)}
    for step in steps:
        argv = step.split()[1:]
        argv = [str(ROOT / a) if a.startswith("examples") else a for a in argv]
        argv = [str(tmp_path / a) if a.endswith(".preview.png") else a for a in argv]
        proc = subprocess.run([sys.executable, "-m", "captionkit", *argv], capture_output=True, text=True,
                              env=env, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert "warning" not in proc.stderr
    shown = ROOT / "docs" / "images" / "night_market.preview.png"
    assert "](docs/images/night_market.preview.png)" in readme
    assert Image.open(shown).size == Image.open(tmp_path / "night_market.preview.png").size
