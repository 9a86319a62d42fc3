"""``captionkit verify``: the command's work, with no command-line framework in it.

:func:`run_verify` does everything ``captionkit verify`` does once its options
are parsed, and writes through an :class:`Output`. The typer command in
:mod:`captionkit.cli.core` parses the options and calls it with an output that
writes through ``typer.echo``. :func:`main_plain` runs the same function for
the commonest command line, ``captionkit verify PATH...`` (paths only, no
option), without loading typer at all: typer parses every parameter of a
command through pydantic when it starts, which takes longer than checking a
caption. :func:`plain_command_line` says when that is; anything else (an
option, ``--help``, no path) goes to typer. The two writers give the same
bytes: click's ``echo`` on a POSIX text stream writes the text, with ANSI
escape sequences removed unless the stream is a terminal, and flushes.

Lines for standard output are kept in blocks and written together (a large
JSONL file gives one line per finding); anything for standard error first
writes what is kept, so the two streams interleave exactly as they would line
by line.

Large inputs are read and checked in several processes on Linux (``--jobs``):
workers read JSONL files in byte ranges and send back what each caption adds
to the output, as plain data; this process writes it in input order, through
the same code as when it checks everything itself (see ``_check``).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import gc
import io
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from captionkit._sources import (
    STDIN,
    Source,
    SourceError,
    _from_record,
    iter_files,
    iter_sources,
    read_jsonl_range,
    record_caption,
)

__all__ = ["PARALLEL_FROM", "Output", "Stop", "main_plain", "plain_command_line", "rewrite_jsonl", "run_verify"]

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

_SEVERITY_RANK = {"error": 3, "warning": 2, "info": 1}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


class Stop(Exception):
    """End the command with this exit code (what was to be said has been written)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Output:
    """Where a command writes: lines for standard output kept in blocks, messages for standard error.

    Args:
        write_out: writes text to standard output (flushing it).
        write_err: writes text to standard error (flushing it).
    """

    BLOCK = 1000

    def __init__(self, write_out: Callable[[str], None], write_err: Callable[[str], None]) -> None:
        self._write_out = write_out
        self._write_err = write_err
        self._kept: list[str] = []

    def line(self, text: str, *, nl: bool = True) -> None:
        """Queue ``text`` (and a newline) for standard output."""
        self._kept.append(text + "\n" if nl else text)
        if len(self._kept) >= self.BLOCK:
            self.flush()

    def err(self, text: str) -> None:
        """Write one line to standard error, after everything queued for standard output."""
        self.flush()
        self._write_err(text + "\n")

    def fail(self, message: str, code: int = EXIT_ERROR) -> None:
        """A one-line error (``error: ...``) on standard error, then stop with ``code``."""
        self.err(f"error: {message}")
        raise Stop(code)

    def flush(self) -> None:
        """Write what is queued for standard output."""
        if self._kept:
            text = "".join(self._kept)
            self._kept.clear()
            self._write_out(text)


# -- the command ------------------------------------------------------------------------------------


def _split_codes(values: Sequence[str] | None, flag: str, out: Output) -> list[str] | None:
    """Codes and prefixes from ``--select``/``--ignore``; a warning for one that matches no rule."""
    if not values:
        return None
    from captionkit.rules import RULES

    codes = [c.strip() for v in values for c in v.split(",") if c.strip()]
    for code in codes:
        if not any(known.upper().startswith(code.upper()) for known in RULES):
            out.err(f"warning: {flag} {code}: matches no rule (see `captionkit rule --all`)")
    return codes


def warn_environment(err: Callable[[str], None]) -> None:
    """Warn about captionkit environment variables that name nothing (they would be ignored silently)."""
    tokenizer = os.environ.get("CAPTIONKIT_TOKENIZER")
    if tokenizer:
        from captionkit.tokens import _tokenizer_file

        if _tokenizer_file(Path(tokenizer)) is None:
            err(f"warning: CAPTIONKIT_TOKENIZER={tokenizer}: no tokenizer.json there; token counts fall back to the usual search or an estimate")


