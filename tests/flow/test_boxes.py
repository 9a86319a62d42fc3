"""Box conventions: order x scale, exact conversion with one rounding rule, refusals with the box and
the reason, detection only when exactly one convention fits; round trips on non-square frames."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import captionkit
from captionkit.boxes import CONVENTIONS, BoxConventionError, convert, detect, fits, parse_convention
from captionkit.cli import app

FRAMES = [(1536, 1024), (1024, 1536), (1920, 1088), (1600, 400), (2048, 768), (1024, 1792)]
REPRO = ('Here it is:\n```json\n{"compositional_deconstruction":{"background":"A studio.","elements":'
         '[{"type":"obj","bbox":[300,200,1200,900],"desc":"A lamp."}]}}\n```\n')


def half_even(numerator: int, denominator: int) -> int:
    """round(numerator / denominator) by integer arithmetic, halves to even (written independently)."""
    q, r = divmod(numerator, denominator)
    if 2 * r > denominator or (2 * r == denominator and q % 2 == 1):
        q += 1
    return q


def test_the_issue_reproducer_through_the_cli(cli) -> None:
    result = cli.invoke(app, ["fix", "--stdout", "--unsafe-fixes", "--box-format", "xyxy", "--size", "1536x1024", "-"],
                        input=REPRO)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["compositional_deconstruction"]["elements"][0]["bbox"] == [195, 195, 879, 781]
    assert "converted the bbox from xyxy pixels on 1536x1024 [300, 200, 1200, 900] to [195, 195, 879, 781]" in result.stderr
    api = captionkit.fix(REPRO, unsafe=True, box_format="xyxy", frame=(1536, 1024))
    assert api.data["compositional_deconstruction"]["elements"][0]["bbox"] == [195, 195, 879, 781] and api.ok


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--box-format", "pixels", "--size", "1536x1024"], "is not yxyx pixels on 1536x1024: y_max 1200 is beyond the frame height 1024"),
        (["--box-format", "unit"], "is not yxyx 0-1 units: y_min 300 is above 1"),
        (["--box-format", "xyxy"], "is not xyxy 0-1000: x_max 1200 is beyond the 0-1000 range 1000"),
        (["--box-format", "xywh-pixels", "--size", "1536x1024"], "y + height = 1100 is beyond the frame height 1024"),
        (["--box-format", "auto"], "no convention fits every box"),
    ],
)
def test_values_that_cannot_be_in_the_declared_convention_are_refused(cli, tmp_path, argv, reason) -> None:
    path = tmp_path / "lamp.json"
    path.write_text(REPRO, encoding="utf-8")
    result = cli.invoke(app, ["fix", "--unsafe-fixes", *argv, str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"error: {path}: ")
    assert reason in result.stderr
    if "auto" not in argv:
        assert "box [300, 200, 1200, 900]" in result.stderr
    assert path.read_text(encoding="utf-8") == REPRO  # never touched


def test_auto_acts_only_when_exactly_one_convention_fits_and_says_which(cli) -> None:
    detected = cli.invoke(app, ["fix", "--stdout", "--unsafe-fixes", "--box-format", "auto", "--size", "1536x1024", "-"],
                          input=REPRO)
    assert detected.exit_code == 0, detected.output
    assert "detected the box convention xyxy pixels on 1536x1024, the only one every box fits" in detected.stderr
    ambiguous = '{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","bbox":[100,200,300,400],"desc":"d"}]}}'
    refused = cli.invoke(app, ["fix", "--stdout", "--box-format", "auto", "-"], input=ambiguous)
    assert refused.exit_code == 2
    assert "cannot tell the box convention: yxyx 0-1000, xyxy 0-1000 and xywh 0-1000 all fit every box" in refused.stderr
    bad = cli.invoke(app, ["fix", "--stdout", "--box-format", "diagonal", "-"], input=ambiguous)
    assert bad.exit_code == 2 and "unknown box convention 'diagonal'" in bad.stderr
    no_frame = cli.invoke(app, ["fix", "--stdout", "--box-format", "xyxy-pixels", "-"], input=ambiguous)
    assert no_frame.exit_code == 2 and "needs the frame size" in no_frame.stderr


def test_worked_example_and_rounding_rule() -> None:
    assert convert([300, 200, 1200, 900], "xyxy-pixels", frame="1536x1024") == [195, 195, 879, 781]
    # exact halves go to the even neighbour, computed exactly (no float drift)
    assert convert([0.0005, 0.0015, 0.0025, 0.0035], "unit") == [0, 2, 2, 4]
    assert convert([1, 3, 5, 7], "yxyx-pixels", frame=(2000, 2000)) == [0, 2, 2, 4]
    assert convert([0.1235, 0.5, 0.5, 0.9], "unit") == [124, 500, 500, 900]  # 123.5 -> 124 (even)


# --- property tests: every convention on non-square frames, against boxes computed by hand

@st.composite
def pixel_boxes(draw):
    w, h = draw(st.sampled_from(FRAMES))
    x0, x1 = sorted(draw(st.tuples(st.integers(0, w), st.integers(0, w))))
    y0, y1 = sorted(draw(st.tuples(st.integers(0, h), st.integers(0, h))))
    return (w, h), (x0, y0, x1, y1)


@given(pixel_boxes())
def test_pixel_conventions_match_hand_computed_boxes(case) -> None:
    (w, h), (x0, y0, x1, y1) = case
    expected = [half_even(1000 * y0, h), half_even(1000 * x0, w), half_even(1000 * y1, h), half_even(1000 * x1, w)]
    assert convert([y0, x0, y1, x1], "yxyx-pixels", frame=(w, h)) == expected
    assert convert([x0, y0, x1, y1], "xyxy-pixels", frame=(w, h)) == expected
    assert convert([x0, y0, x1 - x0, y1 - y0], "xywh-pixels", frame=(w, h)) == expected
    assert convert([float(x0), float(y0), float(x1), float(y1)], "xyxy", frame=(w, h)) == expected


canonical = st.tuples(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000)).map(
    lambda b: [min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])]
)


def encode(box: list[int], name: str, frame: tuple[int, int]) -> list[float | int]:
    """The caption box written in another convention, by hand (exact where the convention allows)."""
    y0, x0, y1, x1 = box
    w, h = frame
    order, scale = name.split("-")
    if scale == "1000":
        f = lambda v, _: v  # noqa: E731
    elif scale == "unit":
        f = lambda v, _: v / 1000  # noqa: E731
    else:
        f = lambda v, axis: float(Fraction(v * (w if axis == "x" else h), 1000))  # noqa: E731
    if order == "yxyx":
        return [f(y0, "y"), f(x0, "x"), f(y1, "y"), f(x1, "x")]
    if order == "xyxy":
        return [f(x0, "x"), f(y0, "y"), f(x1, "x"), f(y1, "y")]
    return [f(x0, "x"), f(y0, "y"), f(x1 - x0, "x"), f(y1 - y0, "y")]


@given(canonical, st.sampled_from(FRAMES), st.sampled_from([c.name for c in CONVENTIONS]))
def test_every_convention_round_trips_on_non_square_frames(box, frame, name) -> None:
    written = encode(box, name, frame)
    assert fits(written, name, frame=frame)
    assert convert(written, name, frame=frame) == box


@given(canonical, st.sampled_from(FRAMES))
def test_detection_acts_only_on_a_single_fit(box, frame) -> None:
    written = encode(box, "xyxy-pixels", frame)
    fitting = [c for c in CONVENTIONS if fits(written, c, frame=frame)]
    if len(fitting) == 1:
        assert detect([written], frame=frame) == fitting[0] == parse_convention("xyxy-pixels", frame=frame)
    else:
        with pytest.raises(BoxConventionError, match="cannot tell the box convention"):
            detect([written], frame=frame)


@given(st.sampled_from(FRAMES), st.integers(1, 500))
def test_values_beyond_the_convention_are_refused(frame, over) -> None:
    w, h = frame
    with pytest.raises(BoxConventionError, match="beyond the frame width"):
        convert([0, 0, w + over, 10], "xyxy-pixels", frame=frame)
    with pytest.raises(BoxConventionError, match="is above 1"):
        convert([0, 0, 1 + over / 1000, 0.5], "unit")
    with pytest.raises(BoxConventionError, match="x \\+ width"):
        convert([500, 0, 500 + over, 10], "xywh-1000")
    with pytest.raises(BoxConventionError, match="reversed edges"):
        convert([10 + over, 0, 10, 10], "xyxy-1000")
