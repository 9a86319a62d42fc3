"""Palette toolkit: colour names and notations to ``#RRGGBB``, limits, palettes from images.

Captions accept only uppercase ``#RRGGBB`` entries, at most 16 in
``style_description.color_palette`` and 5 per element. This module turns the
notations people actually write into that form, enforces the limits with an
explicit report of what was dropped, and reads a palette off an image (or a
box region of one), ordered by coverage, with near-duplicates merged by a
perceptual distance (CIE76 ΔE in CIELAB).

>>> to_hex("navy"), to_hex("#abc"), to_hex("rgb(255, 0, 128)")
('#000080', '#AABBCC', '#FF0080')
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from captionkit import _spec
from captionkit.layout import Box

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from captionkit.models import BBox

__all__ = [
    "ELEMENT_LIMIT",
    "GLOBAL_LIMIT",
    "PaletteFit",
    "Swatch",
    "color_names",
    "delta_e",
    "extract_palette",
    "fit_palette",
    "normalize_palette",
    "to_hex",
    "to_lab",
]

GLOBAL_LIMIT = _spec.STYLE_PALETTE_MAX
"""At most this many colours in ``style_description.color_palette``."""

ELEMENT_LIMIT = _spec.ELEMENT_PALETTE_MAX
"""At most this many colours in an element's ``color_palette``."""

_HEX6 = re.compile(r"#?([0-9a-fA-F]{6})")
_UPPER_HEX_DIGITS = _spec.HEX_DIGITS
_HEX3 = re.compile(r"#([0-9a-fA-F]{3})")
_HEX0X = re.compile(r"0x([0-9a-fA-F]{6})")
_FUNC = re.compile(r"(rgb|hsl|hsv|hsb)a?\(.*\)", re.IGNORECASE)

Colorish = Any  # str (any notation) or an (r, g, b) tuple of ints 0..255


def color_names() -> dict[str, str]:
    """All known colour names (the CSS Color Module / X11 set) with their ``#RRGGBB``.

    >>> color_names()["rebeccapurple"]
    '#663399'
    """
    from PIL import ImageColor

    names: dict[str, str] = {}
    for name, value in ImageColor.colormap.items():
        # pillow replaces a name's entry with an (r, g, b) tuple once it has been looked up
        if isinstance(value, tuple):
            names[name] = "#{:02X}{:02X}{:02X}".format(*value[:3])
        elif isinstance(value, str) and value.startswith("#") and len(value) == 7:
            names[name] = value.upper()
    return names


def _name_key(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text).lower()


def to_hex(value: Colorish) -> str:
    """Normalise one colour to uppercase ``#RRGGBB``.

    Accepts ``#RRGGBB`` or ``RRGGBB`` in any case, ``#RGB``, ``0xRRGGBB``,
    CSS functions (``rgb()``, ``hsl()``, ``hsv()``), CSS/X11 names (case,
    spaces, hyphens and underscores ignored: ``"Dark Slate Blue"``) and
    ``(r, g, b)`` tuples of ints 0..255.

    Raises:
        ValueError: A one-line message naming the value, with the closest
            colour name when there is one.

    >>> to_hex("Dark Slate Blue"), to_hex("1b1b2f"), to_hex((27, 27, 47))
    ('#483D8B', '#1B1B2F', '#1B1B2F')
    >>> to_hex("navyy")
    Traceback (most recent call last):
    ...
    ValueError: 'navyy' is not a colour (did you mean 'navy'?); use #RRGGBB, #RGB, rgb(r, g, b) or a CSS colour name
    """
    if type(value) is str and len(value) == 7 and value[0] == "#" and not value[1:].strip(_UPPER_HEX_DIGITS):
        return value  # already uppercase #RRGGBB: the answer the patterns below give, without them
    if isinstance(value, (tuple, list)) and len(value) in (3, 4):
        rgb = tuple(value[:3])
        if all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in rgb):
            return "#{:02X}{:02X}{:02X}".format(*rgb)
        raise ValueError(f"{tuple(value)!r} is not a colour: an (r, g, b) tuple needs ints 0..255")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a colour; use #RRGGBB, #RGB, rgb(r, g, b) or a CSS colour name")
    text = value.strip()
    for pattern in (_HEX6, _HEX0X):
        match = pattern.fullmatch(text)
        if match:
            return "#" + match.group(1).upper()
    match = _HEX3.fullmatch(text)
    if match:
        return "#" + "".join(c * 2 for c in match.group(1)).upper()
    names = color_names()
    key = _name_key(text)
    if key in names:
        return names[key]
    if _FUNC.fullmatch(text):
        from PIL import ImageColor

        try:
            rgb = ImageColor.getrgb(text)
        except ValueError:
            pass
        else:
            return "#{:02X}{:02X}{:02X}".format(*rgb[:3])
    hint = difflib.get_close_matches(key, names, n=1, cutoff=0.75) if key else []
    suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
    raise ValueError(
        f"{value!r} is not a colour{suggestion}; use #RRGGBB, #RGB, rgb(r, g, b) or a CSS colour name"
    )


