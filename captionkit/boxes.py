"""Box conventions: the orders and scales boxes come in, and exact conversion to the caption's.

A caption box is ``[y_min, x_min, y_max, x_max]`` on 0-1000 per axis. Boxes
from detectors, LLMs and editors come in other conventions, and each one is
named by its **order** and its **scale**:

* order ``yxyx`` (the caption's), ``xyxy`` (``[x1, y1, x2, y2]``, detector and
  Qwen-VL order) or ``xywh`` (``[x, y, width, height]``);
* scale ``1000`` (the caption's), ``unit`` (fractions 0-1) or ``pixels`` (on a
  frame of W x H pixels, which must be given).

A convention is written ``ORDER-SCALE`` (``xyxy-pixels``). A bare order keeps
its values' scale from the context: pixels when a frame is given, else 0-1000;
the old names ``pixels`` and ``unit`` mean ``yxyx-pixels`` and ``yxyx-unit``.

**Exact conversion, one rounding rule.** Each value is turned into an exact
fraction (a float by its shortest decimal form, so ``0.1235`` is 1235/10000),
scaled exactly (``1000·x/W``, ``1000·y/H`` or ``1000·f``), and rounded once to
the nearest integer, halves to the even neighbour (Python's ``round``; the
spec's ``round(1000·px/W)``). Rounding is monotonic, so a box with ordered
edges stays ordered.

**Refusals.** A value that cannot belong to the declared convention is refused
with a :class:`BoxConventionError` naming the box and the reason: a pixel beyond
the frame, a unit value above 1, a 0-1000 value above 1000, ``x + w`` past the
edge, reversed edges, a negative value, or something that is not a number.

**Detection** (``auto``) looks at every box of a caption and acts only when
exactly one convention fits all of them; it says which. Otherwise it refuses
and lists the conventions that fit.

A worked example on a 1536x1024 frame: the detector box ``[300, 200, 1200, 900]``
in ``xyxy`` pixels has x from 300 to 1200 of 1536 and y from 200 to 900 of 1024;
``1000·300/1536 = 195.3``, ``1000·200/1024 = 195.3``, ``1000·1200/1536 = 781.25``
and ``1000·900/1024 = 878.9`` give ``[195, 195, 879, 781]`` in caption order.

>>> convert([300, 200, 1200, 900], "xyxy-pixels", frame=(1536, 1024))
[195, 195, 879, 781]
>>> convert([300, 200, 1200, 900], "pixels", frame=(1536, 1024))
Traceback (most recent call last):
...
captionkit.boxes.BoxConventionError: box [300, 200, 1200, 900] is not yxyx pixels on 1536x1024: y_max 1200 is beyond the frame height 1024
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from captionkit._errors import CaptionkitError
from captionkit._frames import frame_size

__all__ = [
    "CONVENTIONS",
    "BoxConvention",
    "BoxConventionError",
    "convert",
    "detect",
    "fits",
    "parse_convention",
]

Order = Literal["yxyx", "xyxy", "xywh"]
Scale = Literal["1000", "unit", "pixels"]

_ORDERS: tuple[Order, ...] = ("yxyx", "xyxy", "xywh")
_SCALES: tuple[Scale, ...] = ("1000", "unit", "pixels")
_SCALE_WORDS = {"1000": "0-1000", "unit": "0-1 units", "pixels": "pixels"}
_NAMES = {
    "yxyx": ("y_min", "x_min", "y_max", "x_max"),
    "xyxy": ("x_min", "y_min", "x_max", "y_max"),
    "xywh": ("x", "y", "width", "height"),
}


class BoxConventionError(CaptionkitError, ValueError):
    """A box cannot be read in a convention; the message names the box and the reason."""


@dataclass(frozen=True, slots=True)
class BoxConvention:
    """An order and a scale.

    >>> BoxConvention("xyxy", "pixels").name
    'xyxy-pixels'
    >>> str(BoxConvention("xywh", "unit"))
    'xywh 0-1 units'
    """

    order: Order
    scale: Scale

    @property
    def name(self) -> str:
        """``ORDER-SCALE``, the spelling :func:`parse_convention` reads."""
        return f"{self.order}-{self.scale}"

    def describe(self, frame: tuple[int, int] | None = None) -> str:
        """Plain words, with the frame for pixels: ``xyxy pixels on 1536x1024``."""
        words = f"{self.order} {_SCALE_WORDS[self.scale]}"
        if self.scale == "pixels" and frame is not None:
            words += f" on {frame[0]}x{frame[1]}"
        return words

    def __str__(self) -> str:
        return self.describe()


CONVENTIONS: tuple[BoxConvention, ...] = tuple(BoxConvention(o, s) for s in _SCALES for o in _ORDERS)
"""Every convention; the caption's own (``yxyx-1000``) first."""


