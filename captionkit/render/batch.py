"""Batch rendering: many captions, one warm pipeline, resume, a manifest, several GPUs.

Inputs are a caption file (``.json``), a JSON Lines file (one caption per line,
or the records ``captionkit expand --batch`` writes: their caption, their ``id``
for the file name and their aspect ratio for the size), a folder of either, or
a PNG rendered by captionkit (its recipe is reused).
Each output is ``<name>-s<seed>.png``; outputs already present are skipped, so
an interrupted batch resumes where it stopped. ``manifest.json`` in the output
folder lists every item with its status.

Under ``torchrun``/``accelerate launch`` (``WORLD_SIZE`` > 1) each process takes
every ``WORLD_SIZE``-th item, renders on its own GPU, and rank 0 merges the
results into one manifest.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from captionkit._frames import parse_size
from captionkit._io import check_writable
from captionkit._sources import Source, iter_files, iter_sources
from captionkit.render._core import canonical_text
from captionkit.render._core import parse_size as render_size
from captionkit.render.errors import Cancelled, RenderError
from captionkit.render.metadata import Recipe, read_recipe, write_atomic
from captionkit.render.presets import DEFAULT_PRESET, Preset, resolve_preset
from captionkit.render.progress import CancelToken, ProgressCallback, ProgressEvent

__all__ = [
    "BatchItem", "BatchResult", "DistContext", "ItemPlan", "batch_settings", "iter_items", "output_name", "plan_batch",
    "recipe_difference", "render_batch", "render_planned", "report_skips", "settled_entries", "unique_names",
    "write_manifest",
]

MANIFEST = "manifest.json"
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class BatchItem:
    """One caption to render.

    Attributes:
        name: Output name stem (from the file name, plus the line for JSONL, or
            the record's ``id`` for the output of ``captionkit expand --batch``).
        source: Where it came from (``file`` or ``file:line``).
        caption: Caption text (or None when ``error`` is set).
        recipe: A recipe read from a PNG, reused unless overridden.
        error: Why the item cannot be read (it is reported, not rendered).
        size: ``(width, height)`` the item asks for (from a record's aspect
            ratio), used unless a size is given for the whole batch.
    """

    name: str
    source: str
    caption: str | None
    recipe: Recipe | None = None
    error: str | None = None
    size: tuple[int, int] | None = None


def _stem(path: Path) -> str:
    return _SAFE.sub("_", path.stem) or "caption"


def _item(path: Path, src: Source) -> BatchItem:
    """A batch item from one source of the shared reader."""
    if src.record:
        name = _SAFE.sub("_", src.id or "") or f"{_stem(path)}-{src.line:05d}"
    elif src.line is not None:
        name = f"{_stem(path)}-{src.line:05d}"
    else:
        name = _stem(path)
    where = src.label
    if src.text is None:
        return BatchItem(name, where, None, error=f"{where}: {src.problem}")
    size = None
    if src.aspect is not None and src.aspect.strip().lower() != "auto":
        try:
            size = size_for_aspect(src.aspect)
        except ValueError as exc:
            return BatchItem(name, where, None, error=f"{where}: aspect_ratio {src.aspect!r}: {exc}")
    return BatchItem(name, where, src.text, size=size)


def size_for_aspect(aspect: str) -> tuple[int, int]:
    """The frame a record's aspect ratio asks for, from the one table of frames.

    >>> size_for_aspect("16:9"), size_for_aspect("4:1")
    ((1920, 1088), (1600, 400))
    """
    return parse_size(aspect)


def _items_from_file(path: Path) -> Iterator[BatchItem]:
    if path.suffix.lower() == ".png":
        try:
            recipe = read_recipe(path)
        except RenderError as exc:
            yield BatchItem(_stem(path), str(path), None, error=str(exc))
            return
        # kite-s7.png renders again as kite-s7.png, not kite-s7-s7.png
        yield BatchItem(re.sub(r"-s\d+$", "", _stem(path)), str(path), recipe.caption, recipe=recipe)
        return
    for src in iter_sources([path]):
        yield _item(path, src)


def iter_items(source: str | os.PathLike[str]) -> list[BatchItem]:
    """Read the items of a caption file, JSONL file, PNG or folder (sorted by name).

    Caption files and JSONL files (the output of ``captionkit expand --batch``
    included) are read by the shared reader, as every command reads them.

    Raises:
        RenderError: the path does not exist or the folder holds no captions.
    """
    path = Path(source)
    if path.is_dir():
        files = list(iter_files([path], suffixes=(".json", ".jsonl", ".png"), recursive=False))
        if not files:
            raise RenderError(f"{path}: no .json, .jsonl or .png captions in this folder")
        items = [it for f in files for it in _items_from_file(Path(f))]
    elif path.is_file():
        items = list(_items_from_file(path))
    else:
        raise RenderError(f"{path}: no such file or folder")
    return unique_names(items)


def unique_names(items: Sequence[BatchItem]) -> list[BatchItem]:
    """Give repeated output names a ``-2``, ``-3``... suffix, in order (items from several sources).

    >>> [it.name for it in unique_names([BatchItem("a", "x", "{}"), BatchItem("a", "y", "{}")])]
    ['a', 'a-2']
    """
    seen: dict[str, int] = {}
    unique = []
    for it in items:
        n = seen.get(it.name, 0)
        seen[it.name] = n + 1
        unique.append(it if n == 0 else replace(it, name=f"{it.name}-{n + 1}"))
    return unique


def output_name(name: str, seed: int) -> str:
    """The file name of an output.

    >>> output_name("poster", 42)
    'poster-s42.png'
    """
    return f"{name}-s{seed}.png"


@dataclass
class DistContext:
    """This process's place in a multi-process run (one process per GPU)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialized_here: bool = False

    @classmethod
    def from_env(cls) -> DistContext:
        """Join the process group when launched by torchrun/accelerate (``WORLD_SIZE`` > 1)."""
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world <= 1:
            return cls()
        import torch
        import torch.distributed as dist

        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
        here = False
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(local)
            dist.init_process_group(backend=backend)
            here = True
        return cls(rank, world, local, here)

    @property
    def device(self) -> str:
        """``cuda:LOCAL_RANK`` under CUDA, else ``auto``."""
        if self.world_size > 1:
            import torch

            if torch.cuda.is_available():
                return f"cuda:{self.local_rank}"
        return "auto"

    def gather(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """All ranks' entries on every rank (this rank's alone when single-process)."""
        if self.world_size <= 1:
            return entries
        import torch.distributed as dist

        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, entries)
        return [e for part in parts for e in (part or [])]

    def close(self) -> None:
        """Leave the process group if this context joined it."""
        if self.initialized_here:
            import torch.distributed as dist

            try:
                # every rank reaches this point before any tears the group down;
                # gloo aborts a process whose peer disconnects mid-teardown
                dist.barrier()
            finally:
                dist.destroy_process_group()


@dataclass
class BatchResult:
    """What a batch did.

    Attributes:
        entries: One manifest entry per output (all ranks).
        rendered: Images written by this run.
        skipped: Outputs already present.
        failed: Items that could not be rendered.
    """

    entries: list[dict[str, Any]] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for e in self.entries if e["status"] == status)

    @property
    def rendered(self) -> int:
        return self.count("rendered")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    @property
    def failed(self) -> int:
        return self.count("failed")