def _budget(text: str) -> Any:
    """The token budget of the canonical text (what captionkit hands to a pipeline); ``None`` when
    ``text`` is not JSON (its findings can all be left out by ``--select``/``--ignore``)."""
    from captionkit._json import dumps, parse_exact
    from captionkit.tokens import count_tokens

    try:
        canonical = dumps(parse_exact(text))
    except (ValueError, RecursionError):
        return None
    return count_tokens(canonical)


# -- what one caption leaves for the output ----------------------------------------------------------
#
# A source's part of the output is worked out where the source is checked (a worker process,
# or this one) as plain data: a few numbers and strings, cheap to send back, and with no file
# name or line number in it (a worker that checks part of a JSONL file does not know which line
# the part starts at). This process then writes every source's part in input order, the same
# way whichever process checked it.

# (problem, record, errors, warnings, worst rank (0: no finding), per-format items, token budget)
Outcome = tuple[str | None, bool, int, int, int, Any, str | None]

_NOTHING: Outcome = (None, False, 0, 0, 0, (), None)


def _outcome(src: Source, report: Any, output_format: str) -> Outcome | None:
    """What ``src`` (checked into ``report``; ``None`` without text) adds to the output.

    ``None`` when it adds nothing but its count: a clean JSONL line, in any format but json.
    """
    if src.text is None:
        return (src.problem, src.record, 0, 0, 0, (), None)
    whole = src.line is None
    if not report:
        budget = _budget(src.text) if output_format == "text" and whole else None
        if budget is not None:
            return (None, False, 0, 0, 0, (), budget)
        return _NOTHING if output_format == "json" else None
    ranks = [_SEVERITY_RANK[d.severity.value] for d in report]
    items: Any
    budget = None
    if output_format == "text":
        items = tuple(f"{d.pointer or '/'}: {d.code} [{d.severity.value}] {d.message}"
                      f"{' [fixable]' if d.fix is not None and d.fix.safe else ''}" for d in report)
        # a whole file shows its token budget (JSONL lines do not: CK501/CK502 flag the ones near the limit)
        if whole and report.ok and not any(d.code.startswith("CK5") for d in report):
            budget = _budget(src.text)
    elif output_format == "json":
        items = [d.to_dict() for d in report]
    elif output_format == "official":
        items = tuple(report.official)
    else:  # github: what comes before and after the file and line
        items = tuple((f"::{_GITHUB_LEVEL[d.severity.value]} file=",
                       f",title={d.code} {d.name}::{d.pointer or '/'}: {d.message}") for d in report)
    return (None, False, ranks.count(3), ranks.count(2), max(ranks), items, budget)


class _Tally:
    """Writes each source's outcome, in input order, and keeps the counts the summary needs."""

    def __init__(self, out: Output, output_format: str, threshold: int, single: bool) -> None:
        self.out = out
        self.format = output_format
        self.threshold = threshold
        self.single = single
        self.count = self.errors = self.warnings = self.failed_ideas = 0
        self.findings = self.io_error = False
        self.records: list[dict[str, object]] = []

    def add(self, name: str, line: int | None, outcome: Outcome | None) -> None:
        self.count += 1
        if outcome is None:
            return
        problem, record, errors, warnings, worst, items, budget = outcome
        out = self.out
        label = f"{name}:{line}" if line is not None else name
        if problem is not None:
            if record:  # a failed idea: a finding, not an I/O error
                self.findings = True
                self.failed_ideas += 1
            else:
                self.io_error = True
            out.err(f"error: {label}: {problem}")
            return
        self.errors += errors
        self.warnings += warnings
        if worst >= self.threshold:
            self.findings = True
        if self.format == "text":
            for item in items:
                out.line(f"{label}: {item}")
            if budget is not None:
                out.err(f"{label}: {budget}")
        elif self.format == "json":
            self.records.append({"file": name, "line": line, "diagnostics": items})
        elif self.format == "official":
            one = self.single and line is None
            for msg in items:
                out.line(msg if one else f"{label}: {msg}")
        else:  # github
            where = f",line={line}" if line else ""
            for head, tail in items:
                out.line(f"{head}{name}{where}{tail}")