def parse_convention(text: str, *, frame: Any = None) -> BoxConvention | Literal["auto"]:
    """Read a convention name: ``ORDER-SCALE``, a bare order, ``pixels``, ``unit`` or ``auto``.

    A bare order means pixels when ``frame`` is given, else 0-1000.

    Raises:
        BoxConventionError: an unknown name, or pixels without a frame.

    >>> parse_convention("xyxy", frame=(1536, 1024)).name, parse_convention("xyxy").name
    ('xyxy-pixels', 'xyxy-1000')
    >>> parse_convention("unit").name, parse_convention("xywh/unit").name
    ('yxyx-unit', 'xywh-unit')
    """
    raw = str(text).strip().lower().replace("/", "-").replace("_", "-").replace(" ", "-")
    if raw == "auto":
        return "auto"
    if raw in ("pixels", "pixel", "px"):
        order, scale = "yxyx", "pixels"
    elif raw == "unit":
        order, scale = "yxyx", "unit"
    else:
        order, _, scale = raw.partition("-")
        scale = {"": "pixels" if frame is not None else "1000", "px": "pixels", "pixel": "pixels",
                 "0-1000": "1000", "0-1": "unit", "units": "unit"}.get(scale, scale)
    if order not in _ORDERS or scale not in _SCALES:
        names = ", ".join(c.name for c in CONVENTIONS)
        raise BoxConventionError(f"unknown box convention {text!r}; use auto or one of {names} (or xyxy, xywh, pixels, unit)")
    convention = BoxConvention(order, scale)  # type: ignore[arg-type]
    if scale == "pixels" and frame is None:
        raise BoxConventionError(f"box convention {convention.name} needs the frame size (--size WxH, frame=(W, H))")
    return convention


def _exact(value: Any) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{value!r} is not a number")
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{value!r} is not a finite number")
        return Fraction(repr(value))  # the decimal the value was written as
    return Fraction(value)