def _load_manifest(out: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return {e["file"]: e for e in data.get("items", []) if isinstance(e, dict) and "file" in e}
    except (OSError, ValueError, AttributeError):
        return {}


def write_manifest(out: Path, entries: list[dict[str, Any]], settings: dict[str, Any]) -> None:
    """Merge ``entries`` into ``out/manifest.json`` (atomically); a kept output keeps the record of the run that made it."""
    merged = _load_manifest(out)
    for e in entries:
        key = e["file"]
        if e["status"] == "skipped" and key in merged and merged[key]["status"] == "rendered":
            continue  # keep the record of the run that produced it
        merged[key] = e
    items = sorted(merged.values(), key=lambda e: e["file"])
    payload = {"format": 1, "settings": settings, "items": items}
    write_atomic(out / MANIFEST, (json.dumps(payload, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def _same_model(a: str | None, b: str | None) -> bool:
    if a == b or a is None or b is None:
        return True
    if os.path.isdir(os.path.expanduser(a)) and os.path.isdir(os.path.expanduser(b)):
        return os.path.realpath(os.path.expanduser(a)) == os.path.realpath(os.path.expanduser(b))
    return False


def recipe_difference(existing: Recipe, wanted: Recipe, *, quantization: str = "auto", backend: str = "auto") -> str | None:
    """The first setting in which an existing output differs from what a run would render, or None.

    Compared: the caption, seed, size, preset (or custom parameters), model,
    revision, dtype, and the quantization and backend when they were asked
    for explicitly (``auto`` accepts what was used).

    >>> from captionkit.render.presets import PRESETS
    >>> old = Recipe(caption="{}", seed=1, preset=PRESETS["V4_DEFAULT_20"], width=1024, height=1024)
    >>> recipe_difference(old, replace(old, width=256, height=256))
    'size 1024x1024 (this run: 256x256)'
    >>> recipe_difference(old, old) is None
    True
    """
    pairs: list[tuple[str, Any, Any]] = [
        ("caption", existing.caption, wanted.caption),
        ("seed", existing.seed, wanted.seed),
        ("size", f"{existing.width}x{existing.height}", f"{wanted.width}x{wanted.height}"),
    ]
    for name, old, new in pairs:
        if old != new:
            if name == "caption":
                return "another caption (this run's caption differs)"
            return f"{name} {old} (this run: {new})"
    if existing.preset != wanted.preset:
        def describe(p: Any) -> str:
            return f"{p.name} ({p.steps} steps, mu {p.mu:g}, std {p.std:g})"

        return f"preset {describe(existing.preset)} (this run: {describe(wanted.preset)})"
    if not _same_model(existing.model, wanted.model):
        return f"model {existing.model} (this run: {wanted.model})"
    if existing.revision and wanted.revision and existing.revision != wanted.revision:
        return f"revision {existing.revision} (this run: {wanted.revision})"
    if existing.dtype and wanted.dtype and existing.dtype != wanted.dtype:
        return f"dtype {existing.dtype} (this run: {wanted.dtype})"
    if quantization != "auto" and existing.quantization and existing.quantization != quantization:
        return f"quantization {existing.quantization} (this run: {quantization})"
    if backend != "auto" and existing.backend != backend:
        return f"backend {existing.backend} (this run: {backend})"
    return None


def _check_existing(path: Path, wanted: Recipe | None, renderer: Any) -> None:
    """Refuse (one line, the difference and the flag) to keep an output made with other settings."""
    if wanted is None:
        return
    hint = "pass --overwrite to render it again, or choose another --out"
    try:
        existing = read_recipe(path)
    except RenderError:
        raise RenderError(f"{path}: exists and is not a captionkit render; {hint}") from None
    diff = recipe_difference(
        existing,
        wanted,
        quantization=str(getattr(renderer, "quantization_requested", "auto") or "auto"),
        backend=str(getattr(renderer, "backend_requested", "auto") or "auto"),
    )
    if diff is not None:
        raise RenderError(f"{path}: already rendered with {diff}; {hint}")


@dataclass(frozen=True)
class ItemPlan:
    """What a run does with one item, decided before anything renders.

    Attributes:
        index: The item's place in this run (for progress).
        item: The item.
        seeds: Every seed of the item (one output each).
        preset: The preset it renders with (None for an unreadable item).
        size: The size it renders at (None for an unreadable item).
        todo: The seeds still to render; the others are kept (resume).
    """

    index: int
    item: BatchItem
    seeds: tuple[int, ...]
    preset: Any = None
    size: Any = None
    todo: tuple[int, ...] = ()


def batch_settings(renderer: Any, preset: str | Preset | None, size: str | tuple[int, int] | None,
                   world_size: int = 1) -> dict[str, Any]:
    """The ``settings`` block of the manifest for a run."""
    return {
        "model": getattr(renderer, "model", None),
        "backend": getattr(renderer, "backend_requested", None),
        "preset": preset.name if isinstance(preset, Preset) else preset,
        "size": size if isinstance(size, str) or size is None else f"{size[0]}x{size[1]}",
        "world_size": world_size,
    }


def plan_batch(
    renderer: Any,
    items: Sequence[BatchItem],
    out: Path,
    *,
    preset: str | Preset | None = None,
    size: str | tuple[int, int] | None = None,
    seeds: Sequence[int] | None = None,
    resume: bool = True,
) -> list[ItemPlan]:
    """Decide, for every item, its seeds, preset, size and the outputs still to render.

    Every engine (one process, torchrun, Ray) plans with this, so a resume
    conflict stops a run before any render, and a re-run renders exactly
    what is missing.

    Raises:
        RenderError: an existing output was made with other settings (resume).
    """
    plans: list[ItemPlan] = []
    for index, it in enumerate(items):
        rec = it.recipe
        item_seeds = tuple(seeds) if seeds is not None else ((rec.seed,) if rec else (0,))
        if it.error is not None:
            plans.append(ItemPlan(index, it, item_seeds))
            continue
        item_preset = preset if preset is not None else (rec.preset if rec else DEFAULT_PRESET)
        item_size = size if size is not None else (it.size or ((rec.width, rec.height) if rec else (1024, 1024)))
        todo = []
        for s in item_seeds:
            path = out / output_name(it.name, s)
            if resume and path.exists():
                try:
                    width, height = render_size(item_size)
                    wanted: Recipe | None = Recipe(
                        caption=canonical_text(it.caption, it.source), seed=s, preset=resolve_preset(item_preset),
                        width=width, height=height, model=getattr(renderer, "model", None),
                        revision=getattr(renderer, "revision", None), dtype=getattr(renderer, "dtype", None),
                    )
                except RenderError:
                    wanted = None  # the item itself is bad; rendering reports it
                _check_existing(path, wanted, renderer)
            else:
                todo.append(s)
        plans.append(ItemPlan(index, it, item_seeds, item_preset, item_size, tuple(todo)))
    return plans


def settled_entries(plan: ItemPlan, rank: int = 0) -> list[dict[str, Any]]:
    """The manifest entries of a plan that need no render: an unreadable item's, and the outputs kept."""
    it = plan.item
    base = {"name": it.name, "source": it.source, "rank": rank}
    if it.error is not None:
        return [{**base, "file": output_name(it.name, s), "seed": s, "status": "failed", "error": it.error}
                for s in plan.seeds]
    return [{**base, "file": output_name(it.name, s), "seed": s, "status": "skipped"}
            for s in plan.seeds if s not in plan.todo]


def render_planned(
    renderer: Any,
    plan: ItemPlan,
    out: Path,
    *,
    items: int,
    batch_size: int = 4,
    rank: int = 0,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[dict[str, Any]]:
    """Render a plan's missing outputs, write each PNG atomically, and return their manifest entries.

    A problem of this item (its caption, its size, a render error) becomes
    ``failed`` entries; loading problems (weights, device, memory) and an
    unwritable output raise, since they stop the whole run.
    """
    it = plan.item
    if not plan.todo or it.error is not None:
        return []
    base = {"name": it.name, "source": it.source, "rank": rank}
    renderer.load(on_progress)
    # A PNG's guidance cut is reproduced unless the run sets its own.
    extra: dict[str, Any] = {}
    rec = it.recipe
    if rec is not None and rec.cfg_until is not None and getattr(renderer, "cfg_until", None) is None:
        extra["cfg_until"] = rec.cfg_until
    try:
        results = renderer.render(
            it.caption, preset=plan.preset, size=plan.size, seeds=list(plan.todo), batch_size=batch_size,
            label=it.source, item=plan.index, items=items, on_progress=on_progress, cancel=cancel, **extra,
        )
    except RenderError as exc:
        return [{**base, "file": output_name(it.name, s), "seed": s, "status": "failed", "error": str(exc)}
                for s in plan.todo]
    entries = []
    for r in results:
        name = output_name(it.name, r.recipe.seed)
        r.save(out / name)
        entries.append({**base, "file": name, "seed": r.recipe.seed, "status": "rendered",
                        "seconds": round(r.seconds, 3), "preset": r.recipe.preset.name,
                        "size": f"{r.recipe.width}x{r.recipe.height}"})
    return entries


def render_batch(
    renderer: Any,
    items: Sequence[BatchItem],
    out: str | os.PathLike[str],
    *,
    preset: str | Preset | None = None,
    size: str | tuple[int, int] | None = None,
    seeds: Sequence[int] | None = None,
    batch_size: int = 4,
    resume: bool = True,
    dist: DistContext | None = None,
    on_progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> BatchResult:
    """Render ``items`` into ``out`` with one warm renderer.

    ``preset``, ``size`` and ``seeds`` apply to every item; for an item read
    from a PNG, the ones left as None come from its recipe (and the size from
    an expand record's aspect). A bad caption is recorded as failed and the
    batch goes on.

    Resuming keeps an existing output only when its recipe matches this run
    (caption, seed, size, preset, model, dtype, and quantization/backend when
    asked for); any difference stops the batch before rendering anything,
    with a one-line :class:`RenderError` naming it and ``--overwrite``.

    Args:
        renderer: A :class:`~captionkit.render.Renderer`.
        items: From :func:`iter_items`.
        out: Output folder.
        preset: Preset for every item (default preset when None).
        size: Size for every item; when None, an item's own size (its recipe's,
            or its record's aspect ratio), else 1024x1024.
        seeds: Seeds for every item (0 when None and no recipe).
        batch_size: Images per pipeline call.
        resume: Keep outputs that already exist with the same recipe.
        dist: Multi-process context; single process when None.
        on_progress: Progress callback.
        cancel: Cancel token.

    Raises:
        RenderError: an existing output was made with other settings (resume).
        Cancelled: cancelled; finished outputs and the manifest are kept.
    """
    dist = dist or DistContext()
    out_dir = check_writable(out, folder=True)
    mine = list(items)[dist.rank :: dist.world_size]
    entries: list[dict[str, Any]] = []
    settings = batch_settings(renderer, preset, size, dist.world_size)
    # Plan every item first, so a resume conflict stops the batch before any render.
    plans = plan_batch(renderer, mine, out_dir, preset=preset, size=size, seeds=seeds, resume=resume)
    out_dir.mkdir(parents=True, exist_ok=True)
    cancelled = False
    try:
        for plan in plans:
            settled = settled_entries(plan, dist.rank)
            entries.extend(settled)
            report_skips(plan, len(mine), on_progress)
            if plan.item.error is not None or not plan.todo:
                continue
            entries.extend(render_planned(renderer, plan, out_dir, items=len(mine), batch_size=batch_size,
                                          rank=dist.rank, on_progress=on_progress, cancel=cancel))
            if dist.world_size == 1:
                write_manifest(out_dir, entries, settings)
    except (Cancelled, KeyboardInterrupt):
        cancelled = True
        raise
    finally:
        if dist.world_size > 1 and not cancelled:
            everything = dist.gather(entries)
            if dist.rank == 0:
                write_manifest(out_dir, everything, settings)
            entries = everything
        elif entries:
            write_manifest(out_dir, entries, settings)
    return BatchResult(entries)


def report_skips(plan: ItemPlan, items: int, on_progress: ProgressCallback | None) -> None:
    """A ``skip`` progress event for each output of the plan already present."""
    if on_progress is None or plan.item.error is not None:
        return

    for s in plan.seeds:
        if s not in plan.todo:
            on_progress(ProgressEvent("skip", item=plan.index, items=items, label=plan.item.name))