# -- checking many captions in several processes ------------------------------------------------------
#
# The reading and the checking (verify(), the costly part) go to worker processes; everything
# the command says is written here, from the outcomes in input order, exactly as when one
# process reads and checks everything. Workers are forked (Linux) with everything imported and
# before any caption is read. A task is
#
# * a byte range of a JSONL file: the worker reads the lines that start in it, numbered from 1;
#   this process numbers them in the file from the ranges before. A file's outcomes are written
#   once all its ranges are back: bytes that are not UTF-8 anywhere make the whole file one
#   error, as when one process reads it;
# * whole files (caption files, small JSONL files), a few at a time;
# * sources read here: stdin, and anything that is not a regular file (a pipe is read once).
#
# Only the outcomes travel back, and not those of clean JSONL lines (they only count). Workers
# ignore Ctrl-C (this process ends the run).

PARALLEL_FROM = 2_000_000
"""Bytes of input from which several processes check by default (each file counts as at least
:data:`_FILE_BYTES`): below it, starting them costs more than it saves."""
_FILE_BYTES = 1000  # opening and reading a file costs about as much as checking this many bytes
_CHUNK = 1 << 20  # bytes per task (less for smaller inputs, so that each worker gets several)
_MIN_CHUNK = 1 << 16
_BATCH = 250  # files or sources per task, at most
_AHEAD = 4  # tasks in flight per worker

_options: dict[str, Any] = {}
_output_format = "text"

# ("range", path, start, end or None, last range of the file), ("files", [path, ...]) or ("sources", [Source, ...])
Task = tuple[Any, ...]
# (newlines, sources, [(name, line, outcome), ...]): a range numbers its lines from 1 and gives the
# number of its "\n" (the next range's lines start after them), others say 0; clean JSONL lines
# are only counted. (-1, message): a range that cannot be read.
TaskResult = tuple[Any, ...]


def _start_worker(options: dict[str, Any], output_format: str) -> None:
    import signal

    global _output_format
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # held back while this process was forked
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    _options.update(options)
    _output_format = output_format


def _run_task(task: Task) -> TaskResult:
    from captionkit.verifier import verify

    options, output_format = _options, _output_format
    kept: list[tuple[str, int | None, Outcome]] = []
    if task[0] != "range":
        count = 0
        for src in task[1] if task[0] == "sources" else iter_sources(task[1]):
            count += 1
            outcome = _outcome(src, verify(src.text, **options) if src.text is not None else None, output_format)
            if outcome is not None:
                kept.append((src.name, src.line, outcome))
        return 0, count, kept
    _, path, start, end, _ = task
    try:
        newlines, lines = read_jsonl_range(path, start, end)
    except SourceError as exc:
        return -1, str(exc)
    name = str(path)
    for number, line in lines:
        record = record_caption(line)
        if record is None:  # the commonest case: a caption, checked without making a Source of it
            report = verify(line, **options)
            if not report and output_format != "json":
                continue
            src = Source(name, line, None, number)
        else:
            src = _from_record(name, None, number, record, line)
            report = verify(src.text, **options) if src.text is not None else None
        outcome = _outcome(src, report, output_format)
        if outcome is not None:
            kept.append((name, number, outcome))
    return newlines, len(lines), kept


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _workers(jobs: int | None) -> int:
    """How many worker processes to check with (1: none, this process checks)."""
    if jobs is not None:
        return jobs if sys.platform == "linux" else 1
    if sys.platform != "linux":
        return 1
    from captionkit.tokens import find_tokenizer

    # exact counts use a tokenizer library whose own threads do not survive a fork
    return min(_cpus(), 8) if find_tokenizer() is None else 1


def _sizes(items: list[Any]) -> list[int | None]:
    """Each input's size in bytes; ``None`` for stdin and anything that is not a regular file."""
    import stat

    sizes: list[int | None] = []
    for item in items:
        try:
            info = os.stat(item) if item != STDIN else None
        except OSError:
            info = None
        sizes.append(info.st_size if info is not None and stat.S_ISREG(info.st_mode) else None)
    return sizes