@dataclass(frozen=True, slots=True)
class PaletteFit:
    """The result of :func:`fit_palette`: what was kept and what was dropped, and why.

    Attributes:
        kept: The palette that fits, in the original order.
        dropped: Entries cut because the palette was over its limit.
        duplicates: Entries removed because they repeated an earlier one.
        limit: The limit applied.

    >>> str(fit_palette(["#000000"] * 2 + ["#FFFFFF"], limit=5))
    'kept 2 colours; removed 1 duplicate (#000000)'
    """

    kept: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()
    limit: int = GLOBAL_LIMIT

    @property
    def changed(self) -> bool:
        """Whether anything was removed.

        >>> fit_palette(["#000000"], limit=5).changed
        False
        """
        return bool(self.dropped or self.duplicates)

    def __str__(self) -> str:
        parts = [f"kept {len(self.kept)} colour{'s' * (len(self.kept) != 1)}"]
        if self.duplicates:
            n = len(self.duplicates)
            parts.append(f"removed {n} duplicate{'s' * (n != 1)} ({', '.join(self.duplicates)})")
        if self.dropped:
            n = len(self.dropped)
            parts.append(
                f"dropped {n} over the limit of {self.limit} ({', '.join(self.dropped)})"
            )
        return "; ".join(parts)


def normalize_palette(colors: Iterable[Colorish]) -> tuple[str, ...]:
    """Normalise every entry with :func:`to_hex` and drop exact repeats (a safe change).

    Raises:
        ValueError: An entry is not a colour; the message names its index.

    >>> normalize_palette(["#fff", "white", "Navy"])
    ('#FFFFFF', '#000080')
    """
    return tuple(dict.fromkeys(_hexes(colors)))


def _hexes(colors: Iterable[Colorish]) -> Iterator[str]:
    """Each colour as hex; a bad entry raises with its index."""
    for i, value in enumerate(colors):
        try:
            yield to_hex(value)
        except ValueError as exc:
            raise ValueError(f"palette entry {i}: {exc}") from None


def fit_palette(colors: Iterable[Colorish], limit: int = GLOBAL_LIMIT) -> PaletteFit:
    """Normalise, de-duplicate and cut a palette to ``limit`` entries, reporting every removal.

    Earlier entries win: list the colours that matter most first (as
    :func:`extract_palette` does, by coverage).

    Args:
        colors: The palette, in any notation :func:`to_hex` accepts.
        limit: :data:`GLOBAL_LIMIT` (16) or :data:`ELEMENT_LIMIT` (5).

    >>> fit = fit_palette(["red", "#F00", "lime", "blue", "white", "black", "gray"], limit=ELEMENT_LIMIT)
    >>> fit.kept, fit.duplicates, fit.dropped
    (('#FF0000', '#00FF00', '#0000FF', '#FFFFFF', '#000000'), ('#FF0000',), ('#808080',))
    """
    if limit < 0:
        raise ValueError(f"a palette limit must be >= 0, got {limit}")
    seen: list[str] = []
    duplicates: list[str] = []
    for color in _hexes(colors):
        (duplicates if color in seen else seen).append(color)
    return PaletteFit(
        kept=tuple(seen[:limit]), dropped=tuple(seen[limit:]), duplicates=tuple(duplicates), limit=limit
    )


# -- perceptual distance --------------------------------------------------------


