"""Sizes and frames: the one parser for ``WxH``, frame names and aspect ratios.

Every command and API that takes an output size or an aspect ratio reads it
here, so ``"banner"``, ``"1600x400"``, ``"4:1"`` and ``(1600, 400)`` mean the
same thing everywhere.

A **size** is written

* ``"WIDTHxHEIGHT"`` in pixels (``x``, ``X``, ``×`` or ``*``, spaces allowed):
  ``"1536x1024"``;
* a frame name from :data:`FRAMES` (any case): ``"banner"``;
* an aspect ratio ``"W:H"`` (or ``"W/H"``): the frame the table gives for it,
  ``"16:9"`` is 1920x1088;
* a ``(width, height)`` pair, or any object with ``width`` and ``height``
  (a :class:`captionkit.layout.Frame`).

An **aspect ratio** is written like a size (its ratio is taken, in lowest
terms) or ``"auto"``.

The frame table
---------------

:data:`FRAMES` is the one table of frames. Its named rows are the official
suggested sizes (``render.md`` §5.1); its other rows give a frame to every
aspect ratio the hosted magic-prompt endpoint can answer with. A ratio with no
row gets the frame of exactly that ratio whose sides are multiples of 16 and
whose area is closest to 1024x1024 (the smaller on a tie), within 256..2048;
the unnamed rows are that rule written out, and a test keeps them equal.

=========  ==========  ==========  ===============================
ratio      size        name        note
=========  ==========  ==========  ===============================
1:1        1024x1024   square      official
3:2        1536x1024   landscape   official
2:3        1024x1536   portrait    official
16:9       1920x1088   widescreen  official (30:17, about 16:9)
9:16       1024x1792   story       official (4:7, about 9:16)
8:3        2048x768    ultrawide   official (about 21:9)
4:1        1600x400    banner      official
1:4        512x2048                the rule
21:9       1568x672                the rule (exactly 21:9)
1:3, 3:1   592x1776, 1776x592      the rule
1:2, 2:1   720x1440, 1440x720      the rule
10:16,     800x1280, 1280x800      the rule
16:10
3:4, 4:3   864x1152, 1152x864      the rule
4:5, 5:4   896x1120, 1120x896      the rule
=========  ==========  ==========  ===============================

A named row also answers for the reduced ratio of its own size, so
``"30:17"`` is 1920x1088 as well.

>>> parse_size("banner"), parse_size("1600 x 400"), parse_size("4:1"), parse_size((1600, 400))
((1600, 400), (1600, 400), (1600, 400), (1600, 400))
>>> parse_size("16:9"), parse_size("7:4")
((1920, 1088), (1344, 768))
>>> parse_ratio("widescreen"), parse_ratio("1536x1024"), parse_ratio("auto") is None
((16, 9), (3, 2), True)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FRAMES",
    "MAX_ASPECT",
    "MAX_SIDE",
    "MIN_SIDE",
    "NAMED",
    "SIDE_MULTIPLE",
    "TARGET_AREA",
    "FrameRow",
    "check_size",
    "frame_size",
    "parse_ratio",
    "parse_size",
    "ratio_terms",
    "size_for_ratio",
]

MIN_SIDE = 256
MAX_SIDE = 2048
SIDE_MULTIPLE = 16
MAX_ASPECT = 6
TARGET_AREA = 1024 * 1024
"""The area the rule aims at for a ratio with no row (the official square's)."""


@dataclass(frozen=True, slots=True)
class FrameRow:
    """One row of :data:`FRAMES`: a ratio, the frame for it, and its name if it has one."""

    ratio: tuple[int, int]
    width: int
    height: int
    name: str | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)``."""
        return (self.width, self.height)


FRAMES: tuple[FrameRow, ...] = (
    FrameRow((1, 1), 1024, 1024, "square"),
    FrameRow((3, 2), 1536, 1024, "landscape"),
    FrameRow((2, 3), 1024, 1536, "portrait"),
    FrameRow((16, 9), 1920, 1088, "widescreen"),
    FrameRow((9, 16), 1024, 1792, "story"),
    FrameRow((8, 3), 2048, 768, "ultrawide"),
    FrameRow((4, 1), 1600, 400, "banner"),
    FrameRow((1, 4), 512, 2048),
    FrameRow((21, 9), 1568, 672),
    FrameRow((1, 3), 592, 1776),
    FrameRow((3, 1), 1776, 592),
    FrameRow((1, 2), 720, 1440),
    FrameRow((2, 1), 1440, 720),
    FrameRow((10, 16), 800, 1280),
    FrameRow((16, 10), 1280, 800),
    FrameRow((3, 4), 864, 1152),
    FrameRow((4, 3), 1152, 864),
    FrameRow((4, 5), 896, 1120),
    FrameRow((5, 4), 1120, 896),
)
"""The one table of frames (see the module docstring)."""

NAMED: dict[str, FrameRow] = {row.name: row for row in FRAMES if row.name is not None}
"""Named rows by name, in table order."""


def _reduced(width: int, height: int) -> tuple[int, int]:
    g = math.gcd(width, height) or 1
    return width // g, height // g


def _by_ratio() -> dict[tuple[int, int], FrameRow]:
    table: dict[tuple[int, int], FrameRow] = {}
    for row in FRAMES:
        table.setdefault(_reduced(*row.ratio), row)
    for row in FRAMES:  # a named row also answers for its own size's ratio
        table.setdefault(_reduced(row.width, row.height), row)
    return table


_BY_RATIO = _by_ratio()

_NUMBER = r"\s*(\d+)\s*"
_PIXELS = re.compile(rf"{_NUMBER}[xX×*]{_NUMBER}")
_RATIO = re.compile(rf"{_NUMBER}[:/]{_NUMBER}")
_ANY_PAIR = re.compile(rf"{_NUMBER}[xX×*:/]{_NUMBER}")


def check_size(width: int, height: int) -> None:
    """Enforce the official size contract, with the official one-line messages.

    Each side 256..2048 and a multiple of 16; the aspect ratio at most 6:1 either way.

    Raises:
        ValueError: The first rule the size breaks.

    >>> check_size(1536, 1024)
    >>> check_size(1000, 1024)
    Traceback (most recent call last):
    ...
    ValueError: width must be divisible by 16, got 1000
    """
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer number of pixels, got {value!r}")
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise ValueError(f"{name} must be between {MIN_SIDE} and {MAX_SIDE}, got {value}")
        if value % SIDE_MULTIPLE:
            raise ValueError(f"{name} must be divisible by {SIDE_MULTIPLE}, got {value}")
    if max(width, height) > MAX_ASPECT * min(width, height):
        raise ValueError(f"aspect ratio must be at most {MAX_ASPECT}:1, got {width}:{height}")


def size_for_ratio(width: int, height: int) -> tuple[int, int]:
    """The frame for an aspect ratio: its row in :data:`FRAMES`, else the rule.

    Args:
        width: The ratio's first term (need not be reduced).
        height: The ratio's second term.

    Raises:
        ValueError: The ratio is not positive, is beyond 6:1, or no frame has exactly it.

    >>> size_for_ratio(16, 9), size_for_ratio(32, 18), size_for_ratio(7, 4)
    ((1920, 1088), (1920, 1088), (1344, 768))
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"aspect ratio {width}:{height}: both terms must be positive")
    a, b = _reduced(width, height)
    row = _BY_RATIO.get((a, b))
    if row is not None:
        return row.size
    return _rule_size(a, b)