def _tasks(items: list[Any], sizes: list[int | None], chunk: int) -> Iterator[Task]:
    """The tasks for ``items``, in input order (see above)."""
    files: list[Any] = []
    held = 0
    for item, size in zip(items, sizes):
        if size is not None and (size <= chunk or Path(item).suffix.lower() != ".jsonl"):
            files.append(item)
            held += size
            if held >= chunk or len(files) >= _BATCH:
                yield "files", files
                files, held = [], 0
            continue
        if files:
            yield "files", files
            files, held = [], 0
        if size is None:  # read here, once
            sources = iter(iter_sources([item]))
            while batch := list(itertools.islice(sources, _BATCH)):
                yield "sources", batch
            continue
        for start in range(0, size, chunk):
            last = start + chunk >= size
            yield "range", item, start, None if last else start + chunk, last
    if files:
        yield "files", files


def _check(paths: Sequence[str], options: dict[str, Any], jobs: int | None, tally: _Tally) -> None:
    """Check every source under ``paths`` and hand its outcome to ``tally``, in input order."""
    from captionkit.verifier import verify

    output_format = tally.format
    workers = _workers(jobs)
    items: list[Any] = list(iter_files(paths))
    sizes = _sizes(items) if workers > 1 else []
    total = sum(max(size or 0, _FILE_BYTES) for size in sizes)
    if workers > 1 and jobs is None and total < PARALLEL_FROM:
        workers = 1
    if workers <= 1:
        for src in iter_sources(items):
            report = verify(src.text, **options) if src.text is not None else None
            tally.add(src.name, src.line, _outcome(src, report, output_format))
        return
    import multiprocessing
    from concurrent.futures import Future, ProcessPoolExecutor

    chunk = max(_MIN_CHUNK, min(_CHUNK, total // (workers * 8)))
    # Objects the collector never visits are never written to by it: a forked worker then copies
    # only the memory it really writes (a fork shares the rest with this process until then).
    gc.freeze()
    # The workers are forked on the first task (a no-op here): until they ignore Ctrl-C, it waits.
    # The threads that serve the pool start meanwhile, with Ctrl-C held back for good: it always
    # reaches this thread, where it can be held back while the pool shuts down.
    pool = None
    try:
        with _interrupts_held():
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                       initializer=_start_worker, initargs=(options, output_format))
            pool.submit(int)
        pending: collections.deque[tuple[Task, Future[TaskResult]]] = collections.deque()
        ranges: list[TaskResult] = []  # the results of the ranges of one file, until its last one
        for task in itertools.chain(_tasks(items, sizes, chunk), [None]):
            if task is not None:
                pending.append((task, pool.submit(_run_task, task)))
            while pending and (task is None or len(pending) >= workers * _AHEAD):
                done, future = pending.popleft()
                result = future.result()
                if done[0] != "range":
                    _gather([result], tally)
                    continue
                ranges.append(result)
                if done[4]:
                    _gather(ranges, tally, str(done[1]))
                    ranges = []
    finally:
        # On Ctrl-C or a closed output, the tasks not started are dropped and the workers finish
        # the ones they hold; a second Ctrl-C meanwhile waits until they have (interrupting the
        # wait would leave them waiting for tasks that never come).
        with _interrupts_held():
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            gc.unfreeze()


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) back in this thread (the main one); one that comes meanwhile is raised after."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _gather(results: list[TaskResult], tally: _Tally, name: str | None = None) -> None:
    """Hand the outcomes of ``results`` to ``tally``: of whole sources, or (with the file's ``name``)
    of all the ranges of one file, each numbering its lines from 1."""
    if name is not None:
        for result in results:
            if result[0] == -1:  # a range that cannot be read: the whole file is one error, as one reader says
                tally.add(name, None, (result[1].removeprefix(f"{name}: "), False, 0, 0, 0, (), None))
                return
    base = 0
    for newlines, count, kept in results:
        tally.count += count - len(kept)  # the clean ones, which say nothing
        for source, line, outcome in kept:
            tally.add(source, line if name is None else base + line, outcome)
        base += newlines


