"""Bounded-concurrency batches over the async client."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio

from captionkit.magic._result import BatchItem
from captionkit.magic.errors import ConfigurationError

if TYPE_CHECKING:
    from captionkit.magic._client import AsyncMagicPromptClient


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


async def run_batch(
    client: AsyncMagicPromptClient,
    ideas: Iterable[str | Mapping[str, Any]],
    aspect_ratio: Any,
    *,
    concurrency: int,
    progress: bool,
    on_result: Callable[[BatchItem], Awaitable[None] | None] | None,
) -> list[BatchItem]:
    if concurrency < 1:
        raise ConfigurationError(f"concurrency must be at least 1, got {concurrency}")
    items = normalise_items(ideas)
    results: list[BatchItem | None] = [None] * len(items)
    next_index = 0
    bar = _progress(len(items)) if progress else None

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(items):
            index = next_index
            next_index += 1
            item_id, idea, aspect = items[index]
            try:
                result = await client.expand(idea, aspect if aspect is not None else aspect_ratio)
                record = BatchItem(index, item_id, idea, result=result)
            except Exception as exc:  # one bad item must not abort the batch
                record = BatchItem(index, item_id, idea, error=exc)
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
            for _ in range(min(concurrency, len(items))):
                group.start_soon(worker)
    finally:
        if bar is not None:
            bar[0].stop()
    return [r for r in results if r is not None]


def _progress(total: int) -> tuple[Any, Any]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(
        TextColumn("expanding"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("expand", total=total)
    return bar, task
