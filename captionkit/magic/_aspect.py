"""Aspect ratios: parsing ``W:H`` / ``WxH`` / frame sizes / ``auto`` and snapping to the hosted enum."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from captionkit import _frames

# The hosted endpoint's accepted buckets, width first (data, not code: edit here if Ideogram adds some).
HOSTED_BUCKETS: tuple[str, ...] = (
    "1x4", "1x3", "1x2", "9x16", "10x16", "2x3", "3x4", "4x5", "1x1",
    "5x4", "4x3", "3x2", "16x10", "16x9", "2x1", "3x1", "4x1",
)  # fmt: skip

#: Relative error above which a snapped ratio is worth a warning.
SNAP_WARN_THRESHOLD = 0.03


@dataclass(frozen=True, slots=True)
class AspectRatio:
    """A requested aspect ratio and what is sent for it.

    Attributes:
        requested: The input as given, normalised (``"7:4"`` or ``"auto"``).
        ratio: The ratio sent, as ``"W:H"`` in lowest terms, or ``"auto"``.
        wire: The value for the wire: ``"16x9"``/``"AUTO"`` on the hosted API, ``"W:H"`` for LLMs.
        error: Relative error of the snap, ``|r_sent / r_requested - 1|`` (0.0 when not snapped).
    """

    requested: str
    ratio: str
    wire: str
    error: float = 0.0

    @property
    def is_auto(self) -> bool:
        """True when the backend chooses the ratio."""
        return self.ratio == "auto"

    @property
    def snapped(self) -> bool:
        """True when the ratio sent differs from the one requested."""
        return self.ratio != self.requested

    @property
    def warning(self) -> str | None:
        """A one-line warning when the snap moved the ratio by more than 3%."""
        if self.error > SNAP_WARN_THRESHOLD:
            return (
                f"aspect {self.requested} snapped to {self.ratio} "
                f"({self.error:.1%} off; the hosted endpoint accepts only fixed buckets)"
            )
        return None


def parse_aspect(value: Any) -> tuple[int, int] | None:
    """Parse an aspect ratio into ``(width, height)`` in lowest terms, or ``None`` for ``auto``.

    Accepts ``"W:H"``, ``"WxH"`` (so ``"1536x1024"`` frame sizes too), a frame name such as
    ``"banner"``, ``"auto"`` in any case, a ``(width, height)`` pair, or any object with integer
    ``width`` and ``height`` attributes (such as :class:`captionkit.layout.Frame`). This is the
    one ratio parser of :mod:`captionkit._frames`.

    Raises:
        ValueError: With a one-line message when the value is not a ratio.

    >>> parse_aspect("1536x1024")
    (3, 2)
    >>> parse_aspect("16:9")
    (16, 9)
    >>> parse_aspect("AUTO") is None
    True
    """
    return _frames.parse_ratio(value)


def snap_to_bucket(width: int, height: int, buckets: tuple[str, ...] = HOSTED_BUCKETS) -> str:
    """Return the hosted bucket (``"16x9"``) nearest to ``width:height`` on a log scale.

    Ratios beyond the ends of the enum snap to the end buckets.

    >>> snap_to_bucket(7, 4)
    '16x9'
    >>> snap_to_bucket(6, 1)
    '4x1'
    >>> snap_to_bucket(2, 3)
    '2x3'
    """
    target = math.log(width / height)

    def distance(bucket: str) -> float:
        bw, bh = (int(p) for p in bucket.split("x"))
        return abs(target - math.log(bw / bh))

    return min(buckets, key=distance)


def resolve_aspect(value: Any = "auto", *, snap: bool) -> AspectRatio:
    """Resolve a user's aspect ratio for a backend.

    Args:
        value: ``"W:H"``, ``"WxH"``, a frame size, ``"auto"`` or a frame object.
        snap: Snap to the hosted endpoint's buckets (``True`` for ``ideogram-4-v1``).

    >>> resolve_aspect("1344x768", snap=True)
    AspectRatio(requested='7:4', ratio='16:9', wire='16x9', error=0.015873015873015817)
    >>> resolve_aspect("1536x1024", snap=False).wire
    '3:2'
    >>> resolve_aspect("auto", snap=True).wire
    'AUTO'
    """
    parsed = parse_aspect(value)
    if parsed is None:
        return AspectRatio("auto", "auto", "AUTO" if snap else "auto")
    width, height = parsed
    requested = f"{width}:{height}"
    if not snap:
        return AspectRatio(requested, requested, requested)
    bucket = snap_to_bucket(width, height)
    bw, bh = (int(p) for p in bucket.split("x"))
    error = abs((bw / bh) / (width / height) - 1.0)
    return AspectRatio(requested, f"{bw}:{bh}", bucket, error)


def ratio_from_wire(value: Any) -> str | None:
    """Turn a backend's echoed ratio (``"16x9"``, ``"16:9"``, ``"AUTO"``) into ``"W:H"``.

    Returns ``None`` when the value is missing, ``auto`` or not a ratio.

    >>> ratio_from_wire("16x9")
    '16:9'
    >>> ratio_from_wire("AUTO") is None
    True
    """
    if not isinstance(value, str):
        return None
    try:
        parsed = parse_aspect(value)
    except ValueError:
        return None
    if parsed is None:
        return None
    try:
        terms = _frames.ratio_terms(value.strip())
    except ValueError:  # a frame name: its ratio, reduced
        return f"{parsed[0]}:{parsed[1]}"
    if f"{terms[0]}x{terms[1]}" in HOSTED_BUCKETS:  # keep a bucket's own terms: 10:16, not 5:8
        return f"{terms[0]}:{terms[1]}"
    return f"{parsed[0]}:{parsed[1]}"
