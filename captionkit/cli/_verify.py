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
"""

from __future__ import annotations

import collections
import errno
import gc
import io
import itertools
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from captionkit._sources import Source, iter_sources

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
    from captionkit._json import dumps, parse_exact
    from captionkit.tokens import count_tokens

    # the budget of the canonical text, which is what captionkit hands to a pipeline
    return count_tokens(dumps(parse_exact(text)))


# -- checking many captions in several processes ------------------------------------------------------
#
# Only the checking itself (verify(), the costly part) goes to worker processes, in chunks;
# everything the command says is worked out here, from the reports in input order, exactly
# as when one process checks everything. Workers are forked (Linux) once every source has
# been read: they start at once with everything loaded, the sources included, so a task is
# a range of indices and only the reports travel back. They ignore Ctrl-C (this process
# ends the run).

PARALLEL_FROM = 2000  # captions: below this, starting workers costs more than it saves
_CHUNK = 250  # captions per task
_AHEAD = 4  # tasks in flight per worker

_options: dict[str, Any] = {}
_sources: list[Source] = []  # what the workers check: set before they are forked


def _start_worker(options: dict[str, Any]) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _options.update(options)


def _check_range(start: int, end: int) -> list[Any]:
    from captionkit.verifier import verify

    return [verify(src.text, **_options) for src in _sources[start:end] if src.text is not None]


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


def _checked(sources: Iterable[Source], options: dict[str, Any], jobs: int | None) -> Iterator[tuple[Source, Any]]:
    """``(source, report)`` for every source, in order (``None`` for a source without text)."""
    from captionkit.verifier import verify

    workers = _workers(jobs)
    if workers > 1:
        sources = list(sources)
        if jobs is None and sum(src.text is not None for src in sources) < PARALLEL_FROM:
            workers = 1
    if workers <= 1:
        for src in sources:
            yield src, (verify(src.text, **options) if src.text is not None else None)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _sources
    _sources = sources  # type: ignore[assignment]
    # Objects the collector never visits are never written to by it: a forked worker then copies
    # only the memory it really writes (a fork shares the rest with this process until then).
    gc.freeze()
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker,
                               initargs=(options,))
    try:
        pending: collections.deque[tuple[int, int, Any]] = collections.deque()
        starts = iter(range(0, len(_sources), _CHUNK))
        for start in itertools.chain(starts, [None]):
            if start is not None:
                end = min(start + _CHUNK, len(_sources))
                pending.append((start, end, pool.submit(_check_range, start, end)))
            while pending and (start is None or len(pending) >= workers * _AHEAD):
                first, last, future = pending.popleft()
                reports = iter(future.result())
                for src in _sources[first:last]:
                    yield src, (next(reports) if src.text is not None else None)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _sources = []
        gc.unfreeze()


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
    there are CPUs (up to 8), for inputs of :data:`PARALLEL_FROM` captions or more, on Linux.

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
    threshold = _SEVERITY_RANK[fail_on]
    sel, ign = _split_codes(select, "--select", out), _split_codes(ignore, "--ignore", out)
    io_error = False
    findings = False
    records: list[dict[str, object]] = []
    count = 0
    errors = warnings = failed_ideas = 0
    text_format = output_format == "text"
    single = len(paths) == 1 and not Path(paths[0]).is_dir() if output_format == "official" else False
    options = {"frame": frame, "lints": lints, "select": sel, "ignore": ign}
    if apply_fixes:  # fixes rewrite files as they go: one process, one source after another
        pairs: Iterable[tuple[Source, Any]] = (
            (src, None) if src.text is None else (src, verify(src.text, **options))
            for src in (_apply_safe_fixes(s, fixed_files, fix_edits) if s.text is not None else s
                        for s in iter_sources(paths))
        )
    else:
        pairs = _checked(iter_sources(paths), options, jobs)
    for src, report in pairs:
        count += 1
        if src.text is None:
            if src.record:  # a failed idea: a finding, not an I/O error
                findings = True
                failed_ideas += 1
                out.err(f"error: {src.label}: {src.problem}")
                continue
            io_error = True
            out.err(f"error: {src.label}: {src.problem}")
            continue
        if not report:
            if text_format and src.line is None:
                out.err(f"{src.label}: {_budget(src.text)}")
            elif output_format == "json":
                records.append({"file": src.name, "line": src.line, "diagnostics": []})
            continue
        ranks = [_SEVERITY_RANK[d.severity.value] for d in report]
        errors += ranks.count(3)
        warnings += ranks.count(2)
        if max(ranks) >= threshold:
            findings = True
        if text_format:
            label = src.label
            for d in report:
                fix = " [fixable]" if d.fix is not None and d.fix.safe else ""
                out.line(f"{label}: {d.pointer or '/'}: {d.code} [{d.severity.value}] {d.message}{fix}")
            # a whole file shows its token budget (JSONL lines do not: CK501/CK502 flag the ones near the limit)
            if src.line is None and report.ok and not any(d.code.startswith("CK5") for d in report):
                out.err(f"{label}: {_budget(src.text)}")
        elif output_format == "json":
            records.append({"file": src.name, "line": src.line, "diagnostics": [d.to_dict() for d in report]})
        elif output_format == "official":
            one = single and src.line is None
            for msg in report.official:
                out.line(msg if one else f"{src.label}: {msg}")
        else:  # github
            for d in report:
                line = f",line={src.line}" if src.line else ""
                out.line(f"::{_GITHUB_LEVEL[d.severity.value]} file={src.name}{line},title={d.code} {d.name}::"
                         f"{d.pointer or '/'}: {d.message}")
    if count == 0:
        out.fail("no .json or .jsonl files found in the given paths")
    if rewrite_jsonl(fix_edits, out.err)[1]:
        io_error = True
    for path, changes in fixed_files.items():
        out.err(f"fixed {path} ({changes} change{'' if changes == 1 else 's'})")
    if output_format == "json":
        out.line(json.dumps(records, ensure_ascii=False, indent=2))
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
