"""Layout preview: a picture of a caption's boxes at the frame's aspect.

Every boxed element is drawn with its index and type: objects with a solid
blue outline and a light fill, text elements with a dashed orange outline and
their literal text fitted inside the box. Regions where boxes partly overlap
are hatched in red (a box nested inside another is not: that is usually
deliberate, like a label on a product). Each element's palette shows as swatches in its box; the
global palette is a strip under the picture, followed by the high-level
description, the background and any elements that have no box.

Labels (``3 text``) sit just outside their box, above or below it, so they
never cover the text they name; only a box that fills the frame gets its label
inside, and then the text is fitted below the label. The panel ends with a
legend: every element's number, type and the start of its description.

CJK text draws out of the box: the Noto Sans CJK font (SIL Open Font Licence)
comes with captionkit through the ``noto-cjk-sans-otc`` package, which ships
the upstream Noto CJK collection file unmodified (Japanese, Korean, Simplified
and Traditional Chinese in one file). ``$CAPTIONKIT_FONT`` puts another font
first. A character that no font can draw raises a :class:`PreviewWarning`
naming it and the remedy; the CLI prints it.

With ``overlay`` the boxes are drawn over a rendered image instead of a blank
frame, to check how well the image follows the layout.

>>> from captionkit.builder import CaptionBuilder
>>> cap = CaptionBuilder().background("A wall.").obj("A clock.", box=[100, 100, 400, 400]).build()
>>> image = render_preview(cap, frame="1536x1024", width=600)
>>> image.width, image.height > 400
(600, True)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from captionkit._io import write_atomic
from captionkit._loads import loads
from captionkit.layout import Box, Frame
from captionkit.models import Caption
from captionkit.palette import _open_image

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image, ImageDraw

__all__ = ["PreviewWarning", "find_font", "find_fonts", "render_preview", "save_preview"]

_OBJ = (31, 119, 180)
_TEXT = (230, 110, 0)
_OVERLAP = (214, 39, 40)
_CANVAS = (242, 242, 240)
_INK = (30, 30, 30)
_MUTED = (105, 105, 105)

# Fonts that can show CJK, by the usual install paths on Linux, macOS and Windows.
_CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/Hiragino Sans GB.ttc",
    "/Library/Fonts/Arial Unicode.ttf",
    "C:\\Windows\\Fonts\\msyh.ttc",
    "C:\\Windows\\Fonts\\YuGothM.ttc",
)
_PLAIN_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
)


class PreviewWarning(UserWarning):
    """Something the preview could not show as asked (a missing font, an undrawable character)."""


def _packaged_cjk_font() -> str | None:
    """The Noto Sans CJK collection shipped by the ``noto-cjk-sans-otc`` dependency, when installed."""
    import importlib.util

    if importlib.util.find_spec("noto_cjk_sans_otc") is None:
        return None
    from importlib.resources import files

    path = files("noto_cjk_sans_otc").joinpath("NotoSansCJK-Regular.ttc")
    return str(path) if path.is_file() else None


def find_fonts() -> list[str]:
    """Font files used for labels and text, in fallback order.

    ``$CAPTIONKIT_FONT`` first (a :class:`PreviewWarning` when it names no
    file), then a common Latin font, then Noto Sans CJK from the
    ``noto-cjk-sans-otc`` dependency, then other fonts that can show CJK
    (fontconfig's ``fc-list :lang=zh``, then the usual install paths on Linux,
    macOS and Windows). Each character is drawn with the first font that has a
    glyph for it; an empty list means pillow's built-in font.

    >>> all(os.path.isfile(path) for path in find_fonts())
    True
    """
    return list(_find_fonts())


def find_font() -> str | None:
    """The first font of :func:`find_fonts`, or ``None`` for pillow's built-in font.

    >>> path = find_font()
    >>> path is None or os.path.isfile(path)
    True
    """
    fonts = _find_fonts()
    return fonts[0] if fonts else None


def _check_font_variable() -> None:
    env = os.environ.get("CAPTIONKIT_FONT")
    if env and not os.path.isfile(env):
        warnings.warn(
            PreviewWarning(f"CAPTIONKIT_FONT={env}: no such font file; using the default fonts"), stacklevel=3
        )


@lru_cache(maxsize=1)
def _find_fonts() -> tuple[str, ...]:
    found: list[str] = []
    env = os.environ.get("CAPTIONKIT_FONT")
    if env and os.path.isfile(env):
        found.append(env)
    found += [p for p in _PLAIN_FONTS if os.path.isfile(p)][:1]
    packaged = _packaged_cjk_font()
    if packaged is not None:
        found.append(packaged)
    if shutil.which("fc-list"):
        try:
            out = subprocess.run(
                ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in sorted(out.splitlines()):
            path = line.split(":")[0].strip()
            if path.lower().endswith((".ttf", ".ttc", ".otf")) and os.path.isfile(path):
                found.append(path)
                break
    found += [p for p in _CJK_FONTS if os.path.isfile(p)]
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=128)
def _font_at(index: int, size: int) -> Any:
    from PIL import ImageFont

    fonts = _find_fonts()
    if index < len(fonts):
        try:
            return ImageFont.truetype(fonts[index], size)
        except OSError:
            pass
    return ImageFont.load_default(size)


def _font(size: int) -> Any:
    return _font_at(0, size)


def _drawable(char: str) -> bool:
    """Whether some font in the chain has a glyph for ``char`` (spaces and controls need none)."""
    if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp"):
        return True
    return any(_has_glyph(i, char) for i in range(max(1, len(_find_fonts()))))


def _undrawable(texts: Sequence[str]) -> list[str]:
    missing: dict[str, None] = {}
    for text in texts:
        for char in text:
            if char not in missing and not _drawable(char):
                missing[char] = None
    return list(missing)


@lru_cache(maxsize=4096)
def _has_glyph(index: int, char: str) -> bool:
    # A missing glyph renders as the font's .notdef box, the same as a noncharacter.
    font = _font_at(index, 24)
    try:
        mask, notdef = font.getmask(char), font.getmask("\uffff")
    except Exception:  # the built-in bitmap font raises for characters it cannot encode
        return False
    return (mask.size, bytes(mask)) != (notdef.size, bytes(notdef))


# Control characters and line/paragraph separators inside one drawn line: Pillow's text layout
# (raqm) fails on some of them (U+001C-U+001E, U+0085, U+2029), and none has a glyph. Lines are
# split before drawing, so here each becomes a space.
_UNDRAWABLE = {c: " " for c in (*range(0x20), *range(0x7F, 0xA0), 0x2028, 0x2029)}


def _runs(text: str, size: int) -> list[tuple[str, Any]]:
    """Split ``text`` into runs, each drawn with the first font that has its glyphs."""
    text = text.translate(_UNDRAWABLE)
    count = max(1, len(_find_fonts()))
    runs: list[tuple[str, int]] = []
    for char in text:
        if char.isspace() and runs:
            index = runs[-1][1]
        else:
            index = next((i for i in range(count) if _has_glyph(i, char)), 0)
        if runs and runs[-1][1] == index:
            runs[-1] = (runs[-1][0] + char, index)
        else:
            runs.append((char, index))
    return [(chunk, _font_at(index, size)) for chunk, index in runs]


def _text_width(text: str, size: int) -> float:
    return sum(font.getlength(chunk) for chunk, font in _runs(text, size))


def _metrics(size: int) -> tuple[int, int]:
    font = _font(size)
    return font.getmetrics() if hasattr(font, "getmetrics") else (size, size // 4)


def _line_height(size: int) -> int:
    return sum(_metrics(size))


def _draw_line(draw: Any, xy: tuple[float, float], text: str, size: int, fill: Any) -> None:
    """Draw one line with per-character font fallback; ``xy`` is the top-left."""
    x, y = xy
    baseline = y + _metrics(size)[0]
    for chunk, font in _runs(text, size):
        draw.text((x, baseline), chunk, font=font, fill=fill, anchor="ls")
        x += font.getlength(chunk)


def _coerce_caption(caption: Any) -> Caption:
    if isinstance(caption, Caption):
        return caption
    if isinstance(caption, str):
        return loads(caption)
    return Caption.from_dict(caption)


def _wrap(text: str, size: int, width: float) -> list[str]:
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split(" ")
        line = ""
        for word in words:
            trial = f"{line} {word}" if line else word
            if _text_width(trial, size) <= width or not line:
                line = trial
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines


def _dashed_rect(draw: ImageDraw.ImageDraw, xy: Sequence[float], color: Any, width: int, dash: int) -> None:
    x0, y0, x1, y1 = xy
    for a, b, fixed, horizontal in ((x0, x1, y0, True), (x0, x1, y1, True), (y0, y1, x0, False), (y0, y1, x1, False)):
        pos = a
        while pos < b:
            end = min(pos + dash, b)
            if horizontal:
                draw.line([(pos, fixed), (end, fixed)], fill=color, width=width)
            else:
                draw.line([(fixed, pos), (fixed, end)], fill=color, width=width)
            pos += 2 * dash


def _hatch(draw: ImageDraw.ImageDraw, xy: Sequence[float], color: Any, step: int) -> None:
    x0, y0, x1, y1 = xy
    w, h = x1 - x0, y1 - y0
    k = -h
    while k < w:
        # segment of the line x - x0 - (y - y0) = k clipped to the rectangle
        sx, sy = x0 + max(k, 0), y0 + max(-k, 0)
        length = min(w - max(k, 0), h - max(-k, 0))
        if length > 0:
            draw.line([(sx, sy), (sx + length, sy + length)], fill=color, width=1)
        k += step


def _fit_text(text: str, box: Sequence[float]) -> int:
    """The largest font size at which the lines of ``text`` fit in ``box``."""
    x0, y0, x1, y1 = box
    avail_w, avail_h = max(x1 - x0 - 8, 1), max(y1 - y0 - 8, 1)
    lines = text.split("\n")
    lo, hi, best = 6, 240, 6
    while lo <= hi:
        mid = (lo + hi) // 2
        width = max(_text_width(line, mid) for line in lines)
        if width <= avail_w and _line_height(mid) * len(lines) <= avail_h:
            best, lo = mid, mid + 1
        else:
            hi = mid - 1
    return best


def _draw_block(draw: Any, box: Sequence[float], text: str, size: int, fill: Any) -> None:
    """Draw the lines of ``text`` centred in ``box``."""
    lines = text.split("\n")
    height = _line_height(size)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    y = cy - height * len(lines) / 2
    for line in lines:
        _draw_line(draw, (cx - _text_width(line, size) / 2, y), line, size, fill)
        y += height


Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class _Placement:
    """Where an element's label goes, and the area and size its text is fitted to."""

    label: Rect
    text_area: Rect
    text_size: int
    text_block: Rect | None


