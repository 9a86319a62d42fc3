"""Layout: frames follow the official size rules; boxes convert exactly as computed by hand."""

from __future__ import annotations

import pytest

from captionkit.layout import PRESETS, Box, Frame, grid, thirds
from captionkit.models import BBox


@pytest.mark.parametrize(
    ("w", "h", "message"),
    [
        (240, 1024, "width must be between 256 and 2048, got 240"),
        (1024, 2064, "height must be between 256 and 2048, got 2064"),
        (1000, 1024, "width must be divisible by 16, got 1000"),
        (1024, 1000, "height must be divisible by 16, got 1000"),
        (1600, 256, "aspect ratio must be at most 6:1, got 1600:256"),
        (256, 1792, "aspect ratio must be at most 6:1, got 256:1792"),
    ],
)
def test_frame_rules_use_the_official_messages(w, h, message):
    with pytest.raises(ValueError) as info:
        Frame(w, h)
    assert str(info.value) == message


def test_frame_edges_of_the_rules_are_allowed():
    assert Frame(256, 256).aspect_ratio == "1:1"
    assert Frame(2048, 2048).image_tokens == 16384
    assert Frame(1536, 256).aspect_ratio == "6:1"  # exactly 6:1 is allowed


def test_presets_are_the_official_sizes():
    sizes = {str(f) for f in PRESETS.values()}
    assert sizes == {"1024x1024", "1536x1024", "1024x1536", "1920x1088", "2048x768", "1024x1792", "1600x400"}
    assert PRESETS["landscape"].aspect_ratio == "3:2"
    assert PRESETS["banner"].aspect_ratio == "4:1"
    assert PRESETS["ultrawide"].aspect_ratio == "8:3"


@pytest.mark.parametrize("text", ["1536x1024", "1536X1024", "1536 × 1024", "1536*1024", "landscape", " Landscape "])
def test_frame_parse(text):
    assert Frame.parse(text) == Frame(1536, 1024)


@pytest.mark.parametrize("text", ["1536", "wide", "1536x", "x1024", "-16x256"])
def test_frame_parse_rejects_with_one_line(text):
    with pytest.raises(ValueError) as info:
        Frame.parse(text)
    assert "\n" not in str(info.value) and "WIDTHxHEIGHT" in str(info.value)


def test_pixels_round_trip_on_1536x1024():
    f = Frame(1536, 1024)
    # hand-computed: y 256/1024 = 250, x 384/1536 = 250, y 768/1024 = 750, x 1152/1536 = 750
    box = f.box_from_pixels(256, 384, 768, 1152)
    assert box.ints() == (250, 250, 750, 750)
    assert f.to_pixels(box) == (256, 384, 768, 1152)
    assert f.to_pixels(BBox.of([0, 0, 1000, 1000])) == (0, 0, 1024, 1536)
    # the spec's rounding rule round(1000*px/W): 100 px of 1536 -> 65.1 -> 65
    assert f.box_from_pixels(0, 100, 10, 200).ints() == (0, 65, 10, 130)


def test_xyxy_and_xywh_are_declared_not_guessed():
    assert Box.from_xyxy(120, 340, 560, 980).ints() == (340, 120, 980, 560)
    assert Box.from_xywh(120, 340, 100, 200).ints() == (340, 120, 540, 220)
    f = Frame(1920, 1088)
    # x 960/1920 = 500, y 272/1088 = 250, x 1440/1920 = 750, y 816/1088 = 750
    assert Box.from_xyxy(960, 272, 1440, 816, frame=f).ints() == (250, 500, 750, 750)
    assert Box.from_xywh(960, 272, 480, 544, frame=f).ints() == (250, 500, 750, 750)
    assert Box.from_unit(0.12, 0.3, 0.5, 0.9).ints() == (120, 300, 500, 900)
    assert Box(250, 500, 750, 750).to_xyxy() == (500, 250, 750, 750)


def test_square_is_square_in_pixels_on_wide_and_tall_frames():
    wide = Frame(1920, 1088)
    sq = wide.square((500, 500), side_px=544)
    # x-span/y-span must be H/W = 1088/1920
    assert sq.width / sq.height == pytest.approx(1088 / 1920)
    assert wide.pixel_aspect(sq) == pytest.approx(1.0)
    t, left, b, r = wide.to_pixels(sq)
    assert (b - t, r - left) == (544, 544)
    # the spec's own example: 1024x1536, sun box y-span 200 and x-span 300 is a true circle
    tall = Frame(1024, 1536)
    assert tall.pixel_aspect([420, 350, 620, 650]) == pytest.approx(1.0)
    assert tall.circle((500, 520), diameter_px=307.2).ints() == (420, 350, 620, 650)


