"""Bounded-concurrency batches: any async call over many items, results in input order.

The runner knows nothing of clients: :func:`run_batch` takes the ``expand`` callable
(an :class:`~captionkit.magic.AsyncMagicPromptClient`'s bound method, say), and
:func:`run_bounded` runs any per-item coroutine (``describe_many`` uses it too).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import anyio

from captionkit.magic._result import BatchItem, ExpandResult
from captionkit.magic.errors import ConfigurationError

__all__ = ["normalise_items", "run_batch", "run_bounded"]

T = TypeVar("T")
R = TypeVar("R")


def normalise_items(ideas: Iterable[str | Mapping[str, Any]]) -> list[tuple[str, str, Any]]:
    """``(id, idea, aspect or None)`` per input item.

    >>> normalise_items(["a kite", {"id": "k2", "idea": "a boat", "aspect": "3:2"}])
    [('0', 'a kite', None), ('k2', 'a boat', '3:2')]
    """
    out: list[tuple[str, str, Any]] = []
    for index, item in enumerate(ideas):
        if isinstance(item, str):
            out.append((str(index), item, None))
            continue
        if not isinstance(item, Mapping):
            raise ConfigurationError(f"item {index}: expected a string or an object, got {type(item).__name__}")
        idea = item.get("idea", item.get("prompt"))
        if not isinstance(idea, str):
            raise ConfigurationError(f"item {index}: needs an 'idea' string")
        item_id = item.get("id", index)
        aspect = item.get("aspect_ratio", item.get("aspect"))
        out.append((str(item_id), idea, aspect))
    return out


async def run_bounded(
    jobs: Sequence[T],
    run: Callable[[int, T], Awaitable[R]],
    *,
    concurrency: int,
    label: str | None = None,
    on_result: Callable[[R], Awaitable[None] | None] | None = None,
) -> list[R]:
    """``run(index, job)`` for every job, at most ``concurrency`` at once; results in input order.

    ``run`` records a failure in its result rather than raising, so one bad job never stops
    the others. ``label`` shows a rich progress bar on stderr with that verb ("expanding").

    >>> import anyio
    >>> async def double(index, job):
    ...     return job * 2
    >>> anyio.run(lambda: run_bounded([3, 1, 2], double, concurrency=2))
    [6, 2, 4]
    """
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
    results: list[R | None] = [None] * len(jobs)
    next_index = 0
    bar = _progress(len(jobs), label) if label is not None else None

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(jobs):
            index = next_index
            next_index += 1
            record = await run(index, jobs[index])
            results[index] = record
            if bar is not None:
                bar[0].advance(bar[1], 1)
            if on_result is not None:
                outcome = on_result(record)
                if inspect.isawaitable(outcome):
                    await outcome

    try:
        if bar is not None:
            bar[0].start()
        async with anyio.create_task_group() as group:
            for _ in range(min(concurrency, len(jobs))):
                group.start_soon(worker)
    finally:
        if bar is not None:
            bar[0].stop()
    return [r for r in results if r is not None]


async def run_batch(
    expand: Callable[[str, Any], Awaitable[ExpandResult]],
    ideas: Iterable[str | Mapping[str, Any]],
    aspect_ratio: Any,
    *,
    concurrency: int,
    progress: bool,
    on_result: Callable[[BatchItem], Awaitable[None] | None] | None,
) -> list[BatchItem]:
    """Expand many ideas with ``expand(idea, aspect)``: one :class:`BatchItem` per idea, in input order."""
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
    items = normalise_items(ideas)

    async def one(index: int, item: tuple[str, str, Any]) -> BatchItem:
        item_id, idea, aspect = item
        try:
            result = await expand(idea, aspect if aspect is not None else aspect_ratio)
        except Exception as exc:  # one bad item must not abort the batch
            return BatchItem(index, item_id, idea, error=exc)
        return BatchItem(index, item_id, idea, result=result)

    return await run_bounded(items, one, concurrency=concurrency, label="expanding" if progress else None,
                             on_result=on_result)


def _progress(total: int, label: str) -> tuple[Any, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn(label),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(label, total=total)
    return bar, task
