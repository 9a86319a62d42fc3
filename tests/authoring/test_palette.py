"""Palette: notations, limits with a report, and extraction from generated images of known colours."""

from __future__ import annotations

import pytest
from PIL import Image

from captionkit.palette import (
    ELEMENT_LIMIT,
    GLOBAL_LIMIT,
    delta_e,
    extract_palette,
    fit_palette,
    normalize_palette,
    to_hex,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("#1b1b2f", "#1B1B2F"),
        ("1B1B2F", "#1B1B2F"),
        ("0x1b1b2f", "#1B1B2F"),
        ("#fff", "#FFFFFF"),
        ("#F0a", "#FF00AA"),
        ("navy", "#000080"),
        ("Light Goldenrod Yellow", "#FAFAD2"),
        ("dark_slate_gray", "#2F4F4F"),
        ("rebeccapurple", "#663399"),
        ("rgb(27, 27, 47)", "#1B1B2F"),
        ("hsl(0, 100%, 50%)", "#FF0000"),
        ((255, 128, 0), "#FF8000"),
        ("  #abcdef  ", "#ABCDEF"),
    ],
)
def test_to_hex_accepts_common_notations(given, expected):
    assert to_hex(given) == expected


@pytest.mark.parametrize("given", ["#12345G", "#1234", "", "bleu", 123, (300, 0, 0), "rgb(1,2)"])
def test_to_hex_rejects_with_one_line(given):
    with pytest.raises(ValueError) as info:
        to_hex(given)
    assert "\n" not in str(info.value) and "colour" in str(info.value)


def test_to_hex_suggests_a_close_name():
    with pytest.raises(ValueError, match=r"did you mean 'turquoise'"):
        to_hex("turqoise")


def test_fit_palette_reports_what_was_dropped():
    colours = [f"#{i:02x}0000" for i in range(20)]
    fit = fit_palette(colours + ["#000000"], limit=GLOBAL_LIMIT)
    assert len(fit.kept) == 16 and fit.kept[0] == "#000000"
    assert fit.dropped == tuple(f"#{i:02X}0000" for i in range(16, 20))
    assert fit.duplicates == ("#000000",)
    assert str(fit) == (
        "kept 16 colours; removed 1 duplicate (#000000); "
        "dropped 4 over the limit of 16 (#100000, #110000, #120000, #130000)"
    )
    small = fit_palette(["red", "green", "blue"], limit=ELEMENT_LIMIT)
    assert not small.changed and small.kept == ("#FF0000", "#008000", "#0000FF")


def test_normalize_palette_names_the_bad_entry():
    assert normalize_palette(["#fff", "white", "#FFF"]) == ("#FFFFFF",)
    with pytest.raises(ValueError, match=r"^palette entry 1: 'nope' is not a colour"):
        normalize_palette(["#fff", "nope"])


def test_delta_e_is_perceptual():
    assert delta_e("#FF0000", "#FF0000") == 0
    assert delta_e("#808080", "#818181") < 1
    assert delta_e("#FF0000", "#00FF00") > 50


def _quadrants(path, size=(200, 100)):
    """Left half navy, top-right orange, bottom-right cream, with a noisy near-navy stripe."""
    w, h = size
    img = Image.new("RGB", size, (11, 29, 58))  # #0B1D3A
    img.paste((242, 107, 29), (w // 2, 0, w, h // 2))  # #F26B1D
    img.paste((245, 230, 200), (w // 2, h // 2, w, h))  # #F5E6C8
    img.paste((13, 31, 60), (0, 0, w // 10, h))  # near-duplicate of navy: merged
    img.save(path)
    return path


def test_extract_palette_orders_by_coverage_and_merges_near_duplicates(tmp_path):
    path = _quadrants(tmp_path / "q.png")
    swatches = extract_palette(path)
    assert [s.color for s in swatches] == ["#0B1D3A", "#F26B1D", "#F5E6C8"]
    assert [s.share for s in swatches] == [0.5, 0.25, 0.25]


def test_extract_palette_from_a_box_region(tmp_path):
    path = _quadrants(tmp_path / "q.png")
    # the right half, bottom quarter only: cream
    assert [s.color for s in extract_palette(path, box=[500, 500, 1000, 1000])] == ["#F5E6C8"]
    right = extract_palette(path, box=[0, 500, 1000, 1000])
    assert {s.color: s.share for s in right} == {"#F26B1D": 0.5, "#F5E6C8": 0.5}
    with pytest.raises(ValueError, match="covers no pixels"):
        extract_palette(path, box=[0, 500, 0, 500])


def test_extract_palette_many_colours_and_limits(tmp_path):
    # a smooth gradient has thousands of colours: quantised, then limited
    img = Image.new("RGB", (256, 64))
    img.putdata([(x, y * 4, 128) for y in range(64) for x in range(256)])
    path = tmp_path / "grad.jpg"
    img.save(path, quality=95)
    swatches = extract_palette(path, max_colors=ELEMENT_LIMIT)
    assert 1 <= len(swatches) <= ELEMENT_LIMIT
    assert all(len(s.color) == 7 and s.color == s.color.upper() for s in swatches)
    shares = [s.share for s in swatches]
    assert shares == sorted(shares, reverse=True)


def test_extract_palette_ignores_transparent_pixels(tmp_path):
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    img.paste((0, 0, 255, 255), (0, 0, 5, 10))
    path = tmp_path / "t.png"
    img.save(path)
    assert [(s.color, s.share) for s in extract_palette(path)] == [("#0000FF", 1.0)]


def test_extract_palette_bad_files(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        extract_palette(tmp_path / "missing.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="not an image"):
        extract_palette(bad)


def test_names_still_resolve_after_pillow_caches_them():
    from PIL import ImageColor

    ImageColor.getrgb("navy")  # pillow stores a tuple in its colour map after a lookup
    assert to_hex("navy") == "#000080"
    Image.new("RGB", (2, 2), "rebeccapurple")
    assert to_hex("RebeccaPurple") == "#663399"