def test_anchors_with_margins_hand_computed():
    f = Frame(1536, 1024)
    # 384x256 px at top-left with a 64 px margin: x 64..448 of 1536, y 64..320 of 1024
    assert f.anchor("top-left", width_px=384, height_px=256, margin_px=64).ints() == (62, 42, 312, 292)
    # bottom-right: x 1088..1472, y 704..960
    assert f.anchor("bottom-right", width_px=384, height_px=256, margin_px=64).ints() == (688, 708, 938, 958)
    # centre ignores the margin: x 576..960, y 384..640
    assert f.anchor("center", width_px=384, height_px=256, margin_px=64).ints() == (375, 375, 625, 625)
    # top edge: centred horizontally, 64 px down
    assert f.anchor("top", width_px=384, height_px=256, margin_px=64).ints() == (62, 375, 312, 625)
    assert f.anchor("right", width_px=384, height_px=256, margin_px=64).ints() == (375, 708, 625, 958)
    with pytest.raises(ValueError, match="anchor 'middle' is not one of"):
        f.anchor("middle", width_px=1, height_px=1)


def test_grid_with_margins_and_gutters_hand_computed():
    cells = grid(2, 3, margin=100, gutter=(50, 25))
    # rows: (1000 - 200 - 50) / 2 = 375 tall; cols: (1000 - 200 - 50) / 3 = 250 wide
    assert [c.ints() for c in cells] == [
        (100, 100, 475, 350),
        (100, 375, 475, 625),
        (100, 650, 475, 900),
        (525, 100, 900, 350),
        (525, 375, 900, 625),
        (525, 650, 900, 900),
    ]
    f = Frame(1024, 1024)
    px = f.grid(2, 2, margin_px=64, gutter_px=64)
    # each cell is (1024 - 2*64 - 64) / 2 = 416 px: 64..480 and 544..960
    assert [f.to_pixels(c) for c in px] == [
        (64, 64, 480, 480),
        (64, 544, 480, 960),
        (544, 64, 960, 480),
        (544, 544, 960, 960),
    ]
    with pytest.raises(ValueError, match="no room"):
        grid(2, 2, margin=600)


def test_grid_within_a_box_and_splits():
    cells = grid(1, 2, within=[0, 0, 500, 1000], gutter=100)
    assert [c.ints() for c in cells] == [(0, 0, 500, 450), (0, 550, 500, 1000)]
    assert [b.ints() for b in Box(0, 0, 1000, 1000).split_rows(4, gutter=0)][1] == (250, 0, 500, 1000)


def test_thirds_points_are_frame_independent():
    pts = thirds()
    assert len(pts) == 4
    assert pts[0] == pytest.approx((1000 / 3, 1000 / 3))
    assert pts[3] == pytest.approx((2000 / 3, 2000 / 3))
    # a square centred on a thirds point of a wide frame is still square in pixels
    f = Frame(2048, 768)
    assert f.pixel_aspect(f.square(pts[1], side_px=300)) == pytest.approx(1.0)


def test_iou_overlap_and_containment():
    a, b = Box(0, 0, 500, 500), Box(250, 250, 750, 750)
    assert a.overlap_area(b) == 62500
    assert a.iou(b) == pytest.approx(62500 / (250000 + 250000 - 62500))
    assert a.iou(a) == 1.0
    assert not a.overlaps([500, 500, 1000, 1000])  # touching corners only
    assert a.intersection([500, 0, 600, 500]) == Box(500, 0, 500, 500)  # shared edge, zero area
    assert Box(0, 0, 0, 0).iou(Box(0, 0, 0, 0)) == 0.0
    assert Box.full().contains(a) and not a.contains(b) and a.contains(a)
    assert a.union(b) == Box(0, 0, 750, 750)


def test_snap_gives_the_model_bbox_and_accepts_model_boxes():
    bbox = Box(100.4, 0.5, 899.5, 1000).snap()
    assert isinstance(bbox, BBox)
    assert bbox.to_list() == [100, 0, 900, 1000]
    assert Box.of(bbox) == Box(100, 0, 900, 1000)


@pytest.mark.parametrize(
    ("edges", "fragment"),
    [
        ((300, 0, 100, 10), "top (300) is below bottom (100)"),
        ((0, 600, 10, 500), "left (600) is right of right (500)"),
        ((0, 0, 10, 1001), "right must be in 0..1000, got 1001"),
        ((0, float("nan"), 10, 10), "left must be a finite number"),
        ((0, True, 10, 10), "left must be a finite number"),
    ],
)
def test_bad_boxes_raise_one_line(edges, fragment):
    with pytest.raises(ValueError) as info:
        Box(*edges)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_box_of_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="got 3 values"):
        Box.of([1, 2, 3])
    with pytest.raises(ValueError, match="four numbers"):
        Box.of("1,2,3,4")
