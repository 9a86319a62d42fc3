"""Dataset mode of describe: a folder of images gets verified captions, resumably.

Two layouts: **sidecars** (``cat.png`` → ``cat.json`` beside it, one canonical caption per file,
each written atomically) or **one JSONL file** (one record per image, keyed by its path relative
to the folder, each appended whole). Either way a second run skips the images already captioned,
so an interrupted run resumes where it stopped, and nothing that exists is overwritten unless
asked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from captionkit._io import write_atomic
from captionkit._sources import SourceError, resume_records
from captionkit.magic._describe import AsyncDescribeClient, DescribeItem
from captionkit.magic.errors import ConfigurationError
from captionkit.verifier import is_valid

__all__ = ["IMAGE_SUFFIXES", "DatasetReport", "adescribe_dataset", "describe_dataset", "find_images"]

#: File suffixes treated as images when a folder is walked (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff")


@dataclass
class DatasetReport:
    """What a dataset run did.

    Attributes:
        described: Ids of the images captioned in this run.
        skipped: Ids already captioned (a valid sidecar, or a record in the JSONL).
        kept: Ids whose sidecar exists but does not verify: left alone (``overwrite`` redoes them).
        failed: ``(id, one-line error)`` per image that got no caption.
        written: The files written (sidecars, or the JSONL).
    """

    described: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no image failed."""
        return not self.failed

    def summary(self) -> str:
        """One line for people.

        >>> DatasetReport(described=["a"], skipped=["b", "c"]).summary()
        '1 described, 0 failed, 2 skipped (already captioned)'
        """
        text = f"{len(self.described)} described, {len(self.failed)} failed, {len(self.skipped)} skipped (already captioned)"
        if self.kept:
            text += f", {len(self.kept)} kept (existing sidecar does not verify; use overwrite)"
        return text


@dataclass(frozen=True)
class _Image:
    id: str
    path: Path


def find_images(paths: Sequence[str | os.PathLike[str]]) -> list[tuple[str, Path]]:
    """``(id, path)`` for every image under ``paths``: folders recurse (hidden entries skipped).

    The id is the path relative to the folder it was found in (``/`` separators), or the path
    as given for a file.

    Raises:
        ConfigurationError: A path that does not exist, or two paths with the same id.
    """
    found: list[tuple[str, Path]] = []
    for raw in paths:
        root = Path(raw)
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not any(p.startswith(".") for p in rel.parts):
                    found.append((rel.as_posix(), path))
        elif root.is_file():
            found.append((root.as_posix(), root))
        else:
            raise ConfigurationError(f"{raw}: no such file or folder")
    seen: dict[str, Path] = {}
    for item_id, path in found:
        if item_id in seen and seen[item_id] != path:
            raise ConfigurationError(f"{path} and {seen[item_id]} have the same id {item_id!r}; describe them separately")
        seen[item_id] = path
    return list(dict.fromkeys(found))


def sidecar_path(image: Path) -> Path:
    """``cat.png`` → ``cat.json``.

    >>> sidecar_path(Path("shots/cat.png")).as_posix()
    'shots/cat.json'
    """
    return image.with_suffix(".json")


def _check_sidecar_clashes(images: Iterable[tuple[str, Path]]) -> None:
    owners: dict[Path, Path] = {}
    for _, path in images:
        target = sidecar_path(path)
        if target in owners:
            raise ConfigurationError(
                f"{owners[target]} and {path} would share the sidecar {target}; write one JSONL instead (--jsonl)"
            )
        owners[target] = path


def _sidecar_state(path: Path) -> str:
    """``missing``, ``done`` (a caption that verifies) or ``other`` (anything else)."""
    target = sidecar_path(path)
    if not target.exists():
        return "missing"
    try:
        text = target.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return "other"
    return "done" if is_valid(text.rstrip("\r\n")) else "other"


