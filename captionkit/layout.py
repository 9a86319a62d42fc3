"""Layout toolkit: output frames and boxes in the caption's 0-1000 space.

A caption box is ``[y_min, x_min, y_max, x_max]`` with each axis normalised
*separately* to 0..1000, so numerically equal spans are square only on a
square frame. This module keeps that geometry in one place:

* :class:`Frame` is the output size with the official resolution rules and
  converts between pixels and the 0-1000 space;
* :class:`Box` is a precise (float) box in the 0-1000 space, with
  constructors from every common notation, geometry (IoU, containment) and
  :meth:`Box.snap` to the integer :class:`captionkit.models.BBox`.

Conventions: positions and boxes are given in 0-1000 units (like the
caption); lengths that must look right on screen (a square's side, a grid's
margin) are given in pixels and their parameter names end in ``_px``.

>>> frame = Frame.parse("1536x1024")
>>> frame.aspect_ratio
'3:2'
>>> frame.square(center=(500, 500), side_px=512).ints()
(250, 333, 750, 667)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from captionkit import _frames
from captionkit._frames import MAX_ASPECT, MAX_SIDE, MIN_SIDE, SIDE_MULTIPLE
from captionkit.models import BBox

__all__ = [
    "ANCHORS",
    "ASPECT_FRAMES",
    "MAX_ASPECT",
    "MAX_SIDE",
    "MIN_SIDE",
    "PRESETS",
    "SIDE_MULTIPLE",
    "Box",
    "Frame",
    "frame_for_aspect",
    "grid",
    "thirds",
]

# Float arithmetic (e.g. 1000 * 3 / 3) can land a hair outside the range.
_EPS = 1e-6

Anchor = Literal[
    "top-left",
    "top",
    "top-right",
    "left",
    "center",
    "right",
    "bottom-left",
    "bottom",
    "bottom-right",
]
ANCHORS: tuple[str, ...] = get_args(Anchor)

# anchor -> (vertical, horizontal) placement
_ANCHOR_SIDES: dict[str, tuple[str, str]] = {
    name: (
        "top" if name.startswith("top") else "bottom" if name.startswith("bottom") else "center",
        "left" if name.endswith("left") else "right" if name.endswith("right") else "center",
    )
    for name in ANCHORS
}


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True, slots=True)
class Frame:
    """An output size in pixels that follows the official resolution rules.

    Each side must be 256..2048 and a multiple of 16, and the aspect ratio at
    most 6:1 either way. A broken rule raises ``ValueError`` with the official
    one-line message.

    Args:
        width: Width in pixels.
        height: Height in pixels.

    >>> Frame(1024, 1536).aspect_ratio
    '2:3'
    >>> Frame(1000, 1024)
    Traceback (most recent call last):
    ...
    ValueError: width must be divisible by 16, got 1000
    """

    width: int
    height: int

    def __post_init__(self) -> None:
        _frames.check_size(self.width, self.height)

    @classmethod
    def parse(cls, text: str) -> Frame:
        """Parse a size, a frame name or an aspect ratio (see :mod:`captionkit._frames`).

        Args:
            text: ``"1536x1024"`` (``x``, ``X``, ``×`` or ``*``), a key of
                :data:`PRESETS`, or a ratio such as ``"16:9"`` (the frame the
                table of frames gives for it).

        Returns:
            The frame.

        Raises:
            ValueError: The text is not a size, or the size breaks a rule.

        >>> Frame.parse("1920×1088")
        Frame(width=1920, height=1088)
        >>> Frame.parse("banner")
        Frame(width=1600, height=400)
        >>> Frame.parse("16:9")
        Frame(width=1920, height=1088)
        """
        return cls(*_frames.parse_size(text))

    @classmethod
    def of(cls, value: Frame | str | Sequence[int]) -> Frame:
        """A frame from any spelling of a size: a frame, ``"WxH"``, a name, ``"W:H"``, a pair.

        >>> Frame.of("banner") == Frame.of((1600, 400)) == Frame.of("4:1") == Frame(1600, 400)
        True
        """
        return value if isinstance(value, cls) else cls(*_frames.parse_size(value))

    @property
    def aspect_ratio(self) -> str:
        """The reduced ratio ``"W:H"``.

        >>> Frame(1920, 1088).aspect_ratio
        '30:17'
        """
        g = math.gcd(self.width, self.height)
        return f"{self.width // g}:{self.height // g}"

    @property
    def image_tokens(self) -> int:
        """The number of image tokens the model sees: ``(W/16)·(H/16)``.

        >>> Frame(1024, 1024).image_tokens
        4096
        """
        return (self.width // 16) * (self.height // 16)

    @property
    def short_side(self) -> int:
        """The shorter side in pixels.

        >>> Frame(1600, 400).short_side
        400
        """
        return min(self.width, self.height)

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    # -- conversions -------------------------------------------------------

    def to_pixels(self, box: Box | BBox | Sequence[float]) -> tuple[int, int, int, int]:
        """Convert a 0-1000 box to pixel edges ``(top, left, bottom, right)``, rounded.

        >>> Frame(1536, 1024).to_pixels([250, 0, 750, 500])
        (256, 0, 768, 768)
        """
        b = Box.of(box)
        return (
            round(b.top * self.height / 1000),
            round(b.left * self.width / 1000),
            round(b.bottom * self.height / 1000),
            round(b.right * self.width / 1000),
        )

    def box_from_pixels(self, top: float, left: float, bottom: float, right: float) -> Box:
        """Make a box from pixel edges on this frame.

        >>> Frame(1536, 1024).box_from_pixels(256, 0, 768, 768).ints()
        (250, 0, 750, 500)
        """
        return Box(
            top * 1000 / self.height,
            left * 1000 / self.width,
            bottom * 1000 / self.height,
            right * 1000 / self.width,
        )

    def pixel_aspect(self, box: Box | BBox | Sequence[float]) -> float:
        """Width divided by height of ``box`` in pixels (1.0 is visually square).

        Raises:
            ValueError: The box has zero height.

        >>> Frame(1024, 1536).pixel_aspect([420, 350, 620, 650])
        1.0
        """
        b = Box.of(box)
        if b.height == 0:
            raise ValueError(f"box {b.ints()} has zero height, so it has no aspect")
        return (b.width * self.width) / (b.height * self.height)

    # -- constructors that need the frame ----------------------------------

    def square(self, center: tuple[float, float] = (500, 500), *, side_px: float) -> Box:
        """A box that is square in pixels on this frame.

        Args:
            center: ``(x, y)`` of the centre in 0-1000 units.
            side_px: The side in pixels.

        >>> Frame(1024, 1536).square((500, 520), side_px=307.2).ints()
        (420, 350, 620, 650)
        """
        cx, cy = center
        half_x = side_px / 2 * 1000 / self.width
        half_y = side_px / 2 * 1000 / self.height
        return Box(cy - half_y, cx - half_x, cy + half_y, cx + half_x)

    def circle(self, center: tuple[float, float] = (500, 500), *, diameter_px: float) -> Box:
        """The box around a circle: a pixel square whose side is the diameter.

        >>> Frame(1920, 1088).circle(diameter_px=544).ints()
        (250, 358, 750, 642)
        """
        return self.square(center, side_px=diameter_px)

    def anchor(
        self,
        where: Anchor | str,
        *,
        width_px: float,
        height_px: float,
        margin_px: float = 0,
    ) -> Box:
        """A box of a pixel size placed at a corner, an edge or the centre.

        Args:
            where: One of :data:`ANCHORS` (``"top-left"``, ``"top"``, ...,
                ``"center"``, ..., ``"bottom-right"``).
            width_px: Box width in pixels.
            height_px: Box height in pixels.
            margin_px: Distance from the frame's edges in pixels (ignored on
                the centred axis).

        >>> Frame(1024, 1024).anchor("bottom-right", width_px=256, height_px=128, margin_px=64).ints()
        (812, 688, 938, 938)
        """
        if where not in ANCHORS:
            raise ValueError(f"anchor {where!r} is not one of {', '.join(ANCHORS)}")
        vertical, horizontal = _ANCHOR_SIDES[where]
        if horizontal == "left":
            x0 = margin_px
        elif horizontal == "right":
            x0 = self.width - margin_px - width_px
        else:
            x0 = (self.width - width_px) / 2
        if vertical == "top":
            y0 = margin_px
        elif vertical == "bottom":
            y0 = self.height - margin_px - height_px
        else:
            y0 = (self.height - height_px) / 2
        return self.box_from_pixels(y0, x0, y0 + height_px, x0 + width_px)

    def grid(
        self,
        rows: int,
        cols: int,
        *,
        margin_px: float = 0,
        gutter_px: float = 0,
    ) -> list[Box]:
        """Cells of a grid with equal pixel margins and gutters, row by row.

        Args:
            rows: Number of rows.
            cols: Number of columns.
            margin_px: Space between the grid and the frame's edges, in pixels.
            gutter_px: Space between neighbouring cells, in pixels.

        >>> cells = Frame(1536, 1024).grid(2, 3, margin_px=64, gutter_px=32)
        >>> [c.ints() for c in cells[:2]]
        [(62, 42, 484, 333), (62, 354, 484, 646)]
        """
        return grid(
            rows,
            cols,
            margin=(margin_px * 1000 / self.height, margin_px * 1000 / self.width),
            gutter=(gutter_px * 1000 / self.height, gutter_px * 1000 / self.width),
        )


PRESETS: dict[str, Frame] = {name: Frame(row.width, row.height) for name, row in _frames.NAMED.items()}
"""The suggested official sizes by name (see ``render.md`` §5.1)."""

ASPECT_FRAMES: dict[str, Frame] = {f"{row.ratio[0]}:{row.ratio[1]}": Frame(row.width, row.height) for row in _frames.FRAMES}
"""Aspect ratio to frame: a view of the one table of frames, :data:`captionkit._frames.FRAMES`."""


def frame_for_aspect(aspect: str) -> Frame:
    """The frame to render an aspect ratio at (``render --aspect``, ``expand`` records).

    The ratio's row of :data:`captionkit._frames.FRAMES` when it has one (the
    official suggested sizes among them), else the frame with exactly that
    ratio, sides multiples of 16 within 256..2048 and area nearest 1024x1024
    (see :func:`captionkit._frames.size_for_ratio`). This is the one table and
    the one rule every command uses; ``21:9`` is 1568x672 (2048x768 is ``8:3``).

    Args:
        aspect: ``"W:H"`` (``"16:9"``); ``x`` and ``/`` also separate (``"4x5"``).

    Raises:
        ValueError: Not a ratio, beyond 6:1 either way, or no frame has exactly it.

    >>> frame_for_aspect("16:9"), frame_for_aspect("4:3"), frame_for_aspect("10:16")
    (Frame(width=1920, height=1088), Frame(width=1152, height=864), Frame(width=800, height=1280))
    >>> frame_for_aspect("100:1")
    Traceback (most recent call last):
    ...
    ValueError: aspect ratio 100:1: aspect ratio must be at most 6:1, got 100:1
    """
    w, h = _frames.ratio_terms(str(aspect).strip())
    if 0 in (w, h):
        raise ValueError(f"aspect ratio {aspect!r}: expected W:H such as 16:9")
    try:
        return Frame(*_frames.size_for_ratio(w, h))
    except ValueError as exc:
        raise ValueError(f"aspect ratio {w}:{h}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Box:
    """A box in the caption's 0-1000 space, kept as floats until snapped.

    Edges are named like the caption's ``[y_min, x_min, y_max, x_max]``. The
    constructor checks the edges are finite, in 0..1000 and not reversed.

    Args:
        top: ``y_min``.
        left: ``x_min``.
        bottom: ``y_max``.
        right: ``x_max``.

    >>> Box(100, 200, 300, 600).snap()
    BBox(top=100, left=200, bottom=300, right=600)
    >>> Box(300, 0, 100, 10)
    Traceback (most recent call last):
    ...
    ValueError: box [300, 0, 100, 10]: top (300) is below bottom (100)
    """

    top: float
    left: float
    bottom: float
    right: float

    def __post_init__(self) -> None:
        values = (self.top, self.left, self.bottom, self.right)
        shown = "[" + ", ".join(_fmt(v) if isinstance(v, (int, float)) else repr(v) for v in values) + "]"
        for name, value in zip(("top", "left", "bottom", "right"), values):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"box {shown}: {name} must be a finite number, got {value!r}")
            if not -_EPS <= value <= 1000 + _EPS:
                raise ValueError(f"box {shown}: {name} must be in 0..1000, got {_fmt(value)}")
            object.__setattr__(self, name, min(1000.0, max(0.0, float(value))))
        if self.top > self.bottom + _EPS:
            raise ValueError(f"box {shown}: top ({_fmt(self.top)}) is below bottom ({_fmt(self.bottom)})")
        if self.left > self.right + _EPS:
            raise ValueError(f"box {shown}: left ({_fmt(self.left)}) is right of right ({_fmt(self.right)})")

    # -- constructors ------------------------------------------------------

    @classmethod
    def of(cls, value: Box | BBox | Iterable[float]) -> Box:
        """Coerce a :class:`Box`, a model ``BBox`` or four numbers ``[y0, x0, y1, x1]``.

        >>> Box.of([10, 20, 30, 40])
        Box(top=10.0, left=20.0, bottom=30.0, right=40.0)
        """
        if isinstance(value, Box):
            return value
        if isinstance(value, (str, bytes)):
            raise ValueError(f"box must be four numbers [y_min, x_min, y_max, x_max], got {value!r}")
        try:
            items = list(value)
        except TypeError:
            raise ValueError(
                f"box must be four numbers [y_min, x_min, y_max, x_max], got {value!r}"
            ) from None
        if len(items) != 4:
            raise ValueError(
                f"box must be four numbers [y_min, x_min, y_max, x_max], got {len(items)} values"
            )
        return cls(*items)

    @classmethod
    def full(cls) -> Box:
        """The whole frame.

        >>> Box.full().ints()
        (0, 0, 1000, 1000)
        """
        return cls(0, 0, 1000, 1000)

    @classmethod
    def from_unit(cls, top: float, left: float, bottom: float, right: float) -> Box:
        """Make a box from fractions 0..1 of each axis.

        >>> Box.from_unit(0.12, 0.3, 0.5, 0.9).ints()
        (120, 300, 500, 900)
        """
        return cls(top * 1000, left * 1000, bottom * 1000, right * 1000)

    @classmethod
    def from_xyxy(
        cls, x1: float, y1: float, x2: float, y2: float, *, frame: Frame | str | tuple[int, int] | None = None
    ) -> Box:
        """Make a box from ``[x1, y1, x2, y2]`` (detector and Qwen-VL order).

        Args:
            x1: Left edge.
            y1: Top edge.
            x2: Right edge.
            y2: Bottom edge.
            frame: When given, the values are pixels on it; otherwise 0-1000 units.

        >>> Box.from_xyxy(300, 100, 600, 400).ints()
        (100, 300, 400, 600)
        >>> Box.from_xyxy(384, 256, 768, 512, frame=Frame(1536, 1024)).ints()
        (250, 250, 500, 500)
        """
        if frame is not None:
            return Frame.of(frame).box_from_pixels(y1, x1, y2, x2)
        return cls(y1, x1, y2, x2)

    @classmethod
    def from_xywh(
        cls, x: float, y: float, w: float, h: float, *, frame: Frame | str | tuple[int, int] | None = None
    ) -> Box:
        """Make a box from ``[x, y, width, height]``.

        Args:
            x: Left edge.
            y: Top edge.
            w: Width.
            h: Height.
            frame: When given, the values are pixels on it; otherwise 0-1000 units.

        >>> Box.from_xywh(100, 50, 200, 300).ints()
        (50, 100, 350, 300)
        """
        return cls.from_xyxy(x, y, x + w, y + h, frame=frame)

    @classmethod
    def around(cls, center: tuple[float, float], width: float, height: float) -> Box:
        """A box of a size in 0-1000 units centred on ``(x, y)``.

        >>> Box.around((500, 500), 200, 100).ints()
        (450, 400, 550, 600)
        """
        cx, cy = center
        return cls(cy - height / 2, cx - width / 2, cy + height / 2, cx + width / 2)

    # -- views -------------------------------------------------------------

    def __iter__(self) -> Iterator[float]:
        return iter((self.top, self.left, self.bottom, self.right))

    @property
    def width(self) -> float:
        """The x-span in 0-1000 units.

        >>> Box(0, 100, 10, 350).width
        250.0
        """
        return self.right - self.left

    @property
    def height(self) -> float:
        """The y-span in 0-1000 units.

        >>> Box(100, 0, 350, 10).height
        250.0
        """
        return self.bottom - self.top

    @property
    def area(self) -> float:
        """Width times height in 0-1000 units (1,000,000 is the whole frame).

        >>> Box(0, 0, 500, 500).area
        250000.0
        """
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        """The centre ``(x, y)``.

        >>> Box(0, 0, 500, 1000).center
        (500.0, 250.0)
        """
        return ((self.left + self.right) / 2, (self.top + self.bottom) / 2)

    def ints(self) -> tuple[int, int, int, int]:
        """The edges rounded to integers, in caption order.

        Python rounding (halves go to the even integer, as in the spec's
        ``round(1000·px/W)``); it is monotonic, so a valid box stays valid.

        >>> Box(0.4, 10.5, 99.5, 333.333).ints()
        (0, 10, 100, 333)
        """
        return (round(self.top), round(self.left), round(self.bottom), round(self.right))

    def snap(self) -> BBox:
        """Round to the caption's integer :class:`~captionkit.models.BBox`.

        >>> Box(100.4, 0, 899.6, 1000).snap()
        BBox(top=100, left=0, bottom=900, right=1000)
        """
        return BBox.of(list(self.ints()))

    def to_xyxy(self) -> tuple[float, float, float, float]:
        """``(x1, y1, x2, y2)`` in 0-1000 units.

        >>> Box(1, 2, 3, 4).to_xyxy()
        (2.0, 1.0, 4.0, 3.0)
        """
        return (self.left, self.top, self.right, self.bottom)

    def to_xywh(self) -> tuple[float, float, float, float]:
        """``(x, y, width, height)`` in 0-1000 units.

        >>> Box(10, 20, 50, 100).to_xywh()
        (20.0, 10.0, 80.0, 40.0)
        """
        return (self.left, self.top, self.width, self.height)

    def to_unit(self) -> tuple[float, float, float, float]:
        """Edges as fractions 0..1 in caption order.

        >>> Box(250, 0, 500, 1000).to_unit()
        (0.25, 0.0, 0.5, 1.0)
        """
        return (self.top / 1000, self.left / 1000, self.bottom / 1000, self.right / 1000)

    # -- geometry ----------------------------------------------------------

    def intersection(self, other: Box | BBox | Sequence[float]) -> Box | None:
        """The overlapping region, or ``None`` when the boxes do not overlap.

        Boxes that only touch along an edge give a zero-area box.

        >>> Box(0, 0, 500, 500).intersection([250, 250, 750, 750])
        Box(top=250.0, left=250.0, bottom=500.0, right=500.0)
        >>> Box(0, 0, 100, 100).intersection([200, 200, 300, 300]) is None
        True
        """
        o = Box.of(other)
        top, left = max(self.top, o.top), max(self.left, o.left)
        bottom, right = min(self.bottom, o.bottom), min(self.right, o.right)
        if top > bottom or left > right:
            return None
        return Box(top, left, bottom, right)

    def overlap_area(self, other: Box | BBox | Sequence[float]) -> float:
        """Area of the intersection (0.0 when disjoint).

        >>> Box(0, 0, 500, 500).overlap_area([250, 250, 750, 750])
        62500.0
        """
        inter = self.intersection(other)
        return 0.0 if inter is None else inter.area

    def overlaps(self, other: Box | BBox | Sequence[float]) -> bool:
        """Whether the boxes share a region of positive area (touching is not overlapping).

        >>> Box(0, 0, 500, 500).overlaps([500, 0, 1000, 500])
        False
        """
        return self.overlap_area(other) > 0

    def iou(self, other: Box | BBox | Sequence[float]) -> float:
        """Intersection over union, 0.0..1.0 (0.0 when both boxes have zero area).

        >>> round(Box(0, 0, 500, 500).iou([250, 250, 750, 750]), 4)
        0.1429
        """
        o = Box.of(other)
        inter = self.overlap_area(o)
        union = self.area + o.area - inter
        return inter / union if union > 0 else 0.0

    def contains(self, other: Box | BBox | Sequence[float]) -> bool:
        """Whether ``other`` lies entirely inside this box (edges may coincide).

        >>> Box(0, 0, 1000, 1000).contains([10, 10, 20, 20])
        True
        >>> Box(100, 100, 200, 200).contains([150, 150, 250, 250])
        False
        """
        o = Box.of(other)
        return (
            self.top <= o.top and self.left <= o.left and o.bottom <= self.bottom and o.right <= self.right
        )

    def contains_point(self, x: float, y: float) -> bool:
        """Whether the point ``(x, y)`` lies inside or on the edge.

        >>> Box(0, 0, 500, 500).contains_point(250, 499)
        True
        """
        return self.left <= x <= self.right and self.top <= y <= self.bottom

    def union(self, other: Box | BBox | Sequence[float]) -> Box:
        """The smallest box around both.

        >>> Box(0, 0, 100, 100).union([200, 300, 400, 500])
        Box(top=0.0, left=0.0, bottom=400.0, right=500.0)
        """
        o = Box.of(other)
        return Box(
            min(self.top, o.top), min(self.left, o.left), max(self.bottom, o.bottom), max(self.right, o.right)
        )

    def inset(self, dy: float, dx: float | None = None) -> Box:
        """Shrink by ``dy`` at top and bottom and ``dx`` (default ``dy``) at the sides.

        Negative values grow the box; it may not leave 0..1000.

        >>> Box(0, 0, 1000, 1000).inset(100, 50).ints()
        (100, 50, 900, 950)
        """
        dx = dy if dx is None else dx
        return Box(self.top + dy, self.left + dx, self.bottom - dy, self.right - dx)

    def split_rows(self, n: int, *, gutter: float = 0) -> list[Box]:
        """Split into ``n`` stacked boxes separated by ``gutter`` (0-1000 units).

        >>> [b.ints() for b in Box(0, 0, 300, 1000).split_rows(3)]
        [(0, 0, 100, 1000), (100, 0, 200, 1000), (200, 0, 300, 1000)]
        """
        return [Box(c.top, self.left, c.bottom, self.right) for c in _cells(self, n, 1, 0, 0, gutter, 0)]

    def split_cols(self, n: int, *, gutter: float = 0) -> list[Box]:
        """Split into ``n`` side-by-side boxes separated by ``gutter`` (0-1000 units).

        >>> [b.ints() for b in Box(0, 0, 1000, 500).split_cols(2)]
        [(0, 0, 1000, 250), (0, 250, 1000, 500)]
        """
        return _cells(self, 1, n, 0, 0, 0, gutter)

    def __repr__(self) -> str:
        return f"Box(top={self.top!r}, left={self.left!r}, bottom={self.bottom!r}, right={self.right!r})"


def _pair(value: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, tuple):
        return value
    return (value, value)


def _cells(
    area: Box, rows: int, cols: int, margin_y: float, margin_x: float, gutter_y: float, gutter_x: float
) -> list[Box]:
    if rows < 1 or cols < 1:
        raise ValueError(f"a grid needs at least one row and one column, got {rows}x{cols}")
    inner_h = area.height - 2 * margin_y - (rows - 1) * gutter_y
    inner_w = area.width - 2 * margin_x - (cols - 1) * gutter_x
    if inner_h < 0 or inner_w < 0:
        raise ValueError(f"margins and gutters leave no room for a {rows}x{cols} grid")
    cell_h, cell_w = inner_h / rows, inner_w / cols
    cells = []
    for r in range(rows):
        top = area.top + margin_y + r * (cell_h + gutter_y)
        for c in range(cols):
            left = area.left + margin_x + c * (cell_w + gutter_x)
            cells.append(Box(top, left, top + cell_h, left + cell_w))
    return cells


def grid(
    rows: int,
    cols: int,
    *,
    margin: float | tuple[float, float] = 0,
    gutter: float | tuple[float, float] = 0,
    within: Box | BBox | Sequence[float] | None = None,
) -> list[Box]:
    """Cells of a grid in 0-1000 units, row by row.

    For margins that look equal on screen use :meth:`Frame.grid` (pixels).

    Args:
        rows: Number of rows.
        cols: Number of columns.
        margin: Space around the grid, or ``(vertical, horizontal)``.
        gutter: Space between cells, or ``(vertical, horizontal)``.
        within: Lay the grid out inside this box (default: the whole frame).

    Raises:
        ValueError: Fewer than one row or column, or no room left.

    >>> [c.ints() for c in grid(2, 2, margin=100, gutter=50)]
    [(100, 100, 475, 475), (100, 525, 475, 900), (525, 100, 900, 475), (525, 525, 900, 900)]
    """
    my, mx = _pair(margin)
    gy, gx = _pair(gutter)
    area = Box.full() if within is None else Box.of(within)
    return _cells(area, rows, cols, my, mx, gy, gx)


def thirds() -> tuple[tuple[float, float], ...]:
    """The four rule-of-thirds points ``(x, y)``: top-left, top-right, bottom-left, bottom-right.

    They are the same on every frame because each axis is normalised.

    >>> [(round(x), round(y)) for x, y in thirds()]
    [(333, 333), (667, 333), (333, 667), (667, 667)]
    """
    a, b = 1000 / 3, 2000 / 3
    return ((a, a), (b, a), (a, b), (b, b))