def _intersects(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _text_block(area: Rect, text: str, size: int) -> Rect:
    """The rectangle the centred lines of ``text`` cover, cut to ``area`` (see :func:`_draw_clipped_block`)."""
    lines = text.split("\n")
    width = max(_text_width(line, size) for line in lines)
    height = _line_height(size) * len(lines)
    cx, cy = (area[0] + area[2]) / 2, (area[1] + area[3]) / 2
    return (
        max(cx - width / 2, area[0]),
        max(cy - height / 2, area[1]),
        min(cx + width / 2, area[2]),
        min(cy + height / 2, area[3]),
    )


def _swatch_column(xy: Rect) -> bool:
    """Whether a box's palette swatches go in a column at its left (wide, short boxes), else a row at its bottom."""
    return (xy[2] - xy[0]) > (xy[3] - xy[1])


def _text_area(xy: Rect, top: float, swatches: int, swatch: int) -> Rect:
    """The part of a text box its text is fitted to: below ``top``, clear of the palette swatches."""
    if not swatches:
        return (xy[0], top, xy[2], max(xy[3], top + 1))
    if _swatch_column(xy):
        return (min(xy[0] + swatch + 8, xy[2] - 1), top, xy[2], max(xy[3], top + 1))
    return (xy[0], top, xy[2], max(xy[3] - swatch - 8, top + 1))


def _swatch_spots(xy: Rect, count: int, swatch: int) -> list[tuple[float, float]]:
    """Top-left corners of ``count`` swatches inside a box (see :func:`_swatch_column`)."""
    if _swatch_column(xy):
        return [(xy[0] + 4, xy[3] - (k + 1) * (swatch + 3) - 1) for k in range(count)]
    return [(xy[0] + 4 + k * (swatch + 3), xy[3] - swatch - 4) for k in range(count)]


def _plan(boxed: Sequence[tuple[int, Any]], px: Any, pic_w: int, pic_h: int, size: int, swatch: int) -> list[_Placement]:
    """Place every label so it covers no element's text, and fit each text element's text.

    A label goes above its box, else below it, else (a box as tall as the
    frame) inside its top edge, and then that element's text is fitted below
    the label. Among the spots that fit the frame, the first that covers no
    text and no earlier label wins.
    """
    label_h = _line_height(size) + 2
    areas: dict[int, Rect] = {}
    blocks: dict[int, Rect] = {}
    for n, (_, e) in enumerate(boxed):
        if e.type == "text":
            xy = px(e.bbox)
            areas[n] = _text_area(xy, xy[1], len(e.color_palette or ()), swatch)
            blocks[n] = _text_block(areas[n], e.text, _fit_text(e.text, areas[n]))
    placed: list[Rect] = []
    labels: list[Rect] = []
    inside: set[int] = set()
    for n, (i, e) in enumerate(boxed):
        x0, y0, x1, y1 = px(e.bbox)
        width = _text_width(f"{i} {e.type}", size) + 8
        lx = min(max(x0, 0), max(pic_w - width, 0))
        spots = []
        if y0 - label_h >= 0:
            spots.append((lx, y0 - label_h, lx + width, y0))
        if y1 + label_h <= pic_h:
            spots.append((lx, y1, lx + width, y1 + label_h))
        outside = bool(spots)
        if not spots:
            top = min(max(y0, 0), max(pic_h - label_h, 0))
            spots.append((lx, top, lx + width, top + label_h))
        others = [b for m, b in blocks.items() if m != n] + placed
        chosen = next((r for r in spots if not any(_intersects(r, o) for o in others)), spots[0])
        if not outside:
            inside.add(n)
        placed.append(chosen)
        labels.append(chosen)
    plans = []
    for n, (_, e) in enumerate(boxed):
        if e.type != "text":
            plans.append(_Placement(labels[n], px(e.bbox), 0, None))
            continue
        area = areas[n]
        if n in inside:
            area = _text_area(px(e.bbox), labels[n][3], len(e.color_palette or ()), swatch)
        text_size = _fit_text(e.text, area)
        plans.append(_Placement(labels[n], area, text_size, _text_block(area, e.text, text_size)))
    return plans


def _draw_clipped_block(picture: Image.Image, area: Rect, text: str, size: int, fill: Any) -> None:
    """Draw ``text`` centred in ``area`` and cut to it, so a text too long for a tiny box stays inside it."""
    from PIL import Image, ImageDraw

    x0, y0 = max(0, round(area[0])), max(0, round(area[1]))
    x1, y1 = min(picture.width, round(area[2])), min(picture.height, round(area[3]))
    if x1 <= x0 or y1 <= y0:
        return
    layer = Image.new("RGBA", (x1 - x0, y1 - y0), (0, 0, 0, 0))
    _draw_block(ImageDraw.Draw(layer), (area[0] - x0, area[1] - y0, area[2] - x0, area[3] - y0), text, size, fill)
    picture.alpha_composite(layer, dest=(x0, y0))


def render_preview(
    caption: Caption | dict[str, Any] | str,
    *,
    frame: Frame | str | tuple[int, int] | None = None,
    overlay: str | os.PathLike[str] | Image.Image | None = None,
    width: int = 1024,
) -> Image.Image:
    """Draw the caption's layout as a picture.

    Args:
        caption: A caption model, plain caption data, or caption JSON text.
        frame: The output size (a :class:`~captionkit.layout.Frame` or
            ``"WxH"``) that sets the picture's aspect; defaults to the overlay's
            size, else 1024x1024.
        overlay: A rendered image to draw the boxes over.
        width: Width of the preview in pixels.

    Returns:
        An RGB image: the picture, then the palette strip and the text panel.

    Raises:
        ValueError: A bad frame, an unreadable overlay, or an invalid caption.

    >>> from captionkit.builder import CaptionBuilder
    >>> cap = CaptionBuilder().background("A wall.").text("你好", "Black brush lettering.", box=[300, 300, 700, 700]).build()
    >>> render_preview(cap, width=320).mode
    'RGB'
    """
    from PIL import Image, ImageDraw

    _check_font_variable()
    cap = _coerce_caption(caption)
    base: Image.Image | None = None
    if overlay is not None:
        if isinstance(overlay, Image.Image):
            base = overlay.convert("RGB")
        else:
            base = _open_image(overlay).convert("RGB")
    if frame is not None:
        frame = Frame.of(frame)  # any spelling of a size, as everywhere
        aspect = frame.height / frame.width
    elif base is not None:
        aspect = base.height / base.width
    else:
        aspect = 1.0
    if width < 64:
        raise ValueError(f"preview width must be at least 64 pixels, got {width}")
    pic_w, pic_h = width, max(1, round(width * aspect))
    scale = width / 1024
    line_w = max(2, round(3 * scale))

    if base is not None:
        picture = base.resize((pic_w, pic_h), Image.Resampling.LANCZOS).convert("RGBA")
        fill_alpha = 28
    else:
        picture = Image.new("RGBA", (pic_w, pic_h), _CANVAS + (255,))
        grid = ImageDraw.Draw(picture)
        for i in range(1, 10):  # a faint 100-unit grid, to read positions off
            x, y = round(i * pic_w / 10), round(i * pic_h / 10)
            grid.line([(x, 0), (x, pic_h)], fill=(225, 225, 222, 255), width=1)
            grid.line([(0, y), (pic_w, y)], fill=(225, 225, 222, 255), width=1)
        fill_alpha = 46

    elements = cap.compositional_deconstruction.elements
    boxed = [(i, e) for i, e in enumerate(elements) if e.bbox is not None]

    def px(b: Any) -> tuple[float, float, float, float]:
        t, left, bottom, r = b
        return (left * pic_w / 1000, t * pic_h / 1000, r * pic_w / 1000, bottom * pic_h / 1000)

    # translucent fills first, so overlaps read darker
    fills = Image.new("RGBA", picture.size, (0, 0, 0, 0))
    fdraw = ImageDraw.Draw(fills)
    for _, e in boxed:
        color = _OBJ if e.type == "obj" else _TEXT
        fdraw.rectangle(px(e.bbox), fill=color + (fill_alpha,))
    picture = Image.alpha_composite(picture, fills)
    draw = ImageDraw.Draw(picture)

    for n, (_, a) in enumerate(boxed):
        for _, b in boxed[n + 1 :]:
            box_a, box_b = Box.of(a.bbox), Box.of(b.bbox)
            if box_a.contains(box_b) or box_b.contains(box_a):
                continue  # nesting (a label on a product) is deliberate; the fills show it
            inter = box_a.intersection(box_b)
            if inter is not None and inter.area > 0:
                xy = px(inter)
                _hatch(draw, xy, _OVERLAP + (255,), max(6, round(12 * scale)))
                draw.rectangle(xy, outline=_OVERLAP + (255,), width=1)

    label_size = max(10, round(20 * scale))
    swatch = max(10, round(22 * scale))
    plans = _plan(boxed, px, pic_w, pic_h, label_size, swatch)
    for (i, e), plan in zip(boxed, plans):
        xy = px(e.bbox)
        color = _OBJ if e.type == "obj" else _TEXT
        if e.type == "text":
            ink = (60, 40, 20, 255) if base is None else (255, 255, 255, 255)
            _draw_clipped_block(picture, plan.text_area, e.text, plan.text_size, ink)
            _dashed_rect(draw, xy, color + (255,), line_w, max(6, round(14 * scale)))
        else:
            draw.rectangle(xy, outline=color + (255,), width=line_w)
        palette = e.color_palette or ()
        for hexed, (sx, sy) in zip(palette, _swatch_spots(xy, len(palette), swatch)):
            draw.rectangle((sx, sy, sx + swatch, sy + swatch), fill=hexed, outline=(255, 255, 255, 255), width=1)
    # labels last, each where it covers no text (its own never)
    for (i, e), plan in zip(boxed, plans):
        color = _OBJ if e.type == "obj" else _TEXT
        lx, ly, rx, ry = plan.label
        draw.rectangle(plan.label, fill=color + (255,))
        _draw_line(draw, (lx + 4, ly + 1), f"{i} {e.type}", label_size, (255, 255, 255, 255))

    texts = [cap.high_level_description or "", cap.compositional_deconstruction.background]
    for e in elements:
        texts += [e.desc, e.text if e.type == "text" else ""]
    missing = _undrawable(texts)
    if missing:
        shown = " ".join(f"{c} (U+{ord(c):04X})" for c in missing[:8]) + (" ..." if len(missing) > 8 else "")
        warnings.warn(
            PreviewWarning(
                f"the preview cannot draw {len(missing)} character(s) with the fonts it found: {shown}; "
                "set CAPTIONKIT_FONT to a font file that has them"
            ),
            stacklevel=2,
        )

    return _with_panel(picture.convert("RGB"), cap, elements, scale)


def _with_panel(picture: Image.Image, cap: Caption, elements: Sequence[Any], scale: float) -> Image.Image:
    from PIL import Image, ImageDraw

    width = picture.width
    pad = max(8, round(20 * scale))
    body = max(10, round(22 * scale))
    small = max(9, round(17 * scale))
    gap = max(3, round(6 * scale))

    blocks: list[tuple[str, Any, int]] = []  # (kind, payload, font size)
    style = cap.style_description
    palette = style.color_palette if style is not None and style.color_palette else ()
    if palette:
        blocks.append(("palette", palette, small))
    if cap.high_level_description:
        for line in _wrap(cap.high_level_description, body, width - 2 * pad):
            blocks.append(("text", (line, _INK), body))
    bg = f"background: {cap.compositional_deconstruction.background}"
    for line in _wrap(bg, small, width - 2 * pad):
        blocks.append(("text", (line, _MUTED), small))
    if elements:
        blocks.append(("text", ("legend", _INK), small))
    for i, e in enumerate(elements):
        blocks.append(("text", (_legend_line(i, e, small, width - 2 * pad), _MUTED), small))

    chip = max(14, round(34 * scale))
    heights = [
        chip + _line_height(size) + gap if kind == "palette" else _line_height(size) + gap
        for kind, _, size in blocks
    ]
    panel_h = pad * 2 + sum(heights)
    out = Image.new("RGB", (width, picture.height + panel_h), (255, 255, 255))
    out.paste(picture, (0, 0))
    draw = ImageDraw.Draw(out)
    y = picture.height + pad
    for (kind, payload, size), h in zip(blocks, heights):
        if kind == "palette":
            cell = min(chip * 3, (width - 2 * pad) / len(payload))
            for k, hexed in enumerate(payload):
                x = pad + k * cell
                draw.rectangle((x, y, x + cell - 3, y + chip), fill=hexed, outline=(200, 200, 200))
                if _text_width(hexed, size) <= cell - 3:
                    _draw_line(draw, (x, y + chip + 2), hexed, size, _MUTED)
        else:
            line, color = payload
            _draw_line(draw, (pad, y), line, size, color)
        y += h
    return out


def _legend_line(index: int, element: Any, size: int, width: float) -> str:
    """``3 text (no box): 'OPEN 24H' Small white block capitals…``, cut to one line of ``width`` pixels.

    >>> from captionkit.models import ObjElement
    >>> _legend_line(0, ObjElement(type="obj", desc="A red kite."), 14, 2000)
    '0 obj (no box): A red kite.'
    """
    head = f"{index} {element.type}" + (" (no box)" if element.bbox is None else "") + ": "
    body = (f"'{element.text}' " if element.type == "text" else "") + element.desc
    return _ellipsize((head + body).replace("\n", " / "), size, width)


def _ellipsize(text: str, size: int, width: float) -> str:
    if _text_width(text, size) <= width:
        return text
    lo, hi = 0, len(text)
    while lo < hi:  # the longest prefix that fits with the ellipsis
        mid = (lo + hi + 1) // 2
        if _text_width(text[:mid].rstrip() + "…", size) <= width:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo].rstrip() + "…"


def save_preview(
    caption: Caption | dict[str, Any] | str,
    path: str | os.PathLike[str],
    *,
    frame: Frame | str | tuple[int, int] | None = None,
    overlay: str | os.PathLike[str] | Image.Image | None = None,
    width: int = 1024,
) -> Path:
    """Render a preview (see :func:`render_preview`) and write it as PNG, atomically.

    >>> import tempfile, pathlib
    >>> from captionkit.builder import CaptionBuilder
    >>> cap = CaptionBuilder().background("A wall.").obj("A clock.", box=[100, 100, 400, 400]).build()
    >>> out = save_preview(cap, pathlib.Path(tempfile.mkdtemp()) / "p.png", width=200)
    >>> out.read_bytes()[:4]
    b'\\x89PNG'
    """
    import io

    image = render_preview(caption, frame=frame, overlay=overlay, width=width)
    target = Path(path)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    write_atomic(target, buffer.getvalue())
    return target