def run_verify(
    paths: Sequence[str],
    out: Output,
    *,
    output_format: str = "text",
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    fail_on: str = "error",
    size: str | None = None,
    lints: bool = True,
    apply_fixes: bool = False,
    jobs: int | None = None,
) -> int:
    """Check captions; the exit code: 0 clean, 1 findings, 2 usage or I/O error.

    ``jobs`` is the number of processes that check (1: this one alone); by default, as many as
    there are CPUs (up to 8), for inputs of :data:`PARALLEL_FROM` bytes or more, on Linux.

    Raises:
        Stop: a usage error, already reported.
        OutputError: a file ``--fix`` rewrites cannot be written.
    """
    from captionkit.verifier import verify

    warn_environment(out.err)
    if jobs is not None and jobs < 1:
        out.fail(f"--jobs: {jobs} is not a number of processes (1 or more)")
    frame = None
    if size is not None:
        from captionkit._frames import parse_size

        try:  # the one size parser (WxH, a frame name, W:H); a bad one is a usage error
            frame = parse_size(size, check=False)
        except ValueError as exc:
            out.fail(f"--size: {exc}")
    if apply_fixes and "-" in paths:
        out.fail("--fix rewrites files; for stdin use `captionkit fix - --stdout`")
    fixed_files: dict[Path, int] = {}
    fix_edits: dict[Path, dict[int, str]] = {}
    sel, ign = _split_codes(select, "--select", out), _split_codes(ignore, "--ignore", out)
    single = len(paths) == 1 and not Path(paths[0]).is_dir() if output_format == "official" else False
    tally = _Tally(out, output_format, _SEVERITY_RANK[fail_on], single)
    options = {"frame": frame, "lints": lints, "select": sel, "ignore": ign}
    if apply_fixes:  # fixes rewrite files as they go: one process, one source after another
        for src in iter_sources(paths):
            if src.text is not None:
                src = _apply_safe_fixes(src, fixed_files, fix_edits)
            report = verify(src.text, **options) if src.text is not None else None
            tally.add(src.name, src.line, _outcome(src, report, output_format))
    else:
        _check(paths, options, jobs, tally)
    count, errors, warnings, failed_ideas = tally.count, tally.errors, tally.warnings, tally.failed_ideas
    io_error, findings = tally.io_error, tally.findings
    text_format = output_format == "text"
    if count == 0:
        out.fail("no .json or .jsonl files found in the given paths")
    if rewrite_jsonl(fix_edits, out.err)[1]:
        io_error = True
    for path, changes in fixed_files.items():
        out.err(f"fixed {path} ({changes} change{'' if changes == 1 else 's'})")
    if output_format == "json":
        out.line(json.dumps(tally.records, ensure_ascii=False, indent=2))
    elif text_format:
        if io_error:
            state = "unreadable input"
        elif errors:
            state = f"{errors} error(s)" + (f", {warnings} warning(s)" if warnings else "")
        elif warnings:
            state = f"no errors, {warnings} warning(s)"
        else:
            state = "findings" if findings and not failed_ideas else "clean"
        if failed_ideas:
            state += f"; {failed_ideas} record(s) without a caption (the idea failed in expand)"
        out.err(f"checked {count - failed_ideas} caption(s): {state}")
    return EXIT_ERROR if io_error else EXIT_FINDINGS if findings else EXIT_CLEAN


def _apply_safe_fixes(src: Source, fixed: dict[Path, int], jsonl_edits: dict[Path, dict[int, str]]) -> Source:
    """``verify --fix``: apply the safe fixes to one source and return the source as it now reads.

    Only a finding with a safe fix rewrites a file; re-serialisation alone is ``fmt``'s business, and a
    multi-line file stays multi-line (indented), so ``--fix`` never reformats for its own sake.
    """
    import dataclasses

    from captionkit._io import write_atomic
    from captionkit._json import dumps
    from captionkit.fixes import fix

    assert src.text is not None and src.path is not None
    result = fix(src.text)
    changes = [c for c in result.changes if c.code != "CK408"]
    if result.text is None or not changes:
        return src
    if src.line is not None:
        jsonl_edits.setdefault(src.path, {})[src.line] = src.wrap(result.text)  # a record keeps its fields
        new = result.text
    else:
        multi_line = "\n" in src.text.rstrip("\r\n")
        new = (dumps(result.data, pretty=True) if multi_line else result.text) + "\n"
        if new == src.text:
            return src
        write_atomic(src.path, new)
    fixed[src.path] = fixed.get(src.path, 0) + len(changes)
    return dataclasses.replace(src, text=new)


