"""The one size parser: WxH, frame names and aspect ratios mean the same size everywhere."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from captionkit import _frames
from captionkit._frames import FRAMES, NAMED, parse_ratio, parse_size
from captionkit.cli import app
from captionkit.fixes import fix
from captionkit.layout import PRESETS, Box, Frame
from captionkit.magic._aspect import HOSTED_BUCKETS, parse_aspect, resolve_aspect
from captionkit.render import RenderError
from captionkit.templates import template
from captionkit.render import parse_size as render_parse_size
from captionkit.verifier import verify

runner = CliRunner()

# A lint that depends on the frame: a "round" object in a box that is square in 0-1000 units
# is square in pixels only on a square frame (CK610).
ROUND = json.dumps({"compositional_deconstruction": {"background": "A plain white wall.", "elements": [
    {"type": "obj", "bbox": [100, 100, 500, 500], "desc": "A round wall clock."}]}}, separators=(",", ":"))


def _sizes():
    """Valid official sizes: sides 256..2048 in steps of 16, ratio at most 6:1."""
    side = st.integers(16, 128).map(lambda k: 16 * k)
    return st.tuples(side, side).filter(lambda s: max(s) <= 6 * min(s))


def _spell_pixels(draw, width: int, height: int) -> str:
    sep = draw(st.sampled_from(["x", "X", "×", "*"]))
    pad = st.sampled_from(["", " ", "  ", "\t"])
    return f"{draw(pad)}{width}{draw(pad)}{sep}{draw(pad)}{height}{draw(pad)}"


@st.composite
def spellings(draw):
    """(expected size, one accepted spelling of it)."""
    kind = draw(st.sampled_from(["pixels", "pair", "frame", "name", "ratio", "scaled ratio"]))
    if kind in ("name", "ratio", "scaled ratio"):
        row = draw(st.sampled_from(FRAMES))
        if kind == "name":
            if row.name is None:
                kind = "ratio"
            else:
                name = "".join(c.upper() if draw(st.booleans()) else c for c in row.name)
                return row.size, f"{draw(st.sampled_from(['', ' ']))}{name}{draw(st.sampled_from(['', ' ']))}"
        factor = 1 if kind == "ratio" else draw(st.integers(2, 50))
        sep = draw(st.sampled_from([":", "/", " : "]))
        return row.size, f"{row.ratio[0] * factor}{sep}{row.ratio[1] * factor}"
    size = draw(_sizes())
    if kind == "pixels":
        return size, _spell_pixels(draw, *size)
    if kind == "pair":
        return size, draw(st.sampled_from([tuple, list]))(size)
    return size, Frame(*size)


@given(spellings())
def test_every_spelling_of_a_size_parses_to_the_same_size_everywhere(case):
    size, spelled = case
    assert parse_size(spelled) == size
    assert parse_size(spelled, check=False) == size
    assert _frames.frame_size(spelled) == size
    assert render_parse_size(spelled) == size
    if isinstance(spelled, str):
        assert Frame.parse(spelled) == Frame(*size)
    assert Frame.of(spelled) == Frame(*size)
    # a ratio's spelling gives the ratio of its row, a size's the reduced size
    expected_ratio = parse_ratio(size)
    got = parse_ratio(spelled)
    assert got == expected_ratio or (isinstance(spelled, str) and got is not None
                                     and _frames.size_for_ratio(*got) == size)
    assert parse_aspect(spelled) == got


@given(spellings())
def test_verify_reads_the_frame_through_the_same_parser(case):
    size, spelled = case
    assert verify(ROUND, frame=spelled) == verify(ROUND, frame=size)


@given(spellings())
def test_layout_tools_read_sizes_through_the_same_parser(case):
    size, spelled = case
    assert template("poster", spelled).dumps() == template("poster", Frame(*size)).dumps()
    assert Box.from_xyxy(0, 0, 256, 256, frame=spelled) == Box.from_xyxy(0, 0, 256, 256, frame=Frame(*size))


def test_preview_takes_any_spelling():
    pytest.importorskip("PIL")
    from captionkit.preview import render_preview

    pictures = {render_preview(ROUND, frame=spelled, width=200).tobytes() for spelled in ("banner", (1600, 400), "4:1")}
    assert len(pictures) == 1
    assert render_preview(ROUND, frame="square", width=200).tobytes() not in pictures


def test_verify_with_a_frame_name_is_the_issue_reproducer():
    # used to crash with int('banner')
    banner = verify(ROUND, frame="banner")
    assert banner == verify(ROUND, frame=(1600, 400)) == verify(ROUND, frame="4:1")
    assert "CK610" in banner.codes() and "CK610" not in verify(ROUND, frame="square").codes()
    with pytest.raises(ValueError, match="expected WIDTHxHEIGHT") as info:
        verify(ROUND, frame="bannr")
    assert "\n" not in str(info.value) and "banner" in str(info.value)
    with pytest.raises(ValueError, match="expected WIDTHxHEIGHT"):
        verify(ROUND, frame="bannr", lints=False)  # read even when no check uses it


def test_fix_reads_the_frame_through_the_same_parser():
    pixels = json.dumps({"compositional_deconstruction": {"background": "b", "elements": [
        {"type": "obj", "bbox": [40, 400, 120, 1200], "desc": "A sign."}]}})
    by_name = fix(pixels, box_format="pixels", frame="banner", unsafe=True)
    assert by_name.text == fix(pixels, box_format="pixels", frame=(1600, 400), unsafe=True).text
    assert by_name.data["compositional_deconstruction"]["elements"][0]["bbox"] == [100, 250, 300, 750]


@pytest.mark.parametrize("command", [["verify", "--size"], ["fix", "--stdout", "--box-format", "pixels", "--size"]])
def test_cli_size_options_take_names_and_ratios(tmp_path, command):
    path = tmp_path / "a.json"
    # a box that fits a 1600x400 frame in pixels (fix refuses boxes that cannot be in the declared convention)
    path.write_text(ROUND.replace("[100,100,500,500]", "[40,400,120,1200]"), encoding="utf-8")
    results = [runner.invoke(app, [*command, spelled, str(path)]) for spelled in ("banner", "1600x400", "4:1")]
    assert len({(r.exit_code, r.stdout, r.stderr) for r in results}) == 1, [r.output for r in results]
    assert results[0].exit_code in (0, 1)
    bad = runner.invoke(app, [*command, "bannr", str(path)])
    assert bad.exit_code == 2 and bad.stderr.startswith("error: --size: size 'bannr': expected WIDTHxHEIGHT")
    assert bad.stderr.count("\n") == 1


def test_new_takes_a_ratio_like_a_name(tmp_path):
    by_ratio = runner.invoke(app, ["new", "-t", "poster", "--size", "16:9"])
    by_name = runner.invoke(app, ["new", "-t", "poster", "--size", "widescreen"])
    assert by_ratio.exit_code == 0 and by_ratio.stdout == by_name.stdout


# -- the table --------------------------------------------------------------------------


def test_every_row_is_an_official_size_near_its_ratio():
    for row in FRAMES:
        _frames.check_size(row.width, row.height)
        assert abs(math.log(row.width / row.height) - math.log(row.ratio[0] / row.ratio[1])) < 0.08, row


def test_unnamed_rows_are_the_rule_written_out():
    for row in FRAMES:
        if row.name is None:
            a, b = row.ratio
            g = math.gcd(a, b)
            assert _frames._rule_size(a // g, b // g) == row.size, row


def test_named_rows_are_the_layout_presets():
    assert {name: row.size for name, row in NAMED.items()} == {n: (f.width, f.height) for n, f in PRESETS.items()}


def test_every_hosted_bucket_has_a_row():
    for bucket in HOSTED_BUCKETS:
        w, h = (int(p) for p in bucket.split("x"))
        assert any(row.ratio == (w, h) for row in FRAMES), bucket


def test_no_two_rows_answer_for_the_same_ratio():
    keys = [_frames._reduced(*row.ratio) for row in FRAMES]
    assert len(keys) == len(set(keys))


@given(st.integers(1, 64), st.integers(1, 64))
def test_any_ratio_gets_an_official_frame_of_that_ratio_or_a_clear_error(a, b):
    g = math.gcd(a, b)
    ra, rb = a // g, b // g
    # brute force, independent of the implementation: every exact-ratio official size
    exact = [(16 * ra * k, 16 * rb * k) for k in range(1, 129)
             if 256 <= 16 * ra * k <= 2048 and 256 <= 16 * rb * k <= 2048 and max(ra, rb) <= 6 * min(ra, rb)]
    row = _frames._BY_RATIO.get((ra, rb))
    try:
        width, height = _frames.size_for_ratio(a, b)
    except ValueError as exc:
        assert "\n" not in str(exc) and row is None and not exact
        return
    _frames.check_size(width, height)
    if row is not None:
        assert (width, height) == row.size
    else:
        assert (width, height) == min(exact, key=lambda s: (abs(s[0] * s[1] - 1024 * 1024), s[0]))


@pytest.mark.parametrize("bad", ["wide", "1536", "1536x", "x1024", "-16x256", "16:0", "0x0", "", (1, 2, 3), None, 1.5])
def test_bad_sizes_are_one_line_value_errors(bad):
    with pytest.raises(ValueError) as info:
        parse_size(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(RenderError):
        render_parse_size(bad)


def test_the_contract_is_checked_unless_asked_not_to():
    with pytest.raises(ValueError, match="width must be divisible by 16, got 1000"):
        parse_size("1000x750")
    assert parse_size("1000x750", check=False) == (1000, 750)
    with pytest.raises(ValueError, match="must be positive"):
        parse_size((0, 10), check=False)


def test_aspect_parsing_takes_frame_names_and_snaps_them():
    assert parse_aspect("banner") == (4, 1) and resolve_aspect("banner", snap=True).wire == "4x1"
    assert parse_aspect("widescreen") == (16, 9) and parse_aspect("1920x1088") == (30, 17)
    assert parse_aspect(" Auto ") is None
