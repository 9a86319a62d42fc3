"""Presets as data, and their schedule order on each backend."""

from __future__ import annotations

import pytest

from captionkit.render import PRESETS, Preset, RenderError, resolve_preset


@pytest.mark.parametrize(
    ("name", "steps", "polish", "mu", "std"),
    [("V4_QUALITY_48", 48, 3, 0.0, 1.5), ("V4_DEFAULT_20", 20, 2, 0.0, 1.75), ("V4_TURBO_12", 12, 1, 0.5, 1.75)],
)
def test_official_presets(name: str, steps: int, polish: int, mu: float, std: float) -> None:
    p = PRESETS[name]
    assert (p.steps, p.mu, p.std) == (steps, mu, std)
    # diffusers: run order, the low-guidance polish steps come last
    assert p.diffusers_schedule() == (7.0,) * (steps - polish) + (3.0,) * polish
    # official: loop-index order, index 0 is the last step
    assert p.official_schedule() == (3.0,) * polish + (7.0,) * (steps - polish)


def test_custom_constant_and_official_order() -> None:
    assert Preset.custom(steps=3, guidance=4.5).schedule == (4.5, 4.5, 4.5)
    p = Preset.custom(steps=3, schedule=[1.0, 2.0, 3.0], order="official")
    assert p.diffusers_schedule() == (3.0, 2.0, 1.0)
    assert p.official_schedule() == (1.0, 2.0, 3.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 2, "guidance": 4.0, "schedule": [1, 2]}, "not both"),
        ({"steps": 2}, "constant guidance or a guidance schedule"),
        ({"steps": 3, "schedule": [1.0, 2.0]}, "length 2, expected steps=3"),
        ({"steps": 0, "guidance": 4.0}, "steps must be a positive integer"),
        ({"steps": 2, "guidance": float("nan")}, "not a finite number"),
        ({"steps": 2, "guidance": 4.0, "std": 0}, "std must be a positive number"),
        ({"steps": 2, "guidance": 4.0, "order": "reverse"}, "order must be"),
    ],
)
def test_custom_misuse_is_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(RenderError, match=message) as info:
        Preset.custom(**kwargs)
    assert "\n" not in str(info.value)


def test_round_trip_and_aliases() -> None:
    for p in PRESETS.values():
        assert Preset.from_dict(p.to_dict()) == p
    assert resolve_preset("quality") is PRESETS["V4_QUALITY_48"]
    assert resolve_preset("v4_turbo_12") is PRESETS["V4_TURBO_12"]
    with pytest.raises(RenderError, match="unknown preset 'slow'"):
        resolve_preset("slow")