def rewrite_jsonl(edits: dict[Path, dict[int, str]], err: Callable[[str], None]) -> tuple[list[Path], bool]:
    """Replace edited lines of JSONL files (1-based line -> new text), atomically.

    Returns the files whose content changed, and whether a write failed (reported through ``err``).
    """
    if not edits:
        return [], False
    from captionkit._io import OutputError, write_atomic

    changed = []
    failed = False
    for path, replacements in edits.items():
        # split as the reader splits (on "\n" only); a line keeps its own "\r\n" ending
        old = path.read_bytes().decode("utf-8")
        lines = old.split("\n")
        for n, text in replacements.items():
            lines[n - 1] = text + ("\r" if lines[n - 1].endswith("\r") else "")
        new = "\n".join(lines)
        if new != old:
            try:
                write_atomic(path, new)
            except OutputError as exc:
                err(f"error: {exc}")
                failed = True
            else:
                changed.append(path)
    return changed, failed


# -- running without typer ---------------------------------------------------------------------------

# click's echo: on a stream that is not a terminal, it removes these (ANSI escape sequences)
_ANSI = re.compile(r"\033\[[;?0-9]*[a-zA-Z]")


def _plain_stream(stream: Any) -> bool:
    """A POSIX text stream that click's ``echo`` would write to as it is (it re-wraps ASCII ones)."""
    if type(stream) is not io.TextIOWrapper or stream.closed:
        return False
    encoding = (stream.encoding or "ascii").lower().replace("_", "-")
    return encoding not in ("ascii", "us-ascii", "646", "ansi-x3.4-1968") and stream.errors is not None


def plain_command_line(args: Sequence[str]) -> bool:
    """True for ``verify PATH...``: paths only (``-`` is stdin), no option, on plain POSIX streams,
    and no shell-completion request in the environment (typer would answer that instead)."""
    return (
        len(args) >= 2
        and args[0] == "verify"
        and all(a == "-" or (a and not a.startswith("-")) for a in args[1:])
        and os.name == "posix"
        and _plain_stream(sys.stdout)
        and _plain_stream(sys.stderr)
        and not any(name.endswith("_COMPLETE") for name in os.environ)
    )


def _writer(stream: io.TextIOWrapper) -> Callable[[str], None]:
    strip = not stream.isatty()

    def write(text: str) -> None:
        stream.write(_ANSI.sub("", text) if strip and "\033" in text else text)
        stream.flush()

    return write


class _Pacified:
    """A stream whose flush ignores a closed pipe (click's ``PacifyFlushWrapper``, which typer sets after EPIPE)."""

    def __init__(self, wrapped: Any) -> None:
        self.wrapped = wrapped

    def flush(self) -> None:
        try:
            self.wrapped.flush()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self.wrapped, name)


def main_plain(args: Sequence[str]) -> None:
    """Run ``captionkit verify PATH...`` (see :func:`plain_command_line`) and exit as typer would.

    As typer's command group does: a usage error or the end of the command gives its exit code;
    Ctrl-C ends with 130 and no message; an end of input writes a newline and ``aborted`` (1); a
    closed standard output (EPIPE) ends quietly with 1; an output that cannot be written is one
    line and 2. Anything else is a bug, and raises.
    """
    out = Output(_writer(sys.stdout), _writer(sys.stderr))  # type: ignore[arg-type]
    try:
        try:
            code = run_verify(list(args[1:]), out)
        finally:
            out.flush()
    except Stop as stop:
        code = stop.code
    except KeyboardInterrupt:
        code = 130
    except EOFError:
        for text in ("\n", "aborted\n"):
            sys.stderr.write(text)
            sys.stderr.flush()
        code = 1
    except OSError as exc:
        from captionkit._io import OutputError

        if exc.errno == errno.EPIPE:
            sys.stdout = _Pacified(sys.stdout)  # type: ignore[assignment]
            sys.stderr = _Pacified(sys.stderr)  # type: ignore[assignment]
            code = 1
        elif isinstance(exc, OutputError):
            out.err(f"error: {exc}")
            code = EXIT_ERROR
        else:
            raise
    sys.exit(code)
