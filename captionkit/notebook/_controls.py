"""What the Studio's controls mean, without any widget: schedules, seeds, sizes, sampler fields.

The panel only moves values between widgets and these functions, so every rule
here is tested on its own.

The schedule text is written in the **official** loop-index order (the order of
the ``ideogram4`` package's presets: the first value belongs to the *last*,
low-guidance polish step), run-length compressed with ``*``:

>>> format_schedule(PRESETS["V4_DEFAULT_20"].official_schedule())
'3.0*2, 7.0*18'
>>> sampler("Custom", steps=3, guidance=7.0, mu=0.0, std=1.75, schedule="3, 7*2").diffusers_schedule()
(7.0, 7.0, 3.0)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from captionkit.layout import PRESETS as FRAMES
from captionkit.layout import Frame
from captionkit.render.errors import RenderError
from captionkit.render.presets import PRESETS, Preset

__all__ = [
    "CUSTOM",
    "MAX_SEEDS",
    "SamplerFields",
    "fields_for",
    "format_schedule",
    "format_seeds",
    "frame_choices",
    "nearest_frame",
    "parse_schedule",
    "parse_seeds",
    "preset_name_for",
    "sampler",
    "size_problem",
]

CUSTOM = "Custom"
"""The preset menu's entry that unlocks steps, guidance, mu, std and the schedule."""

MAX_SEEDS = 64
"""Most images one Generate may ask for."""

_REPEAT = re.compile(r"^(?P<value>[^*×]+?)\s*(?:[*×]\s*(?P<count>\d+))?$")
_SEED_RANGE = re.compile(r"^(?P<a>\d+)\s*-\s*(?P<b>\d+)$")
_SEED_MAX = 2**64 - 1


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}: {text!r} is not a finite number")
    return value


def _items(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,;\n]+", text) if part.strip()]


def parse_schedule(text: str) -> tuple[float, ...]:
    """Read a guidance schedule: numbers separated by commas or new lines, ``value*count`` repeats.

    Args:
        text: For example ``"3.0*2, 7.0*18"``.

    Returns:
        The values in the order written.

    Raises:
        ValueError: an item that is not a finite number or a positive repeat, naming the item.

    >>> parse_schedule("3, 7.5\\n7.5")
    (3.0, 7.5, 7.5)
    >>> parse_schedule("3, seven")
    Traceback (most recent call last):
    ...
    ValueError: schedule item 2: 'seven' is not a number
    """
    values: list[float] = []
    for n, item in enumerate(_items(text), start=1):
        where = f"schedule item {n}"
        match = _REPEAT.match(item)
        if match is None:
            raise ValueError(f"{where}: {item!r} is not a number or value*count")
        value = _number(match.group("value").strip(), where)
        count = int(match.group("count")) if match.group("count") is not None else 1
        if count < 1:
            raise ValueError(f"{where}: repeat count must be at least 1, got {count}")
        if len(values) + count > 10_000:
            raise ValueError(f"{where}: a schedule has at most 10000 steps")
        values.extend([value] * count)
    return tuple(values)


def format_schedule(values: Sequence[float]) -> str:
    """Write a schedule the way :func:`parse_schedule` reads it, runs compressed.

    >>> format_schedule([7.0, 7.0, 3.0])
    '7.0*2, 3.0'
    >>> format_schedule([])
    ''
    """
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        value = repr(float(values[i]))
        parts.append(value if j == i else f"{value}*{j - i + 1}")
        i = j + 1
    return ", ".join(parts)


def parse_seeds(text: str) -> list[int]:
    """Read seeds: integers and ranges separated by commas or spaces (``"1, 2, 5-8"``).

    Raises:
        ValueError: a malformed item, a seed outside 0..2**64-1, a seed given twice,
            or more than :data:`MAX_SEEDS` seeds.

    >>> parse_seeds("1, 2 5-7")
    [1, 2, 5, 6, 7]
    >>> parse_seeds("3, 3")
    Traceback (most recent call last):
    ...
    ValueError: seeds: 3 is given twice
    """
    seeds: list[int] = []
    for item in re.split(r"[,;\s]+", text.strip()):
        if not item:
            continue
        match = _SEED_RANGE.match(item)
        if match is not None:
            a, b = int(match.group("a")), int(match.group("b"))
            if b < a:
                raise ValueError(f"seeds: range {item!r} runs backwards")
            if b - a + 1 > MAX_SEEDS:
                raise ValueError(f"seeds: at most {MAX_SEEDS} seeds at once, {item!r} has {b - a + 1}")
            batch = list(range(a, b + 1))
        elif item.isdigit():
            batch = [int(item)]
        else:
            raise ValueError(f"seeds: {item!r} is not a whole number or a range like 5-8")
        for s in batch:
            if s > _SEED_MAX:
                raise ValueError(f"seeds: {s} is above 2**64-1")
            if s in seeds:
                raise ValueError(f"seeds: {s} is given twice")
            seeds.append(s)
        if len(seeds) > MAX_SEEDS:
            raise ValueError(f"seeds: at most {MAX_SEEDS} seeds at once")
    return seeds


