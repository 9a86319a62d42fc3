"""HTML for notebooks: captions, reports, render results, memory, thumbnails.

Plain functions that return HTML strings, with no widget library: the core
types' ``_repr_html_`` methods delegate here, and the Studio panel shows the
same HTML inside its widgets. Every value that comes from a caption, a file or
an error is escaped. Each piece carries ``data-`` attributes with its facts
(``data-ok``, ``data-errors``, ``data-fraction``...), so tests and scripts can
read what a person sees.

>>> from captionkit import verify
>>> html = report_html(verify('{"compositional_deconstruction":{"elements":[],"background":"b"}}'))
>>> 'data-code="CK203"' in html and "safe" in html
True
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from captionkit._json import dumps
from captionkit.diagnostics import Report, Severity
from captionkit.models import Caption
from captionkit.preview import render_preview
from captionkit.render.metadata import read_recipe
from captionkit.verifier import verify

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "Gallery",
    "HIGH",
    "badge_html",
    "caption_html",
    "gallery",
    "memory_bars",
    "memory_html",
    "png_bytes",
    "png_data_uri",
    "recipe_rows",
    "report_html",
    "result_html",
    "schedule_summary",
]

HIGH = 0.85
"""A memory bar turns red past this share of its total."""

_GIB = 1024**3
_FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:13px;line-height:1.4"
_MONO = "font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"
_SEVERITY_COLORS = {Severity.error: "#b91c1c", Severity.warning: "#b45309", Severity.info: "#4b5563"}


def png_bytes(image: Image.Image, max_side: int | None = None) -> bytes:
    """PNG bytes of an image, scaled down (never up) so its longer side is at most ``max_side``."""
    if max_side is not None and max(image.size) > max_side:
        image = image.copy()
        image.thumbnail((max_side, max_side))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_data_uri(image: Image.Image, max_side: int | None = None) -> str:
    """A ``data:image/png;base64,...`` URI for an ``<img>`` tag."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(image, max_side)).decode("ascii")


