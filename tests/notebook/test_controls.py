"""The meaning of the Studio's controls: schedule text in official order, seeds, sizes, presets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from captionkit.layout import PRESETS as FRAMES
from captionkit.layout import Frame
from captionkit.notebook._controls import (
    CUSTOM,
    MAX_SEEDS,
    fields_for,
    format_schedule,
    format_seeds,
    nearest_frame,
    parse_schedule,
    parse_seeds,
    preset_name_for,
    sampler,
    size_problem,
)
from captionkit.render._core import check_size
from captionkit.render.errors import RenderError
from captionkit.render.presets import PRESETS, Preset

weights = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False)
schedules = st.lists(st.one_of(weights, st.sampled_from([3.0, 7.0])), min_size=1, max_size=60)
@given(schedules)
def test_schedule_text_round_trips_exactly(values):
    assert parse_schedule(format_schedule(values)) == tuple(values)
@given(st.lists(st.tuples(weights, st.integers(1, 5)), min_size=1, max_size=8), st.sampled_from([", ", ",", "\n", " ; "]))
def test_schedule_repeats_expand_in_place(runs, sep):
    text = sep.join(f"{v!r}*{n}" if n > 1 else repr(v) for v, n in runs)
    assert parse_schedule(text) == tuple(v for v, n in runs for _ in range(n))


@pytest.mark.parametrize("text, message", [
    ("3, x", "schedule item 2: 'x' is not a number"),
    ("nan", "schedule item 1: 'nan' is not a finite number"),
    ("7*0", "schedule item 1: repeat count must be at least 1, got 0"),
    ("7*", "schedule item 1: '7*' is not a number or value*count"),
    ("1*20000", "schedule item 1: a schedule has at most 10000 steps"),
])
def test_schedule_errors_name_the_item(text, message):
    with pytest.raises(ValueError) as err:
        parse_schedule(text)
    assert str(err.value) == message
@given(schedules, weights, st.floats(0.01, 10))
def test_custom_schedule_is_read_in_official_order(values, mu, std):
    made = sampler(CUSTOM, steps=len(values), guidance=7.0, mu=mu, std=std, schedule=format_schedule(values))
    # the text is the official loop-index order: the first value is the last step
    assert made.official_schedule() == tuple(values)
    assert made.diffusers_schedule() == tuple(reversed(values))
    assert made == Preset.custom(steps=len(values), schedule=values, order="official", mu=mu, std=std)
@given(st.sampled_from(sorted(PRESETS)))
def test_official_presets_fill_the_fields_that_rebuild_them(name):
    preset = PRESETS[name]
    f = fields_for(preset)
    rebuilt = sampler(CUSTOM, steps=f.steps, guidance=f.guidance, mu=f.mu, std=f.std, schedule=f.schedule)
    assert (rebuilt.steps, rebuilt.schedule, rebuilt.mu, rebuilt.std) == (preset.steps, preset.schedule, preset.mu, preset.std)
    assert preset_name_for(rebuilt) == name
    # a preset ignores the (locked) fields
    assert sampler(name, steps=1, guidance=0.0, mu=9.0, std=9.0, schedule="junk") is preset


def test_the_default_preset_text_is_the_official_tuple():
    # the official package writes V4_DEFAULT_20 as (3.0,)*2 + (7.0,)*18
    assert fields_for(PRESETS["V4_DEFAULT_20"]).schedule == "3.0*2, 7.0*18"
    assert sampler(CUSTOM, steps=20, guidance=7, mu=0, std=1.75, schedule="3.0*2, 7.0*18").diffusers_schedule() == (7.0,) * 18 + (3.0,) * 2


@pytest.mark.parametrize("kwargs, message", [
    (dict(steps=4, schedule="3, 7"), "the schedule has 2 values for 4 steps"),
    (dict(steps=0, schedule=""), "steps must be a positive whole number, got 0"),
    (dict(steps=2, schedule="", std=0.0), "std must be a positive number, got 0.0"),
])
def test_custom_fields_that_make_no_parameters_say_why(kwargs, message):
    args = dict(guidance=7.0, mu=0.0, std=1.75) | kwargs
    with pytest.raises(ValueError) as err:
        sampler(CUSTOM, **args)
    assert str(err.value) == message
@given(st.lists(st.integers(0, 2**64 - 1), unique=True, max_size=MAX_SEEDS))
def test_seeds_round_trip(seeds):
    assert parse_seeds(format_seeds(seeds)) == seeds


@pytest.mark.parametrize("text, message", [
    ("1, -2", "seeds: '-2' is not a whole number or a range like 5-8"),
    ("5-3", "seeds: range '5-3' runs backwards"),
    ("1, 1", "seeds: 1 is given twice"),
    ("0-100", f"seeds: at most {MAX_SEEDS} seeds at once, '0-100' has 101"),
    (str(2**64), f"seeds: {2**64} is above 2**64-1"),
])
def test_seed_errors(text, message):
    with pytest.raises(ValueError) as err:
        parse_seeds(text)
    assert str(err.value) == message
@given(st.integers(-100, 5000), st.integers(-100, 5000))
def test_size_rules_agree_with_the_render_layer(width, height):
    problem = size_problem(width, height)
    try:
        check_size(width, height)
    except RenderError as exc:
        assert problem is not None and str(exc).endswith(problem)
    else:
        assert problem is None
@given(st.integers(1, 5000), st.integers(1, 5000))
def test_nearest_frame_is_official_and_closest_in_aspect(width, height):
    import math

    frame = nearest_frame(width, height)
    assert frame in FRAMES.values()
    want = math.log(width / height)
    best = min(abs(math.log(f.width / f.height) - want) for f in FRAMES.values())
    assert abs(math.log(frame.width / frame.height) - want) == best
    assert size_problem(frame.width, frame.height) is None and Frame(frame.width, frame.height) == frame