def to_lab(color: Colorish) -> tuple[float, float, float]:
    """CIELAB (D65) coordinates of a colour.

    >>> [round(v) for v in to_lab("#FF0000")]
    [53, 80, 67]
    """
    hexed = to_hex(color)
    rgb = [int(hexed[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    r, g, b = lin
    x = (0.4124564 * r + 0.3575761 * g + 0.1804375 * b) / 0.95047
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = (0.0193339 * r + 0.1191920 * g + 0.9503041 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29

    fx, fy, fz = f(x), f(y), f(z)
    return (116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz))


def delta_e(a: Colorish, b: Colorish) -> float:
    """CIE76 colour difference: about 2.3 is just noticeable, over 10 clearly different.

    >>> round(delta_e("#000000", "#FFFFFF"))
    100
    >>> delta_e("#1B1B2F", "#1c1b2f") < 1
    True
    """
    return math.dist(to_lab(a), to_lab(b))


# -- extraction -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Swatch:
    """One extracted colour and the share of the region it covers (merged near-duplicates included).

    >>> Swatch("#FF0000", 0.25)
    Swatch(color='#FF0000', share=0.25)
    """

    color: str
    share: float = field(default=0.0)


def _open_image(image: str | os.PathLike[str] | Image.Image) -> Image.Image:
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, Image.Image):
        return image
    try:
        with Image.open(image) as opened:
            opened.load()
            return opened.copy()
    except FileNotFoundError:
        raise ValueError(f"{image}: no such file") from None
    except UnidentifiedImageError:
        raise ValueError(f"{image}: not an image pillow can read") from None
    except OSError as exc:
        raise ValueError(f"{image}: cannot read image ({exc})") from None


def extract_palette(
    image: str | os.PathLike[str] | Image.Image,
    *,
    box: Box | BBox | Sequence[float] | None = None,
    max_colors: int = ELEMENT_LIMIT,
    merge_distance: float = 12.0,
    min_share: float = 0.005,
) -> list[Swatch]:
    """Read the dominant colours of an image, or of a caption box region of it.

    Pixels are counted exactly when the region has at most 4096 distinct
    colours; otherwise they are first binned to 4 bits per channel (each bin
    represented by its mean colour). Colours
    closer than ``merge_distance`` (CIE76 ΔE) to a more common one are merged
    into it (its colour is kept, the shares add up). Transparent pixels
    (alpha < 128) are ignored.

    Args:
        image: A path or a PIL image.
        box: A caption box ``[y_min, x_min, y_max, x_max]`` in 0-1000 units to
            read only that region.
        max_colors: How many swatches to return at most.
        merge_distance: ΔE below which two colours count as one.
        min_share: Leave out colours covering less than this share of the region.

    Returns:
        Swatches ordered by coverage, most common first.

    Raises:
        ValueError: One line naming the unreadable file or the empty region.

    >>> from PIL import Image
    >>> img = Image.new("RGB", (40, 10), "#102030"); img.paste((250, 250, 250), (0, 0, 10, 10))
    >>> [(s.color, s.share) for s in extract_palette(img)]
    [('#102030', 0.75), ('#FAFAFA', 0.25)]
    """
    from PIL import Image

    img = _open_image(image)
    if box is not None:
        region = Box.of(box)
        w, h = img.size
        crop = (
            round(region.left * w / 1000),
            round(region.top * h / 1000),
            round(region.right * w / 1000),
            round(region.bottom * h / 1000),
        )
        if crop[2] <= crop[0] or crop[3] <= crop[1]:
            raise ValueError(f"box {list(region.ints())} covers no pixels of the {w}x{h} image")
        img = img.crop(crop)
    rgba = img.convert("RGBA")
    # Nearest-neighbour keeps the image's own colours (no blended edge pixels).
    if max(rgba.size) > 512:
        rgba.thumbnail((512, 512), Image.Resampling.NEAREST)
    pixels = rgba.getcolors(maxcolors=rgba.width * rgba.height) or []
    counts: dict[tuple[int, int, int], int] = {}
    for n, (r, g, b, a) in pixels:
        if a >= 128:
            counts[(r, g, b)] = counts.get((r, g, b), 0) + n
    if not counts:
        raise ValueError("the region has no opaque pixels")
    if len(counts) > 4096:
        counts = _quantized_counts(counts)
    return _merge(counts, max_colors, merge_distance, min_share)


def _quantized_counts(counts: dict[tuple[int, int, int], int]) -> dict[tuple[int, int, int], int]:
    # 4 bits per channel, representative = count-weighted mean of the bucket
    buckets: dict[tuple[int, int, int], list[float]] = {}
    for (r, g, b), n in counts.items():
        acc = buckets.setdefault((r >> 4, g >> 4, b >> 4), [0.0, 0.0, 0.0, 0.0])
        acc[0] += r * n
        acc[1] += g * n
        acc[2] += b * n
        acc[3] += n
    return {
        (round(a[0] / a[3]), round(a[1] / a[3]), round(a[2] / a[3])): int(a[3]) for a in buckets.values()
    }


def _merge(
    counts: dict[tuple[int, int, int], int], max_colors: int, merge_distance: float, min_share: float
) -> list[Swatch]:
    total = sum(counts.values())
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    groups: list[list[Any]] = []  # [hex, lab, count]
    for rgb, n in ordered:
        hexed = "#{:02X}{:02X}{:02X}".format(*rgb)
        lab = to_lab(hexed)
        for group in groups:
            if math.dist(group[1], lab) < merge_distance:
                group[2] += n
                break
        else:
            groups.append([hexed, lab, n])
    groups.sort(key=lambda g: -g[2])
    return [
        Swatch(g[0], round(g[2] / total, 4)) for g in groups if g[2] / total >= min_share
    ][:max_colors]
