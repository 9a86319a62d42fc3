"""Core commands: verify, fix, fmt, schema, rule, fuzz."""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from captionkit.cli._common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    OutputFormat,
    err,
    fail,
    write_atomic,
)


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


@dataclass
class Source:
    """One caption to process: a whole file, one JSONL line, or stdin."""

    name: str
    text: str | None  # None when the file could not be read
    path: Path | None = None
    line: int | None = None  # 1-based line for JSONL records
    problem: str | None = None  # read error, one line

    @property
    def label(self) -> str:
        return f"{self.name}:{self.line}" if self.line is not None else self.name


def _iter_files(paths: list[str]) -> Iterator[Path | str]:
    for raw in paths:
        if raw == "-":
            yield "-"
            continue
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                f for f in p.rglob("*") if f.is_file() and f.suffix in (".json", ".jsonl")
                and not any(part.startswith(".") for part in f.relative_to(p).parts)
            )
            yield from found
        else:
            yield p


def iter_sources(paths: list[str], *, split_jsonl: bool = True) -> Iterator[Source]:
    """Expand CLI paths into caption sources (directories recurse; JSONL splits per line)."""
    for item in _iter_files(paths):
        if item == "-":
            data = sys.stdin.buffer.read()
            name, path = "<stdin>", None
        else:
            assert isinstance(item, Path)
            name, path = str(item), item
            try:
                data = item.read_bytes()
            except FileNotFoundError:
                yield Source(name, None, path, problem="no such file")
                continue
            except OSError as exc:
                yield Source(name, None, path, problem=f"cannot read ({exc.strerror or exc})")
                continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Source(name, None, path, problem=f"not valid UTF-8 (byte {exc.start}: {exc.reason})")
            continue
        # Universal newlines, as the official verify_file reads text.
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        if split_jsonl and path is not None and path.suffix == ".jsonl":
            for n, line in enumerate(text.split("\n"), start=1):
                if line.strip():
                    yield Source(name, line, path, line=n)
        else:
            yield Source(name, text, path)


def _parse_frame(size: str | None) -> tuple[int, int] | None:
    if size is None:
        return None
    try:
        w, h = size.lower().split("x")
        return int(w), int(h)
    except ValueError:
        fail(f"--size: expected WxH such as 1536x1024, got {size!r}")