def _img(image: Image.Image, alt: str, max_side: int | None = None, css: str = "") -> str:
    return (
        f'<img src="{png_data_uri(image, max_side)}" alt="{escape(alt)}" '
        f'style="max-width:100%;height:auto;{css}"/>'
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# ------------------------------------------------------------------ captions and reports


def badge_html(report: Report) -> str:
    """The verified / N errors badge for a report, with warning and info counts beside it.

    >>> badge_html(Report())
    '<span class="ck-badge" data-ok="true" data-errors="0" data-warnings="0" ...>✓ verified</span>'
    """
    errors = len(report.errors)
    warnings = sum(1 for d in report if d.severity is Severity.warning)
    infos = sum(1 for d in report if d.severity is Severity.info)
    ok = errors == 0
    color = "#15803d" if ok else "#b91c1c"
    label = "✓ verified" if ok else f"✗ {_plural(errors, 'error')}"
    extra = []
    if warnings:
        extra.append(_plural(warnings, "warning"))
    if infos:
        extra.append(f"{infos} info")
    tail = f' <span style="color:#6b7280">{escape(" · ".join(extra))}</span>' if extra else ""
    return (
        f'<span class="ck-badge" data-ok="{str(ok).lower()}" data-errors="{errors}" data-warnings="{warnings}" '
        f'style="display:inline-block;padding:2px 10px;border-radius:999px;background:{color};color:#fff;'
        f'font-weight:600;{_FONT}">{label}</span>{tail}'
    )


def report_html(report: Report, *, limit: int | None = None) -> str:
    """A diagnostics table: code, path, severity, message and whether a fix is available.

    Args:
        report: The findings.
        limit: Show at most this many rows (a last row says how many more there are).
    """
    head = badge_html(report)
    if not len(report):
        return f'<div class="ck-report" data-count="0" style="{_FONT}">{head} <span>no findings</span></div>'
    rows = []
    shown = list(report) if limit is None else list(report)[:limit]
    cell = "padding:3px 8px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:top"
    for d in shown:
        if d.fix is None:
            fix = '<span style="color:#9ca3af">—</span>'
        else:
            tone = "#15803d" if d.fix.safe else "#b45309"
            fix = (
                f'<span style="color:{tone};font-weight:600">{d.fix.applicability}</span> '
                f'<span style="color:#6b7280">{escape(d.fix.description)}</span>'
            )
        rows.append(
            f'<tr class="ck-diagnostic" data-code="{escape(d.code)}" data-severity="{d.severity.value}" '
            f'data-fix="{"none" if d.fix is None else d.fix.applicability}">'
            f'<td style="{cell};{_MONO}">{escape(d.code)}</td>'
            f'<td style="{cell};{_MONO};word-break:break-all;min-width:90px">{escape(d.pointer or "/")}</td>'
            f'<td style="{cell};color:{_SEVERITY_COLORS[d.severity]};font-weight:600">{d.severity.value}</td>'
            f'<td style="{cell};min-width:180px">{escape(d.message)}</td>'
            f'<td style="{cell}">{fix}</td></tr>'
        )
    if limit is not None and len(report) > limit:
        rows.append(f'<tr><td colspan="5" style="{cell};color:#6b7280">… and {len(report) - limit} more</td></tr>')
    th = f"{cell};font-weight:600;color:#374151"
    header = "".join(f'<th style="{th}">{h}</th>' for h in ("code", "path", "severity", "message", "fix"))
    return (
        f'<div class="ck-report" data-count="{len(report)}" style="{_FONT}">{head}'
        f'<table style="border-collapse:collapse;margin-top:6px;width:100%;font-size:12px"><thead><tr>{header}</tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table></div>'
    )


def caption_html(caption: Caption, *, frame: Any = None, width: int = 360) -> str:
    """A caption as people want to see it: layout preview, badge, findings and its JSON.

    Args:
        caption: The caption.
        frame: Output size for the preview's aspect (``"WxH"`` or a frame); square by default.
        width: Preview width in pixels.
    """
    report = verify(caption)
    text = dumps(caption)
    try:
        picture = _img(render_preview(caption, frame=frame, width=width), "layout preview", None,
                       "border:1px solid #e5e7eb")
    except Exception as exc:  # a display must still show the badge and the findings
        picture = f'<div style="color:#b45309;width:{width}px">no layout preview: {escape(type(exc).__name__)}: {escape(str(exc))}</div>'
    findings = report_html(report, limit=12) if len(report) else badge_html(report)
    return (
        f'<div class="ck-caption" data-ok="{str(report.ok).lower()}" '
        f'style="display:flex;gap:14px;align-items:flex-start;flex-wrap:wrap;{_FONT}">'
        f"{picture}"
        f'<div style="min-width:260px;max-width:640px">{findings}'
        f'<div style="color:#6b7280;margin-top:6px">{_plural(len(caption.compositional_deconstruction.elements), "element")}'
        f" · {len(text)} characters</div>"
        f'<details style="margin-top:6px"><summary>canonical JSON</summary>'
        f'<pre style="white-space:pre-wrap;{_MONO};font-size:12px">{escape(dumps(caption, pretty=True))}</pre>'
        f"</details></div></div>"
    )


# ------------------------------------------------------------------ render results


def schedule_summary(values: Sequence[float]) -> str:
    """A run-order schedule in words, runs compressed.

    >>> schedule_summary([7.0] * 18 + [3.0] * 2)
    '7×18 → 3×2'
    """
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        v = f"{values[i]:g}"
        parts.append(v if j == i else f"{v}×{j - i + 1}")
        i = j + 1
    return " → ".join(parts)


def recipe_rows(recipe: Any, seconds: float | None = None) -> list[tuple[str, str]]:
    """The facts of a render recipe as ``(label, value)`` rows (timing last, when given)."""
    p = recipe.preset
    rows = [
        ("seed", str(recipe.seed)),
        ("preset", f"{p.name} · {p.steps} steps"),
        ("guidance (run order)", schedule_summary(p.schedule)),
        ("mu / std", f"{p.mu:g} / {p.std:g}"),
        ("size", f"{recipe.width}x{recipe.height}"),
        ("model", f"{recipe.model or '(in-memory pipeline)'} · {recipe.backend}"),
        ("precision", f"{recipe.dtype or '?'} · quantization {recipe.quantization or 'none'}"),
    ]
    if seconds:
        rows.append(("time", f"{seconds:.2f} s · {seconds / p.steps:.3f} s/step"))
    return rows


def _rows_html(rows: Iterable[tuple[str, str]]) -> str:
    cell = "padding:2px 8px;text-align:left;vertical-align:top"
    return "".join(
        f'<tr><th style="{cell};color:#6b7280;font-weight:500">{escape(k)}</th>'
        f'<td style="{cell};{_MONO};font-size:12px">{escape(v)}</td></tr>'
        for k, v in rows
    )


def result_html(result: Any, *, max_side: int = 512, path: str | os.PathLike[str] | None = None) -> str:
    """A render result: the image, its recipe and its timing (seconds and s/step)."""
    rows = recipe_rows(result.recipe, result.seconds)
    if path is not None:
        rows.append(("file", os.fspath(path)))
    steps = result.recipe.preset.steps
    return (
        f'<div class="ck-result" data-seed="{result.recipe.seed}" data-seconds="{result.seconds:.4f}" '
        f'data-s-per-step="{result.seconds / steps:.4f}" '
        f'style="display:flex;gap:14px;align-items:flex-start;flex-wrap:wrap;{_FONT}">'
        f'{_img(result.image, f"render, seed {result.recipe.seed}", max_side)}'
        f'<table style="border-collapse:collapse">{_rows_html(rows)}</table></div>'
    )


# ------------------------------------------------------------------ memory


def memory_bars(report: Any) -> list[tuple[str, str, int, int]]:
    """The four bars of the memory panel: ``(key, label, used bytes, total bytes)``.

    A total of 0 means the figure does not exist here (no GPU).
    """
    used_ram = max(0, report.ram_total - report.ram_available)
    return [
        ("vram-allocated", "VRAM allocated", report.gpu_allocated, report.gpu_total),
        ("vram-reserved", "VRAM reserved", report.gpu_reserved, report.gpu_total),
        ("process-rss", "process RSS", report.rss, report.ram_total),
        ("system-ram", "system RAM", used_ram, report.ram_total),
    ]


def _gradient(fraction: float) -> tuple[str, str]:
    if fraction > HIGH:
        return "high", "linear-gradient(90deg,#f97316,#dc2626)"
    if fraction > 0.6:
        return "warm", "linear-gradient(90deg,#84cc16,#eab308)"
    return "ok", "linear-gradient(90deg,#06b6d4,#22c55e)"


def memory_html(report: Any) -> str:
    """The dark memory panel: four gradient bars, each red past 85% of its total.

    >>> from captionkit.render.memory import MemoryReport
    >>> html = memory_html(MemoryReport("cpu", 0, 0, 0, 0, 2 * 1024**3, 16 * 1024**3, 1 * 1024**3))
    >>> 'data-bar="system-ram" data-fraction="0.9375" data-state="high"' in html
    True
    """
    rows = []
    for key, label, used, total in memory_bars(report):
        if total <= 0:
            rows.append(
                f'<div class="ck-bar" data-bar="{key}" data-fraction="" data-state="absent" style="margin:6px 0">'
                f'<div style="display:flex;gap:16px;justify-content:space-between"><span>{label}</span>'
                f'<span style="color:#6b7280">no GPU</span></div>'
                f'<div style="background:#1f2937;height:10px;border-radius:5px"></div></div>'
            )
            continue
        fraction = used / total
        state, fill = _gradient(fraction)
        width = max(0.0, min(1.0, fraction)) * 100
        peak = ""
        if key == "vram-allocated" and report.gpu_peak:
            peak_at = max(0.0, min(1.0, report.gpu_peak / total)) * 100
            peak = (
                f'<div title="peak" style="position:absolute;left:calc({peak_at:.2f}% - 1px);top:-2px;width:2px;'
                f'height:14px;background:#f9fafb"></div>'
            )
        figures = f"{used / _GIB:.2f} / {total / _GIB:.1f} GiB · {fraction:.0%}"
        if key == "vram-allocated" and report.gpu_peak:
            figures += f" · peak {report.gpu_peak / _GIB:.2f}"
        label_color = "#fca5a5" if state == "high" else "#e5e7eb"
        rows.append(
            f'<div class="ck-bar" data-bar="{key}" data-fraction="{fraction:.4f}" data-state="{state}" '
            f'style="margin:6px 0"><div style="display:flex;gap:16px;justify-content:space-between;color:{label_color}">'
            f"<span>{label}</span><span>{figures}</span></div>"
            f'<div style="position:relative;background:#1f2937;height:10px;border-radius:5px">'
            f'<div style="width:{width:.2f}%;height:100%;border-radius:5px;background:{fill}"></div>{peak}</div></div>'
        )
    return (
        f'<div class="ck-memory" data-device="{escape(report.device)}" style="background:#0b1220;color:#e5e7eb;'
        f'padding:10px 14px;border-radius:10px;min-width:340px;max-width:560px;{_FONT};{_MONO};font-size:12px">'
        f'<div style="font-weight:600;color:#f9fafb;margin-bottom:4px">memory · {escape(report.device)}</div>'
        f'{"".join(rows)}</div>'
    )


# ------------------------------------------------------------------ thumbnails


class Gallery:
    """A thumbnail grid of render results, images or PNG files (displays as HTML).

    Each tile shows the seed and size when a recipe is known (a render result,
    or a PNG written by captionkit), else the file name.

    Attributes:
        tiles: ``(image, label, recipe or None)`` per tile, in order.
        size: Longest side of a thumbnail in pixels.
    """

    def __init__(self, tiles: Sequence[tuple[Any, str, Any]], size: int = 160) -> None:
        self.tiles = list(tiles)
        self.size = size

    def __len__(self) -> int:
        return len(self.tiles)

    def _repr_html_(self) -> str:
        if not self.tiles:
            return f'<div class="ck-gallery" data-count="0" style="{_FONT};color:#6b7280">no images</div>'
        cells = []
        for image, label, recipe in self.tiles:
            seed = f' data-seed="{recipe.seed}"' if recipe is not None else ""
            cells.append(
                f'<figure class="ck-tile"{seed} style="margin:0;text-align:center;width:{self.size}px">'
                f'{_img(image, label, self.size, "border-radius:4px;border:1px solid #e5e7eb")}'
                f'<figcaption style="color:#374151;font-size:12px">{escape(label)}</figcaption></figure>'
            )
        return (
            f'<div class="ck-gallery" data-count="{len(self.tiles)}" '
            f'style="display:flex;flex-wrap:wrap;gap:10px;{_FONT}">{"".join(cells)}</div>'
        )


def _tile(item: Any) -> tuple[Any, str, Any]:
    if hasattr(item, "image") and hasattr(item, "recipe"):
        r = item.recipe
        return item.image, f"seed {r.seed} · {r.width}x{r.height}", r
    if isinstance(item, (str, os.PathLike)):
        from PIL import Image

        path = Path(item)
        with Image.open(path) as opened:
            image = opened.convert("RGB")
        recipe = None
        try:
            recipe = read_recipe(path)
        except Exception:  # a PNG without a recipe is still a picture
            recipe = None
        label = f"{path.name} · seed {recipe.seed}" if recipe is not None else path.name
        return image, label, recipe
    if hasattr(item, "size") and hasattr(item, "save"):
        return item, f"{item.width}x{item.height}", None
    raise TypeError(f"gallery: cannot show {type(item).__name__}; give render results, images or PNG paths")


def gallery(items: Any, *, size: int = 160) -> Gallery:
    """A thumbnail grid of a batch.

    Args:
        items: Render results, PIL images, PNG paths, or a folder (its PNG files,
            sorted by name, as :func:`captionkit.render.render_batch` writes them).
        size: Longest side of a thumbnail in pixels.

    >>> from PIL import Image
    >>> len(gallery([Image.new("RGB", (64, 32))]))
    1
    """
    if isinstance(items, (str, os.PathLike)) and Path(items).is_dir():
        items = sorted(p for p in Path(items).iterdir() if p.suffix.lower() == ".png" and p.is_file())
    return Gallery([_tile(item) for item in items], size=size)