def _show(box: Sequence[Any]) -> str:
    return "[" + ", ".join(repr(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else f"{v:g}"
                           if isinstance(v, float) else str(v) for v in box) + "]"


def _frame(frame: Any) -> tuple[int, int] | None:
    if frame is None:
        return None
    w, h = frame_size(frame)  # type: ignore[misc]
    if w <= 0 or h <= 0:
        raise BoxConventionError(f"frame {w}x{h}: width and height must be positive")
    return w, h


def _reason(box: Sequence[Any], convention: BoxConvention, size: tuple[int, int] | None) -> str | tuple[Fraction, ...]:
    """The caption box as exact 0-1000 fractions (y0, x0, y1, x1), or why ``box`` is not in ``convention``."""
    if isinstance(box, (str, bytes)) or not isinstance(box, Sequence) or len(box) != 4:
        return "a box needs four numbers"
    names = _NAMES[convention.order]
    values = []
    for name, v in zip(names, box):
        try:
            values.append(_exact(v))
        except TypeError as exc:
            return f"{name} {exc}"
    for name, v in zip(names, values):
        if v < 0:
            return f"{name} {_num(v)} is negative"
    a, b, c, d = values
    if convention.order == "yxyx":
        y0, x0, y1, x1 = a, b, c, d
    elif convention.order == "xyxy":
        x0, y0, x1, y1 = a, b, c, d
    else:
        x0, y0, x1, y1 = a, b, a + c, b + d
    if convention.scale == "pixels":
        assert size is not None
        w, h = size
        limits = {"x": (w, "frame width"), "y": (h, "frame height")}
    elif convention.scale == "unit":
        limits = {"x": (1, "unit range (at most 1)"), "y": (1, "unit range (at most 1)")}
    else:
        limits = {"x": (1000, "0-1000 range"), "y": (1000, "0-1000 range")}
    edges = {"y_min": y0, "x_min": x0, "y_max": y1, "x_max": x1}
    if convention.order == "xywh":
        for axis, start, span, edge in (("x", "x", "width", x1), ("y", "y", "height", y1)):
            limit, what = limits[axis]
            if edge > limit:
                beyond = "is above 1" if convention.scale == "unit" else f"is beyond the {what} {limit}"
                return f"{start} + {span} = {_num(edge)} {beyond}"
    for edge, v in edges.items():
        limit, what = limits[edge[0]]
        if v > limit:
            return f"{edge} {_num(v)} is beyond the {what} {limit}" if convention.scale != "unit" \
                else f"{edge} {_num(v)} is above 1"
    if y0 > y1:
        return f"y_min {_num(y0)} is below y_max {_num(y1)} (reversed edges)"
    if x0 > x1:
        return f"x_min {_num(x0)} is right of x_max {_num(x1)} (reversed edges)"
    if convention.scale == "pixels":
        w, h = size  # type: ignore[misc]
        return (y0 * 1000 / h, x0 * 1000 / w, y1 * 1000 / h, x1 * 1000 / w)
    if convention.scale == "unit":
        return (y0 * 1000, x0 * 1000, y1 * 1000, x1 * 1000)
    return (y0, x0, y1, x1)


def _num(value: Fraction) -> str:
    if value.denominator == 1:
        text = str(value.numerator)
    else:
        try:
            return f"{float(value):g}"
        except OverflowError:  # beyond a float: say how big, not every digit
            text = str(value.numerator // value.denominator)
    return text if len(text) <= 24 else f"{text[:12]}…({len(text)} digits)"


def fits(box: Sequence[Any], convention: BoxConvention | str, *, frame: Any = None) -> bool:
    """Whether ``box`` can be read in ``convention`` (pixels need ``frame``).

    >>> fits([300, 200, 1200, 900], "xyxy-pixels", frame=(1536, 1024)), fits([300, 200, 1200, 900], "yxyx-1000")
    (True, False)
    """
    conv = convention if isinstance(convention, BoxConvention) else parse_convention(convention, frame=frame)
    if conv == "auto":
        raise BoxConventionError("fits() needs a convention, not auto")
    if conv.scale == "pixels" and frame is None:
        return False
    return not isinstance(_reason(box, conv, _frame(frame)), str)


def convert(box: Sequence[Any], convention: BoxConvention | str, *, frame: Any = None) -> list[int]:
    """Convert one box to the caption's ``[y_min, x_min, y_max, x_max]`` on 0-1000.

    Args:
        box: Four numbers in ``convention``.
        convention: A :class:`BoxConvention` or a name (see :func:`parse_convention`).
        frame: ``(width, height)``, ``"WxH"`` or a ``Frame``; needed for pixels.

    Raises:
        BoxConventionError: the box cannot be in that convention (the message
            names the box and the reason).

    >>> convert([0.12, 0.3, 0.5, 0.9], "unit")
    [120, 300, 500, 900]
    >>> convert([100, 50, 200, 300], "xywh-1000")
    [50, 100, 350, 300]
    >>> convert([300, 200, 900, 800], "unit")
    Traceback (most recent call last):
    ...
    captionkit.boxes.BoxConventionError: box [300, 200, 900, 800] is not yxyx 0-1 units: y_min 300 is above 1
    """
    conv = convention if isinstance(convention, BoxConvention) else parse_convention(convention, frame=frame)
    if conv == "auto":
        raise BoxConventionError("convert() needs a convention; use detect() for auto")
    size = _frame(frame)
    if conv.scale == "pixels" and size is None:
        raise BoxConventionError(f"box convention {conv.name} needs the frame size (--size WxH, frame=(W, H))")
    result = _reason(box, conv, size)
    if isinstance(result, str):
        raise BoxConventionError(f"box {_show(box)} is not {conv.describe(size)}: {result}")
    return [round(v) for v in result]  # round() of a Fraction: nearest, halves to even


def detect(boxes: Sequence[Sequence[Any]], *, frame: Any = None) -> BoxConvention:
    """The one convention every box fits (pixels are considered only with a frame).

    Raises:
        BoxConventionError: no convention, or more than one, fits every box; the
            message lists those that fit.

    >>> detect([[300, 200, 1200, 900]], frame=(1536, 1024)).name
    'xyxy-pixels'
    >>> detect([[100, 200, 300, 400]])
    Traceback (most recent call last):
    ...
    captionkit.boxes.BoxConventionError: cannot tell the box convention: yxyx 0-1000, xyxy 0-1000 and xywh 0-1000 all fit every box; declare one
    """
    size = _frame(frame)
    candidates = [c for c in CONVENTIONS if c.scale != "pixels" or size is not None]
    if not boxes:
        raise BoxConventionError("cannot tell the box convention: the caption has no boxes")
    matching = [c for c in candidates if all(not isinstance(_reason(b, c, size), str) for b in boxes)]
    if len(matching) == 1:
        return matching[0]
    if not matching:
        raise BoxConventionError(
            f"cannot tell the box convention: no convention fits every box (for instance {_show(boxes[0])})"
            + ("" if size is not None else "; pixel boxes need the frame size")
        )
    names = [c.describe(size) for c in matching]
    listed = ", ".join(names[:-1]) + f" and {names[-1]}"
    raise BoxConventionError(f"cannot tell the box convention: {listed} all fit every box; declare one")