def format_seeds(seeds: Sequence[int]) -> str:
    """Seeds as text, consecutive runs written as ranges.

    >>> format_seeds([1, 2, 3, 7])
    '1-3, 7'
    """
    parts: list[str] = []
    i = 0
    while i < len(seeds):
        j = i
        while j + 1 < len(seeds) and seeds[j + 1] == seeds[j] + 1:
            j += 1
        parts.append(str(seeds[i]) if j == i else f"{seeds[i]}-{seeds[j]}")
        i = j + 1
    return ", ".join(parts)


def size_problem(width: Any, height: Any) -> str | None:
    """Why a size breaks the official rules (256-2048, multiples of 16, at most 6:1), or None.

    The message is the official one, from :class:`~captionkit.layout.Frame`.

    >>> size_problem(1536, 1024) is None
    True
    >>> size_problem(2048, 256)
    'aspect ratio must be at most 6:1, got 2048:256'
    """
    try:
        Frame(width, height)
    except ValueError as exc:
        return str(exc)
    return None


def frame_choices() -> list[tuple[str, str]]:
    """The official frames as ``(label, "WxH")`` menu entries.

    >>> frame_choices()[0]
    ('square 1024x1024 (1:1)', '1024x1024')
    """
    return [(f"{name} {f.width}x{f.height} ({f.aspect_ratio})", f"{f.width}x{f.height}") for name, f in FRAMES.items()]


def nearest_frame(width: float, height: float) -> Frame:
    """The official frame whose aspect ratio is closest to ``width:height``.

    >>> nearest_frame(1000, 560)
    Frame(width=1920, height=1088)
    """
    if not (width > 0 and height > 0):
        return FRAMES["square"]
    want = math.log(width / height)
    return min(FRAMES.values(), key=lambda f: (abs(math.log(f.width / f.height) - want), f.width * f.height))


@dataclass(frozen=True)
class SamplerFields:
    """The sampler widgets' values for one set of parameters.

    Attributes:
        steps: Denoising steps.
        guidance: The main guidance weight (the first step's, in run order).
        mu: Base mean of the sigma schedule.
        std: Spread of the sigma schedule.
        schedule: The schedule text in official order (see :func:`format_schedule`).
    """

    steps: int
    guidance: float
    mu: float
    std: float
    schedule: str


def fields_for(preset: Preset) -> SamplerFields:
    """What the sampler widgets show for a preset (the schedule in official order).

    >>> fields_for(PRESETS["V4_TURBO_12"]).schedule
    '3.0, 7.0*11'
    """
    text = format_schedule(preset.official_schedule())
    return SamplerFields(preset.steps, float(preset.schedule[0]), preset.mu, preset.std, text)


def preset_name_for(preset: Preset) -> str:
    """The official preset with the same parameters, or :data:`CUSTOM`.

    >>> preset_name_for(Preset.custom(steps=12, schedule=[7.0] * 11 + [3.0], mu=0.5, std=1.75))
    'V4_TURBO_12'
    """
    for name, known in PRESETS.items():
        if (known.steps, known.schedule, known.mu, known.std) == (preset.steps, preset.schedule, preset.mu, preset.std):
            return name
    return CUSTOM


def sampler(preset: str, *, steps: int, guidance: float, mu: float, std: float, schedule: str) -> Preset:
    """The sampler parameters the widgets describe.

    An official preset ignores the other fields (the panel locks them). ``Custom``
    reads them: the schedule text in official order when it is not empty, else the
    constant ``guidance`` for every step.

    Raises:
        ValueError: an unknown preset, or custom fields that do not make parameters
            (a schedule of the wrong length, a non-positive ``std``...), one line.

    >>> sampler("Custom", steps=2, guidance=4.0, mu=0.0, std=1.75, schedule="").schedule
    (4.0, 4.0)
    >>> sampler("Custom", steps=4, guidance=7.0, mu=0.0, std=1.75, schedule="3, 7")
    Traceback (most recent call last):
    ...
    ValueError: the schedule has 2 values for 4 steps
    """
    if preset != CUSTOM:
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)} or {CUSTOM}")
        return PRESETS[preset]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive whole number, got {steps!r}")
    values = parse_schedule(schedule)
    try:
        if values:
            if len(values) != steps:
                raise ValueError(f"the schedule has {len(values)} values for {steps} steps")
            return Preset.custom(steps=steps, schedule=values, order="official", mu=mu, std=std)
        return Preset.custom(steps=steps, guidance=_number(str(guidance), "guidance"), mu=mu, std=std)
    except RenderError as exc:
        raise ValueError(str(exc).replace("preset custom: ", "")) from None