def _split_codes(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def verify_cmd(
    paths: Annotated[list[str], typer.Argument(help="Files, directories (recursive) or - for stdin.")],
    output_format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.text,
    select: Annotated[Optional[list[str]], typer.Option(help="Only these codes or prefixes (CK2, CK301).")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Skip these codes or prefixes.")] = None,
    fail_on: Annotated[FailOn, typer.Option(help="Lowest severity that makes the exit code 1.")] = FailOn.error,
    size: Annotated[Optional[str], typer.Option(help="Output size WxH for size-aware lints.")] = None,
    lints: Annotated[bool, typer.Option(help="Run the prompting-guide lints (CK6xx).")] = True,
) -> None:
    """Check captions; exit 0 clean, 1 findings, 2 usage or I/O error."""
    from captionkit.diagnostics import Severity
    from captionkit.verifier import verify

    frame = _parse_frame(size)
    threshold = Severity(fail_on.value)
    sel, ign = _split_codes(select), _split_codes(ignore)
    io_error = False
    findings = False
    records: list[dict[str, object]] = []
    count = 0
    for src in iter_sources(paths):
        count += 1
        if src.text is None:
            io_error = True
            err(f"error: {src.label}: {src.problem}")
            continue
        report = verify(src.text, frame=frame, lints=lints, select=sel, ignore=ign)
        if any(d.severity.rank >= threshold.rank for d in report):
            findings = True
        if output_format is OutputFormat.json:
            records.append({"file": src.name, "line": src.line, "diagnostics": [d.to_dict() for d in report]})
        elif output_format is OutputFormat.official:
            single = len(paths) == 1 and src.line is None and not Path(paths[0]).is_dir()
            for msg in report.official:
                typer.echo(msg if single else f"{src.label}: {msg}")
        elif output_format is OutputFormat.github:
            for d in report:
                level = {"error": "error", "warning": "warning", "info": "notice"}[d.severity.value]
                line = f",line={src.line}" if src.line else ""
                typer.echo(f"::{level} file={src.name}{line},title={d.code} {d.name}::{d.pointer or '/'}: {d.message}")
        else:
            for d in report:
                fix = " [fixable]" if d.fix is not None and d.fix.safe else ""
                typer.echo(f"{src.label}: {d.pointer or '/'}: {d.code} [{d.severity.value}] {d.message}{fix}")
            if report.ok and not any(d.code.startswith("CK5") for d in report):
                from captionkit._json import dumps, parse_exact
                from captionkit.tokens import count_tokens

                # the budget of the canonical text, which is what captionkit hands to a pipeline
                err(f"{src.label}: {count_tokens(dumps(parse_exact(src.text)))}")
    if count == 0:
        fail("no .json or .jsonl files found in the given paths")
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
    elif output_format is OutputFormat.text:
        state = "unreadable input" if io_error else "findings" if findings else "clean"
        err(f"checked {count} caption(s): {state}")
    raise typer.Exit(EXIT_ERROR if io_error else EXIT_FINDINGS if findings else EXIT_CLEAN)


def _rewrite_jsonl(edits: dict[Path, dict[int, str]]) -> list[Path]:
    """Replace edited lines of JSONL files (1-based line -> new text), atomically.

    Returns the files whose content changed.
    """
    changed = []
    for path, replacements in edits.items():
        old = path.read_text(encoding="utf-8")
        lines = old.split("\n")
        for n, text in replacements.items():
            lines[n - 1] = text
        new = "\n".join(lines)
        if new != old:
            write_atomic(path, new, remove_stale=False)
            changed.append(path)
    return changed


class _Sweeper:
    """Removes the temporary files that interrupted writes left beside the files a run rewrites.

    Each folder is listed once, however many of its files the run visits.
    """

    def __init__(self) -> None:
        self._folders: dict[Path, dict[str, list[str]]] = {}
        self._seen: set[Path] = set()

    def __call__(self, path: Path) -> None:
        from captionkit._io import remove_stale_temp_files, temp_files_by_target

        if path in self._seen:
            return
        self._seen.add(path)
        folder = path.parent
        if folder not in self._folders:
            self._folders[folder] = temp_files_by_target(folder)
        for leftover in remove_stale_temp_files(path, index=self._folders[folder]):
            err(f"{path}: removed {leftover.name}, left by an interrupted write")


def fix_cmd(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or - for stdin.")],
    unsafe_fixes: Annotated[bool, typer.Option("--unsafe-fixes", help="Also apply fixes that can change meaning.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show a diff; change nothing.")] = False,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the fixed caption instead of writing files.")] = False,
    box_format: Annotated[Optional[str], typer.Option(help="Declare the boxes' convention: xyxy, xywh, pixels, unit.")] = None,
    size: Annotated[Optional[str], typer.Option(help="Frame WxH (needed for --box-format pixels).")] = None,
) -> None:
    """Repair captions in place (atomically), or print them with --stdout / --diff.

    A file is rewritten only when its repair ends in a valid caption that keeps every piece
    of content; otherwise it is left as it is, with one line saying why.
    """
    from captionkit.fixes import fix

    if box_format not in (None, "yxyx", "xyxy", "xywh", "pixels", "unit"):
        fail(f"--box-format: unknown convention {box_format!r} (use xyxy, xywh, pixels or unit)")
    frame = _parse_frame(size)
    if box_format == "pixels" and frame is None:
        fail("--box-format pixels needs --size WxH")
    in_place = not (diff or stdout)
    sweep = _Sweeper()
    remaining = False
    io_error = False
    jsonl_edits: dict[Path, dict[int, str]] = {}
    for src in iter_sources(paths):
        if src.text is None:
            io_error = True
            err(f"error: {src.label}: {src.problem}")
            continue
        if in_place and src.path is not None:
            sweep(src.path)
        try:
            result = fix(src.text, unsafe=unsafe_fixes, box_format=box_format, frame=frame)  # type: ignore[arg-type]
        except Exception as exc:  # a bug must not cost the file or end the run: one line, exit 2
            io_error = True
            first = str(exc).splitlines()[0] if str(exc) else ""
            err(f"error: {src.label}: internal error ({type(exc).__name__}: {first}); left unchanged")
            continue
        for change in result.changes:
            err(f"{src.label}: {change}")
        if result.text is None:
            remaining = True
            err(f"{src.label}: left unchanged: {result.problem}")
            continue
        errors = result.report.errors
        if errors:
            remaining = True
            for d in errors:
                err(f"{src.label}: {d.pointer or '/'}: {d.code} {d.message} (not fixed)")
        new = result.text if src.line is not None else result.text + "\n"
        old = src.text
        if diff:
            typer.echo("".join(difflib.unified_diff(
                old.splitlines(keepends=True) if src.line is None else [old + "\n"],
                new.splitlines(keepends=True) if src.line is None else [new + "\n"],
                fromfile=src.label, tofile=src.label)), nl=False)
        elif stdout or src.path is None:
            typer.echo(new, nl=src.line is not None)
        elif errors:
            if new != old:
                err(f"{src.label}: left unchanged: {len(errors)} error(s) remain after the fixes "
                    "(files are rewritten only into valid captions; --diff shows the partial repair)")
        elif src.line is not None:
            jsonl_edits.setdefault(src.path, {})[src.line] = result.text
        elif new != old:
            write_atomic(src.path, new, remove_stale=False)
    _rewrite_jsonl(jsonl_edits)
    raise typer.Exit(EXIT_ERROR if io_error else EXIT_FINDINGS if remaining else EXIT_CLEAN)


def fmt_cmd(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or - for stdin.")],
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when a file is not canonical; change nothing.")] = False,
    pretty: Annotated[bool, typer.Option("--pretty", help="Indented output for people (not for the model).")] = False,
) -> None:
    """Re-serialise captions canonically (idempotent).

    Invalid JSON is reported, never rewritten; so is JSON that re-serialising would change in
    content: repeated keys (which value to keep is a choice) and lone surrogates (UTF-8
    cannot store them).
    """
    from captionkit._json import dumps, parse_tracked
    from captionkit.diagnostics import pointer

    would_change = False
    failed = False
    sweep = _Sweeper()
    jsonl_edits: dict[Path, dict[int, str]] = {}
    for src in iter_sources(paths):
        if src.text is None:
            failed = True
            err(f"error: {src.label}: {src.problem}")
            continue
        if not check and src.path is not None:
            sweep(src.path)
        try:
            parsed = parse_tracked(src.text)
            body = dumps(parsed.value, pretty=pretty and src.line is None)
            body.encode("utf-8")
        except UnicodeEncodeError:
            failed = True
            err(f"error: {src.label}: holds a lone surrogate (\\ud800-\\udfff), which UTF-8 cannot store; "
                "left unchanged")
            continue
        except RecursionError:
            failed = True
            err(f"error: {src.label}: nested too deeply to re-serialise; left unchanged")
            continue
        except ValueError as exc:
            failed = True
            err(f"error: {src.label}: invalid JSON: {exc}")
            continue
        if parsed.duplicates:
            failed = True
            d = parsed.duplicates[0]
            err(f"error: {src.label}: {pointer(d.path) or '/'}: CK407 key {d.key!r} appears more than once; "
                "re-serialising would keep only the last value, so the file is left unchanged (edit it by hand)")
            continue
        new = body if src.line is not None else body + "\n"
        if new == src.text:
            continue
        would_change = True
        if check:
            err(f"would reformat {src.label}")
        elif src.path is None:
            typer.echo(body)
        elif src.line is not None:
            jsonl_edits.setdefault(src.path, {})[src.line] = body
        else:
            write_atomic(src.path, new, remove_stale=False)
            err(f"reformatted {src.label}")
    for path in _rewrite_jsonl(jsonl_edits):
        err(f"reformatted {path}")
    if failed:
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_FINDINGS if (check and would_change) else EXIT_CLEAN)


def schema_cmd(
    diagnostics: Annotated[bool, typer.Option("--diagnostics", help="The schema of `verify --format json` output.")] = False,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Write to a file.")] = None,
) -> None:
    """Print the JSON Schema (Draft 2020-12) of captions, generated from the models."""
    from captionkit.schema import caption_schema, diagnostics_schema, schema_text

    text = schema_text(diagnostics_schema() if diagnostics else caption_schema())
    if output is None:
        typer.echo(text, nl=False)
    else:
        write_atomic(output, text)


def rule_cmd(
    code: Annotated[Optional[str], typer.Argument(help="A code (CK201) or name (style-key-order).")] = None,
    all_rules: Annotated[bool, typer.Option("--all", help="List every rule.")] = False,
) -> None:
    """Explain a diagnostic code: what, why, an example, and how it is fixed."""
    from captionkit.rules import RULES, rule

    if all_rules or code is None:
        for r in RULES.values():
            typer.echo(f"{r.code}  {r.name:<30} {r.severity.value:<8} {r.family}")
        return
    found = rule(code)
    if found is None:
        fail(f"unknown rule {code!r} (see `captionkit rule --all`)")
    typer.echo(found.doc(), nl=False)


def fuzz_cmd(
    target: Annotated[str, typer.Argument(help="MODULE:CALLABLE taking caption text, returning a list of warnings.")],
    examples: Annotated[int, typer.Option(help="How many inputs to try.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed, to reproduce a run.")] = 0,
    messages: Annotated[bool, typer.Option(help="Compare messages too, not only accept/reject.")] = True,
) -> None:
    """Differential fuzzing of a verify_raw-style callable against captionkit's compat verifier."""
    from captionkit.fuzz import FuzzTargetError, load_target, run_fuzz

    try:
        func = load_target(target)
    except FuzzTargetError as exc:
        fail(str(exc))
    result = run_fuzz(func, examples=examples, seed=seed, compare_messages=messages)
    if result.ok:
        err(f"no difference in {result.tried} inputs (seed {seed})")
        raise typer.Exit(EXIT_CLEAN)
    err(f"difference found after {result.tried} inputs (seed {seed}); shrunk input:")
    typer.echo(json.dumps({"input": result.input, "expected": result.expected, "got": result.got},
                          ensure_ascii=False, indent=2))
    raise typer.Exit(EXIT_FINDINGS)


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_cmd)
    app.command("fix")(fix_cmd)
    app.command("fmt")(fmt_cmd)
    app.command("schema")(schema_cmd)
    app.command("rule")(rule_cmd)
    app.command("fuzz")(fuzz_cmd)
