"""Preview pictures: boxes at the frame's aspect, overlaps, palettes, text, font fallback."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from captionkit import preview
from captionkit.builder import CaptionBuilder
from captionkit.preview import render_preview

OVERLAP_RED = (214, 39, 40)
CANVAS = (242, 242, 240)


def colours(img):
    return {c for _, c in img.convert("RGB").getcolors(1 << 22)}


def base():
    return CaptionBuilder().describe("Two boxes.").background("A plain wall.")


def test_picture_has_the_frame_aspect_then_a_white_panel():
    img = render_preview(base().obj("A thing.", box=[100, 100, 200, 200]).build(), frame="1600x400", width=800)
    assert img.width == 800
    assert img.getpixel((799, 199)) == CANVAS  # last row of the 4:1 picture (200 px high)
    assert img.getpixel((799, 201)) == (255, 255, 255)  # the text panel


def test_partial_overlaps_are_hatched_and_nesting_is_not():
    partial = base().obj("A.", box=[0, 0, 600, 600]).obj("B.", box=[400, 400, 1000, 1000]).build()
    nested = base().obj("A.", box=[0, 0, 600, 600]).obj("B.", box=[100, 100, 300, 300]).build()
    assert OVERLAP_RED in colours(render_preview(partial, width=300))
    assert OVERLAP_RED not in colours(render_preview(nested, width=300))


def test_palettes_are_drawn():
    cap = (
        base().photo("50mm").aesthetics("calm").lighting("soft").palette("#12AB34")
        .obj("A.", box=[100, 100, 900, 900], palette=["#AB12CD"]).build()
    )
    found = colours(render_preview(cap, width=400))
    assert (0x12, 0xAB, 0x34) in found  # the global strip
    assert (0xAB, 0x12, 0xCD) in found  # the element's swatch


def test_unboxed_elements_and_text_are_drawn_without_error():
    cap = (
        base().text("夜市\nNIGHT MARKET ¥900", "Neon lettering.", box=[300, 100, 700, 900])
        .obj("A crowd far away.").build()
    )
    img = render_preview(cap, frame="1536x1024", width=600)
    assert img.height > 400


def test_without_any_font_file_the_builtin_font_is_used(monkeypatch):
    monkeypatch.setattr(preview, "_find_fonts", lambda: ())
    preview._font_at.cache_clear()
    preview._has_glyph.cache_clear()
    try:
        cap = base().text("東京 Tokyo", "Lettering.", box=[300, 100, 700, 900]).build()
        with pytest.warns(preview.PreviewWarning, match="東 \\(U\\+6771\\) 京"):
            img = render_preview(cap, width=300)
        assert img.mode == "RGB" and img.width == 300
    finally:
        preview._font_at.cache_clear()
        preview._has_glyph.cache_clear()


def test_cjk_font_is_preferred_when_present():
    fonts = preview.find_fonts()
    assert any(preview._has_glyph(i, "夜") for i in range(len(fonts)))  # the packaged Noto Sans CJK
    runs = preview._runs("夜市 Ramen", 20)
    assert all(font is not None for _, font in runs)
    assert "".join(chunk for chunk, _ in runs) == "夜市 Ramen"


def test_overlay_from_a_file_sets_the_aspect(tmp_path):
    render = tmp_path / "r.png"
    Image.new("RGB", (512, 1024), (0, 0, 255)).save(render)
    img = render_preview(base().obj("A.", box=[0, 0, 100, 100]).build(), overlay=render, width=200)
    assert img.width == 200 and img.getpixel((150, 350)) == (0, 0, 255)  # picture is 200x400
    with pytest.raises(ValueError, match="no such file"):
        render_preview(base().build(), overlay=tmp_path / "missing.png")


def test_bad_inputs_raise_value_error():
    with pytest.raises(ValueError, match="divisible by 16"):
        render_preview(base().build(), frame="1000x1000")
    with pytest.raises(ValueError):
        render_preview('{"compositional_deconstruction":{}}')
    with pytest.raises(ValueError, match="at least 64"):
        render_preview(base().build(), width=10)


def test_saved_preview_gets_the_usual_file_mode(tmp_path):
    import os
    import stat

    current = os.umask(0)
    os.umask(current)
    out = preview.save_preview(base().obj("A clock.", box=[100, 100, 400, 400]).build(), tmp_path / "p.png", width=200)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~current  # not the 0600 of a temporary file
    assert Image.open(out).format == "PNG"
    assert [p.name for p in tmp_path.iterdir()] == ["p.png"]  # no temporary file left behind


@given(st.text(max_size=12), st.text(min_size=1, max_size=12))
def test_preview_draws_any_text_including_separators_and_controls(background, words):
    from captionkit.preview import render_preview

    for sep in ("\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\x00"):
        data = {"compositional_deconstruction": {"background": background + sep, "elements": [
            {"type": "text", "bbox": [0, 0, 500, 500], "text": words + sep + words, "desc": sep + "d"}]}}
        assert render_preview(data, width=256).size[0] == 256
