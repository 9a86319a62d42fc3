"""``captionkit expand``: plain ideas to verified captions through a magic-prompt backend."""

from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

import typer

from captionkit._io import OutputError, describe_os_error
from captionkit._sources import SourceError, read_text, resume_records, split_lines
from captionkit.cli import _common
from captionkit.cli._common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    check_writable,
    write_atomic,
)


class ResultFormat(str, Enum):
    caption = "caption"
    record = "record"


# Python parameter names in library messages, and the flags a CLI user knows them by.
_CLI_WORDS = {
    "max_tokens": "--max-tokens",
    "max_reasks": "--max-reasks",
    "base_url": "--base-url",
    "unsafe_fixes": "--unsafe",
    "strip_bboxes": "--keep-bboxes",
    "aspect_ratio": "--aspect",
    "concurrency": "--concurrency",
    "deadline": "--deadline",
}


def _cli_words(message: str) -> str:
    """Name the CLI's flags in a library message (``raise max_tokens`` -> ``raise --max-tokens``).

    >>> _cli_words("the reply was cut off; raise max_tokens")
    'the reply was cut off; raise --max-tokens'
    >>> _cli_words("no model; pass model= (--model)")
    'no model; pass model= (--model)'
    """
    import re

    def swap(match: re.Match[str]) -> str:
        return _CLI_WORDS[match.group(1)]

    return re.sub(r"(?<![-\w])(" + "|".join(_CLI_WORDS) + r")\b(?!=)", swap, message)


def _aspect_warning(aspect: Any, where: str = "") -> None:
    """Warn when an aspect ratio is beyond what the renderer can draw (6:1 either way)."""
    from captionkit.layout import MAX_ASPECT
    from captionkit.magic._aspect import parse_aspect

    try:
        ratio = parse_aspect(aspect)
    except ValueError:
        return  # the client reports a malformed ratio itself
    if ratio is not None and max(ratio) > MAX_ASPECT * min(ratio):
        err(f"warning: {where}aspect {ratio[0]}:{ratio[1]} is beyond the renderer's limit of {MAX_ASPECT}:1; "
            f"the caption can be written, but `captionkit render` needs a size within {MAX_ASPECT}:1")


def _style_warning(style: bool, caption: Any, where: str = "") -> None:
    if not style and caption is not None and getattr(caption, "style_description", None) is not None:
        err(f"warning: {where}the model returned a style_description although --no-style asked for none; it is kept")


def register(app: typer.Typer) -> None:
    """Add the ``expand`` command to ``app``."""
    app.command("expand", help="Expand a plain idea into a verified caption (or a JSONL batch of ideas).")(
        _warnings_as_lines(expand)
    )