def _jsonl_done(output: Path, retry_failed: bool) -> frozenset[str]:
    """Ids already in the JSONL; repairs a torn last line and drops error lines if asked."""
    try:
        return resume_records(output, retry_failed=retry_failed, what="an earlier describe run").done
    except SourceError as exc:
        raise ConfigurationError(str(exc)) from None


async def adescribe_dataset(
    paths: Sequence[str | os.PathLike[str]],
    *,
    jsonl: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    retry_failed: bool = False,
    concurrency: int = 4,
    hint: str | None = None,
    progress: bool = False,
    on_result: Any = None,
    client: AsyncDescribeClient | None = None,
    **options: Any,
) -> DatasetReport:
    """Caption every image under ``paths``; see :func:`describe_dataset`."""
    images = find_images(paths)
    if client is not None:
        return await _run(client, images, jsonl, overwrite, retry_failed, concurrency, hint, progress, on_result)
    # a configuration error (no key, no model) stops here, before any file is touched
    async with AsyncDescribeClient(**options) as made:
        return await _run(made, images, jsonl, overwrite, retry_failed, concurrency, hint, progress, on_result)


async def _run(
    client: AsyncDescribeClient,
    images: list[tuple[str, Path]],
    jsonl: str | os.PathLike[str] | None,
    overwrite: bool,
    retry_failed: bool,
    concurrency: int,
    hint: str | None,
    progress: bool,
    on_result: Any,
) -> DatasetReport:
    report = DatasetReport()
    output = Path(jsonl) if jsonl is not None else None
    todo: list[tuple[str, Path]] = []
    if output is None:
        _check_sidecar_clashes(images)
        for item_id, path in images:
            state = "missing" if overwrite else _sidecar_state(path)
            if state == "done":
                report.skipped.append(item_id)
            elif state == "other":
                report.kept.append(item_id)
            else:
                todo.append((item_id, path))
    else:
        if overwrite and output.exists():
            write_atomic(output, "")
        done = _jsonl_done(output, retry_failed)
        for item_id, path in images:
            (report.skipped.append(item_id) if item_id in done else todo.append((item_id, path)))
    if not todo:
        return report
    fd: int | None = None
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    async def record(item: DescribeItem) -> None:
        if item.ok:
            assert item.result is not None
            report.described.append(item.id)
            if fd is None:
                target = sidecar_path(Path(item.image))
                write_atomic(target, item.result.text + "\n")
                report.written.append(target)
        else:
            report.failed.append((item.id, " ".join(str(item.error).split())))
        if fd is not None:
            # one write() per record on an O_APPEND descriptor: a line is whole or absent
            os.write(fd, (json.dumps(item.to_dict(), ensure_ascii=False) + "\n").encode("utf-8"))
            os.fsync(fd)
        if on_result is not None:
            outcome = on_result(item)
            if hasattr(outcome, "__await__"):
                await outcome

    try:
        items = [{"id": item_id, "image": str(path)} for item_id, path in todo]
        await client.describe_many(items, concurrency=concurrency, hint=hint, progress=progress, on_result=record)
    finally:
        if fd is not None:
            os.close(fd)
            report.written.append(output)  # type: ignore[arg-type]
    return report


def describe_dataset(paths: Sequence[str | os.PathLike[str]], **options: Any) -> DatasetReport:
    """Caption every image under ``paths`` with verified captions, resumably.

    Args:
        paths: Folders (walked recursively) and image files.
        jsonl: Write one JSONL file here instead of sidecar ``.json`` files.
        overwrite: Describe every image again (sidecars are replaced only on success).
        retry_failed: JSONL: drop earlier error records and try those images again.
        concurrency: Calls in flight.
        hint: Context for chat models.
        progress: Show a progress bar on stderr.
        on_result: Called (or awaited) with each finished :class:`DescribeItem`.
        client: An :class:`AsyncDescribeClient` to use.
        **options: Client options (``backend``, ``api_key``, ``base_url``, ``model``, ...).

    Returns:
        A :class:`DatasetReport`; a failed image never stops the run and never loses a file.
    """
    return anyio.run(lambda: adescribe_dataset(paths, **options))