def _rule_size(a: int, b: int) -> tuple[int, int]:
    """The rule for a reduced ratio with no row: exact ratio, sides multiples of 16, area nearest 1024²."""
    if max(a, b) > MAX_ASPECT * min(a, b):
        raise ValueError(f"aspect ratio must be at most {MAX_ASPECT}:1, got {a}:{b}")
    # sides are k·16a and k·16b; pick the k whose area is closest to TARGET_AREA
    step_w, step_h = SIDE_MULTIPLE * a, SIDE_MULTIPLE * b
    k_min = max(-(-MIN_SIDE // step_w), -(-MIN_SIDE // step_h), 1)
    k_max = min(MAX_SIDE // step_w, MAX_SIDE // step_h)
    if k_min > k_max:
        raise ValueError(
            f"aspect ratio {a}:{b}: no frame has exactly this ratio with sides that are multiples of "
            f"{SIDE_MULTIPLE} between {MIN_SIDE} and {MAX_SIDE}; give WIDTHxHEIGHT"
        )
    best = min(range(k_min, k_max + 1), key=lambda k: (abs(k * k * step_w * step_h - TARGET_AREA), k))
    return best * step_w, best * step_h


def _integer(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer number of pixels, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"{what} must be an integer number of pixels, got {value!r}")


def _names() -> str:
    return ", ".join(NAMED)


def parse_size(value: Any, *, check: bool = True) -> tuple[int, int]:
    """Read a size, a frame name or an aspect ratio as ``(width, height)`` in pixels.

    Args:
        value: ``"WIDTHxHEIGHT"``, a name from :data:`FRAMES`, ``"W:H"``/``"W/H"``,
            a ``(width, height)`` pair, or an object with ``width`` and ``height``.
        check: Enforce the official size contract (:func:`check_size`). Without it
            any positive size is accepted (boxes in pixels of some image, say).

    Raises:
        ValueError: One line: the value is not a size, or breaks the contract.

    >>> parse_size("1920×1088"), parse_size(" Banner "), parse_size("3:2")
    ((1920, 1088), (1600, 400), (1536, 1024))
    >>> parse_size("1000x750", check=False)
    (1000, 750)
    >>> parse_size("wide")
    Traceback (most recent call last):
    ...
    ValueError: size 'wide': expected WIDTHxHEIGHT (e.g. 1536x1024), W:H (e.g. 16:9) or a frame name (square, landscape, portrait, widescreen, story, ultrawide, banner)
    """
    if isinstance(value, str):
        raw = value.strip()
        row = NAMED.get(raw.lower())
        if row is not None:
            return row.size
        match = _PIXELS.fullmatch(raw)
        if match is not None:
            width, height = int(match.group(1)), int(match.group(2))
        else:
            match = _RATIO.fullmatch(raw)
            if match is None:
                raise ValueError(
                    f"size {value!r}: expected WIDTHxHEIGHT (e.g. 1536x1024), W:H (e.g. 16:9) "
                    f"or a frame name ({_names()})"
                )
            return size_for_ratio(int(match.group(1)), int(match.group(2)))
    elif hasattr(value, "width") and hasattr(value, "height"):
        width, height = _integer(value.width, "width"), _integer(value.height, "height")
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        width, height = _integer(value[0], "width"), _integer(value[1], "height")
    else:
        raise ValueError(
            f"size {value!r}: expected 'WIDTHxHEIGHT', 'W:H', a frame name or a (width, height) pair"
        )
    if check:
        check_size(width, height)
    elif width <= 0 or height <= 0:
        raise ValueError(f"size {width}x{height}: width and height must be positive")
    return width, height


def frame_size(value: Any) -> tuple[int, int] | None:
    """:func:`parse_size` without the contract check, passing ``None`` through.

    For checks that only need the frame's geometry (lints, pixel boxes).

    >>> frame_size("banner"), frame_size((1000, 750)), frame_size(None)
    ((1600, 400), (1000, 750), None)
    """
    return None if value is None else parse_size(value, check=False)


def ratio_terms(text: str) -> tuple[int, int]:
    """The two terms of ``"W:H"``, ``"WxH"`` or ``"W/H"`` as written (not reduced).

    Raises:
        ValueError: The text is not two integers around a separator.

    >>> ratio_terms("10x16")
    (10, 16)
    """
    match = _ANY_PAIR.fullmatch(text)
    if match is None:
        raise ValueError(f"aspect ratio {text!r}: expected W:H")
    return int(match.group(1)), int(match.group(2))


def parse_ratio(value: Any) -> tuple[int, int] | None:
    """Read an aspect ratio as ``(width, height)`` in lowest terms; ``None`` for ``auto``.

    Accepts everything :func:`parse_size` does (a frame name gives its row's ratio,
    a pixel size its reduced ratio) plus ``"auto"`` in any case.

    Raises:
        ValueError: One line, when the value is not a ratio.

    >>> parse_ratio("16:9"), parse_ratio("1920x1088"), parse_ratio("banner"), parse_ratio((1024, 768))
    ((16, 9), (30, 17), (4, 1), (4, 3))
    """
    if isinstance(value, str):
        raw = value.strip()
        if raw.lower() == "auto":
            return None
        row = NAMED.get(raw.lower())
        if row is not None:
            return _reduced(*row.ratio)
        match = _ANY_PAIR.fullmatch(raw)
        if match is None:
            raise ValueError(
                f"aspect ratio {value!r}: expected W:H, WxH, a frame size like 1536x1024, "
                f"a frame name ({_names()}) or auto"
            )
        width, height = int(match.group(1)), int(match.group(2))
    elif hasattr(value, "width") and hasattr(value, "height"):
        width, height = value.width, value.height
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        width, height = value
    else:
        raise ValueError(f"aspect ratio {value!r}: expected a string such as '3:2' or 'auto'")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (width, height)):
        raise ValueError(f"aspect ratio {value!r}: width and height must be integers")
    if width <= 0 or height <= 0:
        raise ValueError(f"aspect ratio {value!r}: width and height must be positive")
    return _reduced(width, height)
