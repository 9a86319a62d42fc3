"""``generate()``: render, time (s/step), save and show, the way a playground does it.

The Studio's Generate button runs the same function, so a notebook cell and the
panel produce the same files and the same timing.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from captionkit.notebook._display import Gallery, memory_html, png_bytes, result_html
from captionkit.render._tiny import build_tiny_pipeline
from captionkit.render.errors import RenderError
from captionkit.render.pipeline import Renderer, _quiet_imports
from captionkit.render.presets import DEFAULT_PRESET, Preset
from captionkit.render.progress import CancelToken, ProgressCallback, ProgressEvent

__all__ = ["TINY", "Generation", "StepClock", "free_path", "generate", "load_renderer"]

TINY = "tiny"
"""The model name :func:`load_renderer` reads as the tiny random pipeline."""

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def load_renderer(model: str | os.PathLike[str] | None = None, **options: Any) -> Any:
    """Load a renderer once, to keep warm for every render of the session.

    Args:
        model: A Hub repo id or local folder (``DEFAULT_MODEL`` when None), or
            ``"tiny"``: a tiny randomly initialised pipeline built in memory, which
            runs on any CPU in a fraction of a second and draws noise. It exercises
            every code path of a real render, so the whole playground works without
            a GPU or downloaded weights.
        **options: Passed to :class:`~captionkit.render.Renderer` (device,
            quantization, dtype, offline...).

    Raises:
        RenderError: the render extra is missing, or the model cannot load (one line).
    """
    missing = [m for m in ("torch", "diffusers", "transformers") if importlib.util.find_spec(m) is None]
    if missing:
        raise RenderError(
            f"rendering needs the render extra ({', '.join(missing)} missing): pip install 'captionkit[render]'"
        )
    if model is not None and os.fspath(model) == TINY:
        options.setdefault("dtype", "float32")
        options.setdefault("compile", False)
        with _quiet_imports():
            pipe = build_tiny_pipeline(seed=0)
        return Renderer("captionkit-tiny", pipeline=pipe, **options)
    return Renderer(model, **options).load()


class StepClock:
    """Measures seconds per denoising step from progress events.

    Only the time between consecutive steps counts, so text encoding, VAE
    decoding and saving do not inflate the figure.

    >>> clock = StepClock()
    >>> for step, t in [(1, 1.0), (2, 1.5), (3, 2.0)]:
    ...     clock(ProgressEvent("step", step=step, steps=3, elapsed=t))
    >>> clock.seconds_per_step
    0.5
    """

    def __init__(self, forward: ProgressCallback | None = None) -> None:
        self.forward = forward
        self._last: tuple[int, float] | None = None
        self._total = 0.0
        self._count = 0

    def __call__(self, event: ProgressEvent) -> None:
        if event.phase == "step":
            if self._last is not None and event.step == self._last[0] + 1:
                self._total += event.elapsed - self._last[1]
                self._count += 1
            self._last = (event.step, event.elapsed)
        else:
            self._last = None
        if self.forward is not None:
            self.forward(event)

    @property
    def seconds_per_step(self) -> float | None:
        """Mean seconds between consecutive steps, or None before two steps were seen."""
        return self._total / self._count if self._count else None


def free_path(folder: str | os.PathLike[str], stem: str, seed: int) -> Path:
    """A file name in ``folder`` that no existing file has: ``stem-sSEED.png``, then ``-2``, ``-3``...

    A new render never replaces an earlier one.
    """
    base = Path(folder)
    name = _SAFE.sub("_", stem) or "render"
    path = base / f"{name}-s{seed}.png"
    n = 2
    while path.exists():
        path = base / f"{name}-s{seed}-{n}.png"
        n += 1
    return path


@dataclass
class Generation:
    """The images of one ``generate()`` call, where they were saved, and how long it took.

    Attributes:
        results: One :class:`~captionkit.render.RenderResult` per seed.
        paths: The PNG written for each result (empty when nothing was saved).
        seconds: Wall time of the render, encoding and decoding included.
        seconds_per_step: Mean time of one denoising step (None if it could not be measured).
        memory: Memory figures right after the render (None without psutil).
    """

    results: list[Any]
    paths: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    seconds_per_step: float | None = None
    memory: Any = None

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self) -> Any:
        return iter(self.results)

    def __getitem__(self, index: int) -> Any:
        return self.results[index]

    @property
    def image(self) -> Any:
        """The first image."""
        return self.results[0].image

    def timing(self) -> str:
        """One line: images, seconds, s/step.

        >>> Generation([], seconds=2.5, seconds_per_step=0.1).timing()
        '0 images in 2.50 s · 0.100 s/step'
        """
        n = len(self.results)
        line = f"{n} image{'' if n == 1 else 's'} in {self.seconds:.2f} s"
        if self.seconds_per_step is not None:
            line += f" · {self.seconds_per_step:.3f} s/step"
        return line

    def _repr_png_(self) -> bytes | None:
        return png_bytes(self.image) if self.results else None

    def _repr_html_(self) -> str:
        spp = "" if self.seconds_per_step is None else f"{self.seconds_per_step:.4f}"
        head = (
            f'<div class="ck-generation" data-images="{len(self.results)}" data-seconds="{self.seconds:.4f}" '
            f'data-s-per-step="{spp}" style="font-family:system-ui,sans-serif;font-size:13px">'
            f'<div style="font-weight:600;margin-bottom:6px">{self.timing()}</div>'
        )
        if len(self.results) == 1:
            body = result_html(self.results[0], path=self.paths[0] if self.paths else None)
        else:
            body = Gallery([(r.image, f"seed {r.recipe.seed}", r.recipe) for r in self.results])._repr_html_()
        mem = f'<div style="margin-top:8px">{memory_html(self.memory)}</div>' if self.memory is not None else ""
        return head + body + mem + "</div>"


def generate(
    caption: Any,
    *,
    renderer: Any,
    preset: str | Preset = DEFAULT_PRESET,
    size: str | tuple[int, int] = (1024, 1024),
    seed: int | None = None,
    seeds: Sequence[int] | None = None,
    out: str | os.PathLike[str] | None = "renders",
    name: str = "render",
    batch_size: int = 4,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Generation:
    """Render a caption, time it, save the PNGs (recipe in their metadata) and return them for display.

    Everything is checked before the pipeline runs (caption, size, preset, seeds).
    When cancelled, nothing is saved: :class:`~captionkit.render.Cancelled` is raised
    and the folder is as it was.

    Args:
        caption: A ``Caption``, a dict or caption text.
        renderer: A loaded :class:`~captionkit.render.Renderer` (see :func:`load_renderer`).
        preset: Preset name or :class:`~captionkit.render.Preset`.
        size: ``"WxH"`` or ``(width, height)``.
        seed: One seed (random and recorded when None).
        seeds: Several seeds, one image each.
        out: Folder for the PNG files; None keeps them in memory only.
        name: File name stem (``name-sSEED.png``; never replaces an existing file).
        batch_size: Images per pipeline call.
        on_progress: Called with each progress event (encode, step, decode).
        cancel: Stops the render at the next step.
    """
    import time

    clock = StepClock(on_progress)
    t0 = time.perf_counter()
    results = renderer.render(
        caption, preset=preset, size=size, seed=seed, seeds=seeds, batch_size=batch_size, label=name,
        on_progress=clock, cancel=cancel,
    )
    seconds = time.perf_counter() - t0
    paths: list[Path] = []
    if out is not None:
        for result in results:
            paths.append(result.save(free_path(out, name, result.recipe.seed)))
    try:
        memory = renderer.memory()
    except ImportError:  # psutil missing: the figures are optional
        memory = None
    return Generation(results, paths, seconds, clock.seconds_per_step, memory)
