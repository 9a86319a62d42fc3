"""``Studio``: one ipywidgets panel wired to the library, from idea to image.

Every widget is a public attribute, so a program (or a test) can drive the
panel exactly as a person does: set ``studio.width.value``, call
``studio.generate_button.click()``, read ``studio.status.value``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

try:
    import ipywidgets as W
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("the notebook Studio needs the notebook extra: pip install 'captionkit[notebook]'") from exc

from captionkit.diagnostics import Report
from captionkit.fixes import FixResult, fix
from captionkit.layout import Frame
from captionkit.magic import BACKENDS, DEFAULT_BACKEND, MagicPromptClient, MagicPromptError
from captionkit.models import Caption
from captionkit.notebook._controls import (
    CUSTOM,
    fields_for,
    format_schedule,
    frame_choices,
    nearest_frame,
    parse_schedule,
    parse_seeds,
    preset_name_for,
    sampler,
    size_problem,
)
from captionkit.notebook._display import (
    memory_html,
    png_bytes,
    recipe_rows,
    report_html,
    schedule_summary,
)
from captionkit.notebook._generate import Generation, generate
from captionkit.preview import render_preview
from captionkit.render.errors import Cancelled, RenderError
from captionkit.render.memory import memory_report
from captionkit.render.metadata import read_recipe
from captionkit.render.presets import DEFAULT_PRESET, PRESETS, Preset, resolve_preset
from captionkit.render.progress import CancelToken, ProgressEvent
from captionkit.templates import template
from captionkit.verifier import verify

__all__ = ["HistoryEntry", "Studio", "editor_text"]

_CUSTOM_FRAME = "custom"
_GREEN, _RED, _GREY, _AMBER = "#15803d", "#b91c1c", "#6b7280", "#b45309"
_STATE_KEYS = (
    "caption", "idea", "backend", "preset", "steps", "guidance", "mu", "std", "schedule",
    "raise_on_issues", "frame", "width", "height", "seed", "seeds",
)


def _line(text: str, color: str = _GREY) -> str:
    return f'<span style="color:{color};font-family:system-ui,sans-serif;font-size:13px">{escape(text)}</span>'


class _Debouncer:
    """Calls ``fn`` once, ``delay`` seconds after the last of a burst of calls."""

    def __init__(self, delay: float, fn: Callable[[], None]) -> None:
        self.delay = delay
        self.fn = fn
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        if self.delay <= 0:
            self.fn()
            return
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
        self.fn()

    @property
    def pending(self) -> bool:
        """Whether a call is waiting for the burst to end."""
        return self._timer is not None

    def flush(self) -> None:
        """Run a pending call now."""
        with self._lock:
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            self.fn()


@dataclass(frozen=True)
class _Job:
    caption: str
    preset: Preset
    size: tuple[int, int]
    seeds: list[int]
    notes: tuple[str, ...] = ()


@dataclass
class HistoryEntry:
    """One earlier render in the history strip.

    Attributes:
        result: The :class:`~captionkit.render.RenderResult`.
        path: Where its PNG was saved (None when not saved).
        state: Every widget's value when it was generated (seed set to this image's).
        seconds_per_step: The measured denoising speed.
        load_button: The strip's "load this recipe" button for it.
        box: The strip's tile.
    """

    result: Any
    path: Path | None
    state: dict[str, Any]
    seconds_per_step: float | None
    load_button: Any = field(repr=False, default=None)
    box: Any = field(repr=False, default=None)


class Studio:
    """The Ideogram 4 playground as one panel.

    Args:
        caption: The caption to start from (a ``Caption``, dict or text); a poster template when None.
        renderer: A loaded :class:`~captionkit.render.Renderer`
            (see :func:`~captionkit.notebook.load_renderer`); None for authoring only.
        size: Starting size, ``"WxH"``, a frame name or ``(width, height)``.
        preset: Starting preset name, or a :class:`~captionkit.render.Preset` (Custom mode).
        seed: Starting seed.
        out: Folder for the rendered PNG files (None: keep them in memory).
        name: File name stem of the renders.
        magic_backend: The idea box's starting backend.
        magic_options: Options for :class:`~captionkit.magic.MagicPromptClient` (``api_key``,
            ``base_url``, ``model``, ``http_client``...).
        debounce: Seconds of quiet typing before the diagnostics and preview update.
        preview_width: Width of the layout preview in pixels.
        history_limit: Renders kept in the history strip.
        batch_size: Images per pipeline call.

    Display it as the last expression of a cell (or with ``display(studio)``).
    """

    def __init__(
        self,
        caption: Any = None,
        *,
        renderer: Any = None,
        size: str | tuple[int, int] = "1024x1024",
        preset: str | Preset = DEFAULT_PRESET,
        seed: int = 0,
        out: str | Path | None = "renders",
        name: str = "studio",
        magic_backend: str = DEFAULT_BACKEND,
        magic_options: Mapping[str, Any] | None = None,
        debounce: float = 0.3,
        preview_width: int = 360,
        history_limit: int = 12,
        batch_size: int = 4,
    ) -> None:
        self.renderer = renderer
        self.out = Path(out) if out is not None else None
        self.name = name
        self.magic_options = dict(magic_options or {})
        self.preview_width = preview_width
        self.history_limit = history_limit
        self.batch_size = batch_size
        self.history: list[HistoryEntry] = []
        self.last: Generation | None = None
        self.report = Report()
        self._fixed: FixResult | None = None
        self._syncing = False
        self._worker: threading.Thread | None = None
        self._busy = False
        self._cancel: CancelToken | None = None
        self._lock = threading.RLock()
        frame = _initial_frame(size)

        full = W.Layout(width="100%")
        # ---- header and idea box
        mode = "authoring only: no renderer" if renderer is None else _renderer_name(renderer)
        self.header = W.HTML(
            f'<div style="font-family:system-ui,sans-serif"><b style="font-size:15px">captionkit studio</b> '
            f'<span style="color:{_GREY}">· {mode}</span></div>'
        )
        self.idea = W.Text(placeholder="an idea: a lighthouse poster at dusk", description="idea", layout=W.Layout(width="50%"))
        self.backend = W.Dropdown(options=list(BACKENDS), value=magic_backend, description="backend")
        self.expand_button = W.Button(description="Expand", icon="magic", tooltip="expand the idea into a verified caption")
        self.idea_status = W.HTML()
        # ---- editor, diagnostics, preview
        self.editor = W.Textarea(value=_initial_text(caption, frame), layout=W.Layout(width="100%", height="340px"))
        self.diagnostics = W.HTML()
        self.fix_button = W.Button(description="Apply safe fixes", icon="wrench", disabled=True)
        self.fix_status = W.HTML()
        self.preview = W.Image(format="png", layout=W.Layout(max_width=f"{preview_width}px"))
        self.preview_note = W.HTML()
        # ---- sampler
        if isinstance(preset, str) and preset == CUSTOM:
            start, start_name = PRESETS[DEFAULT_PRESET], CUSTOM
        else:
            start = resolve_preset(preset)
            start_name = preset_name_for(start) if isinstance(preset, Preset) else start.name
        fields = fields_for(start)
        self.preset = W.Dropdown(options=[*PRESETS, CUSTOM], value=start_name, description="preset")
        self.steps = W.BoundedIntText(value=fields.steps, min=1, max=1000, description="steps")
        self.guidance = W.FloatText(value=fields.guidance, description="guidance")
        self.mu = W.FloatText(value=fields.mu, description="mu")
        self.std = W.FloatText(value=fields.std, description="std")
        self.schedule = W.Textarea(value=fields.schedule, description="schedule", layout=W.Layout(width="100%", height="54px"),
                                   placeholder="official order: first value = last (polish) step; 3.0*2, 7.0*18")
        self.schedule_note = W.HTML()
        self.raise_on_issues = W.Checkbox(value=True, description="raise on caption issues", indent=False)
        # ---- size
        choices = frame_choices()
        self.frame = W.Dropdown(options=[*choices, ("custom size", _CUSTOM_FRAME)], description="frame")
        self.width = W.IntText(value=frame[0], description="width")
        self.height = W.IntText(value=frame[1], description="height")
        self.size_status = W.HTML()
        self.snap_button = W.Button(description="use nearest official frame", layout=W.Layout(display="none"))
        # ---- seeds and run
        self.seed = W.IntText(value=seed, description="seed")
        self.seeds = W.Text(value="", description="seeds", placeholder="optional: 1, 2, 5-8 (one image each)")
        self.generate_button = W.Button(description="Generate", button_style="primary", icon="play")
        self.cancel_button = W.Button(description="Cancel", icon="stop", disabled=True)
        self.progress = W.IntProgress(value=0, min=0, max=1, description="", layout=W.Layout(width="40%"))
        self.progress_label = W.HTML()
        self.status = W.HTML()
        # ---- output
        self.image = W.Image(format="png", layout=W.Layout(max_width="512px"))
        self.timing = W.HTML()
        self.memory_panel = W.HTML()
        self.history_box = W.HBox(layout=W.Layout(overflow="auto", width="100%"))

        self._debouncer = _Debouncer(debounce, self.refresh)
        self.editor.observe(lambda _: self._debouncer(), names="value")
        self.fix_button.on_click(lambda _: self.apply_fixes())
        self.expand_button.on_click(lambda _: self._start(self._expand))
        self.preset.observe(self._on_preset, names="value")
        for w in (self.steps, self.guidance):
            w.observe(self._on_custom_field, names="value")
        for w in (self.mu, self.std, self.schedule, self.seed, self.seeds):
            w.observe(lambda _: self._update_ready(), names="value")
        self.frame.observe(self._on_frame, names="value")
        for w in (self.width, self.height):
            w.observe(self._on_size, names="value")
        self.snap_button.on_click(lambda _: self._snap())
        self.generate_button.on_click(lambda _: self._on_generate())
        self.cancel_button.on_click(lambda _: self.cancel())

        self._on_preset({"new": self.preset.value})
        if start_name == CUSTOM:
            self._set_fields(fields)
        self._on_size(None)
        self.refresh()
        self.refresh_memory()
        if renderer is None:
            self.generate_button.disabled = True
            self.status.value = _line("authoring only: pass renderer=load_renderer(...) to render", _GREY)

        self.panel = W.VBox(
            [
                self.header,
                W.HBox([self.idea, self.backend, self.expand_button]),
                self.idea_status,
                W.HBox(
                    [
                        W.VBox([self.editor, W.HBox([self.fix_button, self.fix_status]), self.diagnostics],
                               layout=W.Layout(width="58%")),
                        W.VBox([self.preview, self.preview_note], layout=W.Layout(width="42%", padding="0 0 0 12px")),
                    ],
                    layout=full,
                ),
                W.HTML("<b>sampler</b>"),
                W.HBox([self.preset, self.steps, self.raise_on_issues]),
                W.HBox([self.guidance, self.mu, self.std]),
                self.schedule,
                self.schedule_note,
                W.HTML("<b>size and seeds</b>"),
                W.HBox([self.frame, self.width, self.height]),
                W.HBox([self.size_status, self.snap_button]),
                W.HBox([self.seed, self.seeds]),
                W.HBox([self.generate_button, self.cancel_button, self.progress, self.progress_label]),
                self.status,
                W.HBox([W.VBox([self.image, self.timing]), W.VBox([self.memory_panel], layout=W.Layout(padding="0 0 0 12px"))]),
                W.HTML("<b>history</b>"),
                self.history_box,
            ],
            layout=full,
        )

    # ------------------------------------------------------------------ display

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.panel._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------------ editor

    def refresh(self) -> None:
        """Verify the editor's text, update the diagnostics, the fix button and the preview now."""
        with self._lock:
            text = self.editor.value
            frame = self._frame()
            report = verify(text, frame=frame, ignore=["CK408"])  # the panel always sends canonical text
            fixed = fix(text)
            self.report, self._fixed = report, fixed
            self.diagnostics.value = report_html(report, limit=20)
            useful = [c for c in fixed.changes if c.code != "CK408"] if fixed.text is not None else []
            self.fix_button.disabled = not useful
            self.fix_button.tooltip = "; ".join(str(c) for c in useful)[:500]
            caption = _caption_or_none(text)
            if caption is None:
                if self.preview.value:
                    self.preview_note.value = _line("the caption does not parse: the preview shows its last valid form", _AMBER)
                else:
                    self.preview_note.value = _line("no preview: the caption does not parse", _AMBER)
            else:
                try:
                    image = render_preview(caption, frame=frame or "1024x1024", width=self.preview_width)
                except Exception as exc:  # the editor and the diagnostics must keep working
                    self.preview_note.value = _line(f"no layout preview: {type(exc).__name__}: {exc}", _AMBER)
                    return
                self.preview.value = png_bytes(image)
                where = f"{frame.width}x{frame.height}" if frame is not None else "1024x1024 (size invalid)"
                self.preview_note.value = _line(f"layout at {where}")

    def flush(self) -> None:
        """Run the debounced refresh now if typing left one pending."""
        self._debouncer.flush()

    def apply_fixes(self) -> FixResult | None:
        """Apply captionkit's safe fixes to the editor (meaning never changes); returns what was done."""
        self.flush()
        fixed = fix(self.editor.value)
        if fixed.text is None:
            self.fix_status.value = _line("no JSON object found to fix", _RED)
            return None
        changes = [c for c in fixed.changes if c.code != "CK408"]
        self.editor.value = editor_text(fixed.data)
        self.flush()
        self.refresh()
        self.fix_status.value = _line(f"{len(changes)} safe fix{'es' if len(changes) != 1 else ''} applied", _GREEN)
        return fixed

    # ------------------------------------------------------------------ idea box

    def _expand(self) -> None:
        idea = self.idea.value.strip()
        if not idea:
            self.idea_status.value = _line("write an idea first", _RED)
            return
        frame = self._frame()
        aspect = f"{frame.width}x{frame.height}" if frame is not None else "auto"
        self.expand_button.disabled = True
        self.idea_status.value = _line(f"expanding with {self.backend.value}…")
        try:
            with MagicPromptClient(self.backend.value, **self.magic_options) as client:
                result = client.expand(idea, aspect_ratio=aspect)
        except MagicPromptError as exc:
            text = str(exc)
            where = "" if text.startswith(self.backend.value) else f"{self.backend.value}: "
            self.idea_status.value = _line(where + text, _RED)
            return
        except Exception as exc:  # a bad magic_options entry: the panel is where a person looks
            self.idea_status.value = _line(f"expand failed: {type(exc).__name__}: {exc}", _RED)
            return
        finally:
            self.expand_button.disabled = False
        self.editor.value = editor_text(result.caption.to_dict())
        self.flush()
        self.refresh()
        self.idea_status.value = _line(result.summary(), _GREEN)

    # ------------------------------------------------------------------ sampler

    def _set_fields(self, fields: Any) -> None:
        self._syncing = True
        try:
            self.steps.value = fields.steps
            self.guidance.value = fields.guidance
            self.mu.value = fields.mu
            self.std.value = fields.std
            self.schedule.value = fields.schedule
        finally:
            self._syncing = False

    def _on_preset(self, change: Any) -> None:
        name = change["new"]
        locked = name != CUSTOM
        if locked:
            self._set_fields(fields_for(PRESETS[name]))
        for w in (self.steps, self.guidance, self.mu, self.std, self.schedule):
            w.disabled = locked
        self._update_ready()

    def _on_custom_field(self, change: Any) -> None:
        if not self._syncing and self.preset.value == CUSTOM:
            self._syncing = True
            try:
                if change["owner"] is self.guidance:
                    # the guidance box is the short way to write a constant schedule
                    self.schedule.value = format_schedule([float(self.guidance.value)] * int(self.steps.value))
                elif change["owner"] is self.steps:
                    try:
                        values = parse_schedule(self.schedule.value)
                    except ValueError:
                        values = ()
                    if values and len(set(values)) == 1:
                        self.schedule.value = format_schedule([values[0]] * int(self.steps.value))
            finally:
                self._syncing = False
        self._update_ready()

    def sampler_preset(self) -> Preset:
        """The sampler parameters the widgets describe (raises ``ValueError`` with the reason)."""
        return sampler(self.preset.value, steps=int(self.steps.value), guidance=float(self.guidance.value),
                       mu=float(self.mu.value), std=float(self.std.value), schedule=self.schedule.value)

    # ------------------------------------------------------------------ size

    def _frame(self) -> Frame | None:
        try:
            return Frame(int(self.width.value), int(self.height.value))
        except (ValueError, TypeError):
            return None

    def _on_frame(self, change: Any) -> None:
        if self._syncing or change["new"] == _CUSTOM_FRAME:
            return
        w, h = (int(v) for v in change["new"].split("x"))
        self._syncing = True
        try:
            self.width.value, self.height.value = w, h
        finally:
            self._syncing = False
        self._on_size(None)

    def _on_size(self, change: Any) -> None:
        w, h = self.width.value, self.height.value
        key = f"{w}x{h}"
        if not self._syncing:
            self._syncing = True
            try:
                known = [v for _, v in frame_choices()]
                self.frame.value = key if key in known else _CUSTOM_FRAME
            finally:
                self._syncing = False
        problem = size_problem(w, h)
        if problem is None:
            f = Frame(w, h)
            self.size_status.value = _line(f"{key} · {f.aspect_ratio} · {f.image_tokens} image tokens", _GREEN)
            self.snap_button.layout.display = "none"
        else:
            near = nearest_frame(w, h)
            self.size_status.value = _line(f"size {key} refused: {problem}", _RED)
            self.snap_button.description = f"use {near.width}x{near.height} ({near.aspect_ratio})"
            self.snap_button.layout.display = None
        if change is not None:
            self._debouncer()
        self._update_ready()

    def _snap(self) -> None:
        near = nearest_frame(self.width.value, self.height.value)
        self.frame.value = f"{near.width}x{near.height}"

    # ------------------------------------------------------------------ readiness and state

    def _seed_list(self) -> list[int]:
        if self.seeds.value.strip():
            return parse_seeds(self.seeds.value)
        seed = int(self.seed.value)
        if not 0 <= seed < 2**64:
            raise ValueError(f"seed {seed}: must be between 0 and 2**64-1")
        return [seed]

    def problems(self) -> list[str]:
        """Why Generate cannot run now (empty when it can), one line each, size first."""
        out: list[str] = []
        problem = size_problem(self.width.value, self.height.value)
        if problem is not None:
            out.append(f"size {self.width.value}x{self.height.value}: {problem}")
        try:
            self.sampler_preset()
        except ValueError as exc:
            out.append(f"sampler: {exc}")
        try:
            self._seed_list()
        except ValueError as exc:
            out.append(str(exc))
        if self.renderer is None:
            out.append("authoring only: no renderer")
        return out

    def _update_ready(self) -> None:
        try:
            p = self.sampler_preset()
            self.schedule_note.value = _line(
                f"{p.name if p.name != 'custom' else 'custom'} · {p.steps} steps · run order {schedule_summary(p.schedule)}"
                f" · mu {p.mu:g} · std {p.std:g}", _GREEN)
        except ValueError as exc:
            self.schedule_note.value = _line(f"sampler: {exc}", _RED)
        self.generate_button.disabled = bool(self.problems()) or self._busy

    def state(self) -> dict[str, Any]:
        """Every widget's value, as "load this recipe" restores it."""
        return {
            "caption": self.editor.value, "idea": self.idea.value, "backend": self.backend.value,
            "preset": self.preset.value, "steps": self.steps.value, "guidance": self.guidance.value,
            "mu": self.mu.value, "std": self.std.value, "schedule": self.schedule.value,
            "raise_on_issues": self.raise_on_issues.value, "frame": self.frame.value,
            "width": self.width.value, "height": self.height.value, "seed": self.seed.value, "seeds": self.seeds.value,
        }

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Set the widgets from :meth:`state` output (missing keys keep their value)."""
        unknown = set(state) - set(_STATE_KEYS)
        if unknown:
            raise ValueError(f"unknown studio state keys: {', '.join(sorted(unknown))}")
        if "preset" in state:
            self.preset.value = state["preset"]
        self._syncing = True
        try:
            for key in ("steps", "guidance", "mu", "std", "schedule"):
                if key in state:
                    getattr(self, key).value = state[key]
        finally:
            self._syncing = False
        for key in ("width", "height"):
            if key in state:
                self._syncing = True
                try:
                    getattr(self, key).value = state[key]
                finally:
                    self._syncing = False
        self._on_size(None)
        for key, widget in (("caption", self.editor), ("idea", self.idea), ("backend", self.backend),
                            ("raise_on_issues", self.raise_on_issues), ("seed", self.seed), ("seeds", self.seeds)):
            if key in state:
                widget.value = state[key]
        self.flush()
        self.refresh()
        self._update_ready()

    def load_recipe(self, recipe: Any) -> None:
        """Set the caption, sampler, size and seed from a render recipe (for example a PNG's)."""
        p = recipe.preset
        name = preset_name_for(p)
        f = fields_for(p)
        state: dict[str, Any] = {"caption": _pretty(recipe.caption), "preset": name, "width": recipe.width,
                                 "height": recipe.height, "seed": recipe.seed, "seeds": ""}
        if name == CUSTOM:
            state.update(steps=f.steps, guidance=f.guidance, mu=f.mu, std=f.std, schedule=f.schedule)
        self.load_state(state)

    def load_png(self, path: str | Path) -> None:
        """Load the recipe stored in a PNG that captionkit rendered."""
        self.load_recipe(read_recipe(path))

    # ------------------------------------------------------------------ generate

    def _job(self) -> _Job | str:
        problems = self.problems()
        if problems:
            return problems[0]
        text = self.editor.value
        report = verify(text, frame=self._frame(), ignore=["CK408"])
        notes: list[str] = []
        if not report.ok:
            first = report.errors[0]
            count = len(report.errors)
            reason = f"caption has {count} error{'s' if count != 1 else ''}: {first.pointer or '/'}: {first.code} {first.message}"
            if self.raise_on_issues.value:
                return reason
            fixed = fix(text)
            if not fixed.ok:
                return f"{reason} (no safe fix repairs it)"
            text = fixed.text or text
            notes.append(f"rendered the safe-fixed caption ({len(fixed.changes)} change{'s' if len(fixed.changes) != 1 else ''})")
        return _Job(text, self.sampler_preset(), (int(self.width.value), int(self.height.value)), self._seed_list(), tuple(notes))

    def _on_generate(self) -> None:
        if self._busy:
            self.status.value = _line("a render is already running", _AMBER)
            return
        self.flush()
        job = self._job()
        if isinstance(job, str):
            self.status.value = _line(f"refused: {job}", _RED)
            return
        self._start(lambda: self._render(job))

    def _start(self, work: Callable[[], None]) -> None:
        # one background job at a time: the kernel stays free to deliver Cancel clicks
        with self._lock:
            if self._busy:
                return
            self._busy = True

        def run() -> None:
            try:
                work()
            finally:
                self._busy = False
                self._update_ready()

        self._update_ready()
        self._worker = threading.Thread(target=run, name="captionkit-studio", daemon=True)
        self._worker.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running render or expansion; True when nothing is running any more."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
            return not worker.is_alive()
        return True

    def generate(self, *, wait: bool = True, timeout: float | None = None) -> Generation | None:
        """Press Generate; with ``wait`` return the new images (None if refused, cancelled or failed)."""
        before = self.last
        self.generate_button.click()
        if wait:
            self.wait(timeout)
            return self.last if self.last is not before else None
        return None

    def cancel(self) -> None:
        """Stop the running render at the next step; nothing is saved."""
        if self._cancel is not None:
            self._cancel.cancel()
            self.progress_label.value = _line("cancelling…", _AMBER)

    def _render(self, job: _Job) -> None:
        steps = job.preset.steps
        chunks = math.ceil(len(job.seeds) / self.batch_size)
        token = CancelToken()
        self._cancel = token
        self.generate_button.disabled = True
        self.cancel_button.disabled = False
        self.progress.bar_style = "info"
        self.progress.value = 0
        self.progress.max = 1 + chunks * (steps + 1)
        self.status.value = _line(f"rendering {len(job.seeds)} image{'s' if len(job.seeds) != 1 else ''} at "
                                  f"{job.size[0]}x{job.size[1]} · {job.preset.name} · {steps} steps")
        done = {"units": 0, "decoding": False, "step": 0}

        def on_progress(event: ProgressEvent) -> None:
            if event.phase == "load":
                self.progress_label.value = _line("loading the pipeline…")
            elif event.phase == "encode":
                done["units"] = max(done["units"], 1)
                self.progress_label.value = _line("encoding the caption")
            elif event.phase == "step":
                if done["decoding"]:
                    done["units"] += 1  # the previous chunk's decode has finished
                    done["decoding"] = False
                done["units"] += 1
                done["step"] = event.step
                self.progress_label.value = _line(f"step {event.step}/{event.steps}")
            elif event.phase == "decode":
                done["decoding"] = True
                self.progress_label.value = _line("decoding")
            self.progress.value = min(done["units"], self.progress.max)

        state = self.state()
        try:
            result = generate(job.caption, renderer=self.renderer, preset=job.preset, size=job.size, seeds=job.seeds,
                              out=self.out, name=self.name, batch_size=self.batch_size, on_progress=on_progress,
                              cancel=token)
        except Cancelled:
            self.progress.bar_style = "warning"
            self.progress_label.value = _line(f"cancelled at step {done['step']}/{steps}", _AMBER)
            self.status.value = _line("cancelled: nothing was saved", _AMBER)
            return
        except RenderError as exc:
            self.progress.bar_style = "danger"
            self.status.value = _line(f"refused: {exc}", _RED)
            return
        except Exception as exc:  # the panel is the only place a person would see it
            self.progress.bar_style = "danger"
            self.status.value = _line(f"render failed: {type(exc).__name__}: {exc}", _RED)
            return
        finally:
            self._cancel = None
            self.cancel_button.disabled = True
        self.progress.value = self.progress.max
        self.progress.bar_style = "success"
        self.progress_label.value = _line("done", _GREEN)
        self.last = result
        self.image.value = png_bytes(result.image, 1024)
        self.timing.value = (
            f'<div class="ck-timing" data-s-per-step="{result.seconds_per_step or 0:.4f}">'
            + _line(result.timing() + (f" · saved {result.paths[0].name}" if result.paths else ""), _GREEN)
            + "</div>"
        )
        saved = f" · saved to {result.paths[0].parent}" if result.paths else ""
        self.status.value = _line("; ".join([*job.notes, f"{result.timing()}{saved}"]), _GREEN)
        for i, r in enumerate(result.results):
            self._add_history(r, result.paths[i] if result.paths else None, {**state, "seed": r.recipe.seed, "seeds": ""},
                              result.seconds_per_step)
        self.refresh_memory()

    # ------------------------------------------------------------------ memory and history

    def refresh_memory(self) -> None:
        """Read the memory figures now and redraw the panel."""
        try:
            if self.renderer is not None:
                report = self.renderer.memory()
            else:
                report = memory_report("cpu")
        except ImportError:
            self.memory_panel.value = _line("memory figures need psutil (pip install 'captionkit[notebook]')")
            return
        self.memory_panel.value = memory_html(report)

    def _add_history(self, result: Any, path: Path | None, state: dict[str, Any], spp: float | None) -> None:
        entry = HistoryEntry(result, path, state, spp)
        r = result.recipe
        button = W.Button(description="load this recipe", layout=W.Layout(width="150px"))
        button.on_click(lambda _: self.load_state(entry.state))
        speed = f" · {spp:.3f} s/step" if spp is not None else ""
        recipe = escape("\n".join(f"{k}: {v}" for k, v in recipe_rows(r)), quote=True)
        info = W.HTML(
            f'<div title="{recipe}" style="font-family:system-ui,sans-serif;font-size:11px;line-height:1.3;width:150px">'
            f"seed {r.seed} · {r.width}x{r.height}<br>{r.preset.name} · {r.preset.steps} steps{speed}<br>"
            f'<span style="color:{_GREY}">{_short(r.caption)}</span></div>'
        )
        thumb = W.Image(value=png_bytes(result.image, 150), format="png", layout=W.Layout(width="150px"))
        entry.load_button = button
        entry.box = W.VBox([thumb, info, button], layout=W.Layout(margin="0 10px 0 0", min_width="160px"))
        self.history.insert(0, entry)
        del self.history[self.history_limit :]
        self.history_box.children = tuple(e.box for e in self.history)


# ---------------------------------------------------------------------- helpers


def _initial_frame(size: Any) -> tuple[int, int]:
    if isinstance(size, tuple):
        return int(size[0]), int(size[1])
    try:
        f = Frame.parse(str(size))
    except ValueError as exc:
        raise ValueError(f"studio size: {exc}") from None
    return f.width, f.height


def _initial_text(caption: Any, frame: tuple[int, int]) -> str:
    if caption is None:
        return editor_text(template("poster", Frame(*frame) if size_problem(*frame) is None else None).build().to_dict())
    if isinstance(caption, (str, bytes)):
        # verbatim: the editor must show the problems it is there to find
        return caption.decode("utf-8") if isinstance(caption, bytes) else caption
    if isinstance(caption, Caption):
        return editor_text(caption.to_dict())
    # plain data keeps its own key order, for the same reason
    return editor_text(caption)


def editor_text(data: Any, indent: int = 0) -> str:
    """JSON for the editor: indented, with boxes and palettes kept on one line, keys in the order given.

    >>> print(editor_text({"bbox": [1, 2, 3, 4], "palette": ["#FFFFFF"], "more": {"a": []}}))
    {
      "bbox": [1, 2, 3, 4],
      "palette": ["#FFFFFF"],
      "more": {
        "a": []
      }
    }
    """
    pad = "  " * (indent + 1)
    if isinstance(data, dict) and data:
        items = [f"{pad}{json.dumps(k, ensure_ascii=False)}: {editor_text(v, indent + 1)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * indent + "}"
    if isinstance(data, list) and data and any(isinstance(v, (dict, list)) for v in data):
        items = [pad + editor_text(v, indent + 1) for v in data]
        return "[\n" + ",\n".join(items) + "\n" + "  " * indent + "]"
    return json.dumps(data, ensure_ascii=False, separators=(", ", ": "))


def _pretty(text: str) -> str:
    # a recipe's canonical caption, indented for people
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return editor_text(data) if isinstance(data, dict) else text


def _caption_or_none(text: str) -> Caption | None:
    try:
        data = json.loads(text)
        return Caption.model_validate(data)
    except (ValueError, TypeError):
        return None


def _short(caption_text: str, limit: int = 70) -> str:
    try:
        data = json.loads(caption_text)
        words = data.get("high_level_description") or data["compositional_deconstruction"]["background"]
    except (ValueError, KeyError, TypeError, AttributeError):
        words = caption_text
    words = str(words)
    return escape(words if len(words) <= limit else words[: limit - 1] + "…")


def _renderer_name(renderer: Any) -> str:
    model = getattr(renderer, "model", None) or "pipeline"
    device = getattr(renderer, "device", None) or "?"
    return f"{model} on {device}"