def _warnings_as_lines(command: Callable[..., None]) -> Callable[..., None]:
    """Run ``command`` printing each Python warning as one ``warning: ...`` line on stderr.

    The library warns with :class:`~captionkit.magic.errors.APIKeyWarning` when it strips
    whitespace from around a key; a CLI user sees that as one line, at the moment it happens.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            # a ResourceWarning is the collector's note about some object's socket or file (often not
            # this command's); Python hides it by default, and "always" must not bring it to the user
            warnings.simplefilter("ignore", ResourceWarning)
            warnings.showwarning = lambda message, *_, **__: err(f"warning: {message}")
            command(*args, **kwargs)

    return run


def expand(
    idea: Annotated[Optional[str], typer.Argument(help="The idea, in plain words ('-' reads stdin).")] = None,
    backend: Annotated[str, typer.Option("--backend", "-b", help="ideogram-4-v1 (default), claude-opus-v1, claude-sonnet-v1, openai-compatible, or local (the pipeline's prompt enhancer; --model is its folder).")] = "ideogram-4-v1",
    aspect: Annotated[str, typer.Option("--aspect", "-a", help="W:H, WxH, a frame size such as 1536x1024, or auto.")] = "auto",
    keep_bboxes: Annotated[bool, typer.Option("--keep-bboxes", help="Keep element boxes (default: strip them, as upstream).")] = False,
    style: Annotated[bool, typer.Option("--style/--no-style", help="Ask for a style_description.")] = True,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the caption (or the batch's JSONL) here.")] = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="API root the request path is appended to (a proxy, a local server's /v1).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="Model slug (chat backends; required for openai-compatible).")] = None,
    prompt: Annotated[Optional[str], typer.Option("--prompt", help="Packaged prompt name or a prompt file (e.g. the official v1.txt).")] = None,
    max_reasks: Annotated[int, typer.Option("--max-reasks", min=0, help="Follow-up requests when a reply fails verification.")] = 2,
    max_tokens: Annotated[int, typer.Option("--max-tokens", min=1, help="Output-token limit for chat backends.")] = 16384,
    deadline: Annotated[float, typer.Option("--deadline", min=0.1, help="Overall seconds per idea, retries included.")] = 600.0,
    unsafe: Annotated[bool, typer.Option("--unsafe", help="Also apply unsafe fixes (invented element types, clamping).")] = False,
    batch: Annotated[Optional[Path], typer.Option("--batch", help="JSONL of ideas: {\"id\":..., \"idea\":..., \"aspect\":...} per line.")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", "-j", min=1, help="Batch: calls in flight at once.")] = 8,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Batch: drop earlier error lines from the output and try them again.")] = False,
    fmt: Annotated[ResultFormat, typer.Option("--format", help="caption: the canonical caption; record: caption plus provenance as JSON.")] = ResultFormat.caption,
    progress: Annotated[Optional[bool], typer.Option("--progress/--no-progress", help="Batch progress bar (default: when stderr is a terminal).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing -o file (a single idea; a batch resumes instead).")] = False,
) -> None:
    from captionkit.magic import errors

    if backend == "local":  # the pipeline's own prompt enhancer: no server, no key
        from captionkit.cli.agents import expand_local_cmd

        expand_local_cmd(idea, aspect, model, output, max_reasks, unsafe, fmt.value, batch)
    options: dict[str, Any] = {
        "base_url": base_url,
        "model": model,
        "prompt": prompt,
        "strip_bboxes": not keep_bboxes,
        "style": style,
        "max_reasks": max_reasks,
        "max_tokens": max_tokens,
        "deadline": deadline,
        "unsafe_fixes": unsafe,
    }
    if batch is not None:
        if idea is not None:
            fail("give either an idea or --batch, not both")
        if output is None:
            fail("--batch needs -o OUT.jsonl (results are appended there, one line per idea)")
        show = sys.stderr.isatty() if progress is None else progress
        _aspect_warning(aspect)
        code = _run_batch(batch, output, backend, aspect, options, concurrency, retry_failed, show)
        raise typer.Exit(code)
    if idea is None:
        fail("give an idea (or '-' to read it from stdin), or --batch FILE")
    if output is not None:
        # before any request: an output that cannot be written must not cost tokens
        if output.exists() and not force:
            fail(f"{output}: already exists (use --force to overwrite)")
        check_writable(output)
    if idea == "-":
        idea = sys.stdin.read()
    _aspect_warning(aspect)
    from captionkit.magic import MagicPromptClient

    try:
        with MagicPromptClient(backend, **options) as client:
            result = client.expand(idea, aspect)
    except errors.CaptionRepairError as exc:
        err(f"error: {_cli_words(str(exc))}")
        for line in exc.diagnostics:
            err(f"  {line}")
        raise typer.Exit(EXIT_FINDINGS) from None
    except (errors.MagicPromptError, ValueError) as exc:
        fail(_cli_words(str(exc)))
    for warning in result.warnings:
        err(f"warning: {_cli_words(warning)}")
    _style_warning(style, result.caption)
    err(result.summary())
    payload = result.text if fmt is ResultFormat.caption else json.dumps(result.to_dict(), ensure_ascii=False)
    if output is None:
        typer.echo(payload)
    else:
        write_atomic(output, payload + "\n")
        err(f"wrote {output}")
    raise typer.Exit(EXIT_CLEAN)


def err(message: str) -> None:
    """One line to stderr, with any live key redacted (errors and results already are)."""
    from captionkit.magic._secrets import redact

    _common.err(redact(message, headers=True))


def fail(message: str, code: int = _common.EXIT_ERROR) -> NoReturn:
    """A one-line error (key redacted) and exit 2, as :func:`captionkit.cli._common.fail`."""
    from captionkit.magic._secrets import redact

    _common.fail(redact(message, headers=True), code)


def _read_ideas(path: Path) -> list[dict[str, Any]]:
    try:
        _, raw = read_text(path)
    except SourceError as exc:
        fail(str(exc))
    items: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in split_lines(raw):
        try:
            value = json.loads(line)
        except ValueError as exc:
            fail(f"{path}:{number}: not JSON ({exc.msg}); expected {{\"id\": ..., \"idea\": ...}} or a string")
        if isinstance(value, str):
            value = {"idea": value}
        if not isinstance(value, dict):
            fail(f"{path}:{number}: expected an object with 'idea', or a string")
        text = value.get("idea", value.get("prompt"))
        if not isinstance(text, str) or not text.strip():
            fail(f"{path}:{number}: needs a non-empty 'idea' string")
        item_id = str(value.get("id", number))
        if item_id in seen:
            fail(f"{path}:{number}: duplicate id {item_id!r}")
        seen.add(item_id)
        item = {"id": item_id, "idea": text}
        aspect = value.get("aspect_ratio", value.get("aspect"))
        if aspect is not None:
            item["aspect_ratio"] = aspect
        items.append(item)
    return items


def _done_ids(output: Path, retry_failed: bool) -> tuple[frozenset[str], list[str]]:
    """Ids already in the output, and those of them that failed (kept unless ``retry_failed``).

    Repairs a torn last line and, with ``retry_failed``, drops the error lines so they run again.
    """
    try:
        found = resume_records(output, retry_failed=retry_failed, what="an earlier batch")
    except SourceError as exc:
        fail(str(exc))
    if found.torn:
        err(f"{output}: removed an incomplete last line left by an interrupted run")
    return found.done, list(found.failed)


# Consecutive connection failures after which a batch stops instead of failing every idea.
STOP_AFTER_CONNECTION_FAILURES = 3


class _StopBatch(Exception):
    """Raised from the result callback to stop a batch whose server is unreachable."""


def _ids(ids: list[str], limit: int = 10) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _run_batch(
    source: Path,
    output: Path,
    backend: str,
    aspect: str,
    options: dict[str, Any],
    concurrency: int,
    retry_failed: bool,
    progress: bool,
) -> int:
    import anyio

    from captionkit.magic import AsyncMagicPromptClient, BatchItem, errors

    items = _read_ideas(source)
    check_writable(output)  # before any request
    for item in items:
        if "aspect_ratio" in item:
            _aspect_warning(item["aspect_ratio"], f"{item['id']}: ")
    done, failed_before = _done_ids(output, retry_failed)
    todo = [item for item in items if item["id"] not in done]
    skipped = len(items) - len(todo)
    retry_hint = (
        f"{len(failed_before)} idea(s) failed in an earlier run ({_ids(failed_before)}); "
        "run again with --retry-failed to try them again"
    )
    if not todo:
        if failed_before:
            err(f"nothing new to do: {retry_hint}")
            return EXIT_FINDINGS
        err(f"nothing to do: all {len(items)} ideas are already in {output}")
        return EXIT_CLEAN
    try:
        client = AsyncMagicPromptClient(backend, **options)
    except (errors.MagicPromptError, ValueError) as exc:
        fail(_cli_words(str(exc)))
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"{output}: cannot write ({describe_os_error(exc)})") from None
    expanded = failed = 0
    streak: list[str] = []  # ids of the current run of connection failures

    def write_line(item: BatchItem) -> None:
        nonlocal expanded, failed
        if item.ok:
            expanded += 1
            streak.clear()
            for warning in item.result.warnings if item.result is not None else ():
                err(f"warning: {item.id}: {_cli_words(warning)}")
            _style_warning(bool(options.get("style", True)), getattr(item.result, "caption", None), f"{item.id}: ")
        else:
            failed += 1
            err(f"error: {item.id}: {_cli_words(str(item.error))}")
            if isinstance(item.error, errors.APIConnectionError):
                streak.append(item.id)
            else:
                streak.clear()
        line = json.dumps(item.to_dict(), ensure_ascii=False) + "\n"
        # one write() per record on an O_APPEND descriptor: a line is whole or absent
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
        if len(streak) >= STOP_AFTER_CONNECTION_FAILURES:
            raise _StopBatch

    async def main() -> None:
        async with client:
            await client.expand_many(todo, aspect, concurrency=concurrency, progress=progress, on_result=write_line)

    def summary() -> str:
        left = len(todo) - expanded - failed
        note = f", {skipped} skipped (already in {output})" if skipped else ""
        return f"{expanded} expanded, {failed} failed, {left} not tried{note}"

    stopped = False
    try:
        try:
            anyio.run(main)
        except* _StopBatch:
            stopped = True
    except KeyboardInterrupt:
        err(f"interrupted: {summary()}; finished lines are kept in {output}; "
            "run the same command again to resume")
        raise typer.Exit(130) from None
    finally:
        os.close(fd)
    if stopped:
        err(f"stopped after {STOP_AFTER_CONNECTION_FAILURES} connection failures in a row "
            f"({_ids(streak)}): {summary()}; check the server or --base-url, then run the same command "
            "again with --retry-failed")
        return EXIT_ERROR
    note = f", {skipped} skipped (already in {output})" if skipped else ""
    err(f"{expanded} expanded, {failed} failed{note}")
    if failed_before:
        err(f"note: {retry_hint}")
    if failed:
        err("run again with --retry-failed to try the failed ideas again")
    return EXIT_FINDINGS if failed or failed_before else EXIT_CLEAN
