"""Progress events, the cancel token, and a terminal display for them.

A render reports one stream of :class:`ProgressEvent` values covering every
phase: ``load``, ``encode``, each denoising ``step``, ``decode`` and ``save``.
Programs pass ``on_progress=`` a callable; the CLI draws them with rich.

>>> token = CancelToken()
>>> token.cancelled
False
>>> token.cancel(); token.cancelled
True
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from captionkit.render.errors import Cancelled

__all__ = ["CancelToken", "Phase", "ProgressCallback", "ProgressEvent", "RichProgress"]

Phase = Literal["load", "encode", "step", "decode", "save", "skip", "done"]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    Attributes:
        phase: What is happening: ``load``, ``encode``, ``step``, ``decode``,
            ``save``, ``skip`` (an output already present) or ``done``.
        item: 0-based index of the caption being rendered in this run.
        items: Number of captions in this run.
        step: Denoising steps finished (``step`` phase), else 0.
        steps: Denoising steps per image.
        label: The caption's name (file name or index).
        elapsed: Seconds since the run started.
        message: A line for people, when there is one (the ``load`` event
            carries the chosen quantization and memory plan, and why).
    """

    phase: Phase
    item: int = 0
    items: int = 1
    step: int = 0
    steps: int = 0
    label: str = ""
    elapsed: float = 0.0
    message: str = ""


ProgressCallback = Callable[[ProgressEvent], Any]


class CancelToken:
    """A thread-safe flag that stops a render at the next step boundary.

    Cancelling raises :class:`~captionkit.render.errors.Cancelled` inside the
    render; the image in progress is dropped and nothing is written for it.
    """

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the render to stop."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` if cancelled.

        >>> CancelToken().raise_if_cancelled()
        """
        if self._event.is_set():
            raise Cancelled("render cancelled")


class _Emitter:
    """Stamps events with the elapsed time and checks the cancel token at each one."""

    def __init__(self, callback: ProgressCallback | None, cancel: CancelToken | None) -> None:
        self.callback = callback
        self.cancel = cancel
        self.start = time.perf_counter()

    def __call__(self, phase: Phase, **fields: Any) -> None:
        if self.cancel is not None:
            self.cancel.raise_if_cancelled()
        if self.callback is not None:
            self.callback(ProgressEvent(phase=phase, elapsed=time.perf_counter() - self.start, **fields))


class RichProgress:
    """Draw progress events as one rich progress display on stderr.

    Use as a context manager and pass the instance as ``on_progress``.
    """

    def __init__(self, *, disable: bool = False) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
            disable=disable,
        )
        self._task: Any = None
        self._disabled = disable

    def print(self, text: str) -> None:
        """Print one line above the progress display (plain stderr when the display is off)."""
        if self._disabled:
            import sys

            sys.stderr.write(text + "\n")
        else:
            self._progress.console.print(text, soft_wrap=True, markup=False, highlight=False)

    def __enter__(self) -> RichProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def __call__(self, event: ProgressEvent) -> None:
        where = f"[{event.item + 1}/{event.items}] {event.label}".strip()
        if self._task is None:
            self._task = self._progress.add_task("loading", total=None)
        if event.phase == "load":
            self._progress.update(self._task, description="loading pipeline", total=None, completed=0)
        elif event.phase == "encode":
            self._progress.update(self._task, description=f"{where} encoding", total=event.steps, completed=0)
        elif event.phase == "step":
            self._progress.update(
                self._task, description=f"{where} denoising", total=event.steps, completed=event.step
            )
        elif event.phase in ("decode", "save"):
            self._progress.update(self._task, description=f"{where} {event.phase}")
        elif event.phase == "skip":
            self._progress.update(self._task, description=f"{where} present, skipped")
