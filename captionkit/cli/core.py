"""Core commands: verify, fix, fmt, schema, rule, fuzz."""

from __future__ import annotations

import difflib
import json
from enum import Enum
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from captionkit._sources import Source, iter_sources
from captionkit.cli._verify import Output, Stop, rewrite_jsonl, run_verify
from captionkit.cli._common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    EXIT_FINDINGS,
    OutputError,
    OutputFormat,
    err,
    fail,
    parse_size_option,
    write_atomic,
)

__all__ = ["Source", "iter_sources", "register"]


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


def _parse_frame(size: str | None) -> Any:
    """``--size`` through the one size parser (WxH, a frame name, W:H); a bad one is a usage error."""
    return parse_size_option(size, check=False)


def verify_cmd(
    paths: Annotated[list[str], typer.Argument(help="Files, directories (recursive) or - for stdin.")],
    output_format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.text,
    select: Annotated[Optional[list[str]], typer.Option(help="Only these codes or prefixes (CK2, CK301).")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Skip these codes or prefixes.")] = None,
    fail_on: Annotated[FailOn, typer.Option(help="Lowest severity that makes the exit code 1.")] = FailOn.error,
    size: Annotated[Optional[str], typer.Option(help="Output size (WxH, a frame name or W:H) for size-aware lints.")] = None,
    lints: Annotated[bool, typer.Option(help="Run the prompting-guide lints (CK6xx).")] = True,
    apply_fixes: Annotated[bool, typer.Option("--fix", help="Apply the safe fixes in place (atomically), then report what remains.")] = False,
    jobs: Annotated[Optional[int], typer.Option(help="Processes that check (1: this one alone). By default, on Linux, one per CPU (up to 8) for inputs of 2 MB or more.")] = None,
) -> None:
    """Check captions; exit 0 clean, 1 findings, 2 usage or I/O error."""
    out = Output(lambda text: typer.echo(text, nl=False), lambda text: typer.echo(text, nl=False, err=True))
    try:
        try:
            code = run_verify(paths, out, output_format=output_format.value, select=select, ignore=ignore,
                              fail_on=fail_on.value, size=size, lints=lints, apply_fixes=apply_fixes, jobs=jobs)
        finally:
            out.flush()
    except Stop as stop:
        raise typer.Exit(stop.code) from None
    raise typer.Exit(code)


def _rewrite_jsonl(edits: dict[Path, dict[int, str]], report: Callable[[str], None] = err) -> tuple[list[Path], bool]:
    """Replace edited lines of JSONL files (1-based line -> new text), atomically.

    Returns the files whose content changed, and whether a write failed (reported through ``report``).
    """
    return rewrite_jsonl(edits, report)


def _write(path: Path, text: str, report: Callable[[str], None] = err) -> bool:
    """Write one output in place; report a failure in one line and go on with the others."""
    try:
        write_atomic(path, text)
    except OutputError as exc:
        report(f"error: {exc}")
        return False
    return True


def _diff_lines(text: str) -> list[str]:
    # lines end at "\n" only, as the reader splits them (not at U+2028 and the like)
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


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
    box_format: Annotated[Optional[str], typer.Option(help="The boxes' convention: ORDER-SCALE with ORDER yxyx, xyxy or xywh and SCALE 1000, unit or pixels (xyxy-pixels); a bare order is pixels with --size, else 0-1000; or auto (only when exactly one convention fits every box).")] = None,
    size: Annotated[Optional[str], typer.Option(help="Frame WxH that pixel boxes are on.")] = None,
) -> None:
    """Repair captions in place (atomically), or print them with --stdout / --diff.

    A file is rewritten only when its repair ends in a valid caption that keeps every piece
    of content; otherwise it is left as it is, with one line saying why.
    """
    from captionkit.boxes import BoxConventionError, parse_convention
    from captionkit.fixes import fix
    from captionkit.verifier import verify

    frame = _parse_frame(size)
    if box_format is not None:
        try:
            parse_convention(box_format, frame=frame)
        except BoxConventionError as exc:
            fail(f"--box-format: {exc}")
    in_place = not (diff or stdout)
    sweep = _Sweeper()
    remaining = False
    io_error = False
    count = 0
    jsonl_edits: dict[Path, dict[int, str]] = {}
    out = Output(lambda text: typer.echo(text, nl=False), lambda text: typer.echo(text, nl=False, err=True))
    try:
        for src in iter_sources(paths):
            count += 1
            if src.text is None:
                if src.record:
                    remaining = True
                    out.err(f"{src.label}: {src.problem}; left unchanged")
                    continue
                io_error = True
                out.err(f"error: {src.label}: {src.problem}")
                continue
            if in_place and src.path is not None:
                sweep(src.path)
            unchanged = _unchanged_by_fix(src.text) if box_format is None else None
            if unchanged is not None:
                text, errors = src.text.removesuffix("\n"), unchanged.errors
            else:
                try:
                    # only the errors left matter here: the lints (never errors) and a typed model are not needed
                    result = fix(src.text, unsafe=unsafe_fixes, box_format=box_format, frame=frame,
                                 verify_result=False)
                except BoxConventionError as exc:
                    # refused: the boxes cannot be in the declared convention; the input stays as it is
                    io_error = True
                    out.err(f"error: {src.label}: {exc}")
                    continue
                except Exception as exc:  # a bug must not cost the file or end the run: one line, exit 2
                    io_error = True
                    first = str(exc).splitlines()[0] if str(exc) else ""
                    out.err(f"error: {src.label}: internal error ({type(exc).__name__}: {first}); left unchanged")
                    continue
                for change in result.changes:
                    out.err(f"{src.label}: {change}")
                if result.text is None:
                    remaining = True
                    out.err(f"{src.label}: left unchanged: {result.problem}")
                    continue
                text = result.text
                errors = verify(text, lints=False).errors
            if errors:
                remaining = True
                for d in errors:
                    out.err(f"{src.label}: {d.pointer or '/'}: {d.code} {d.message} (not fixed)")
            body = src.wrap(text)
            new = body if src.line is not None else body + "\n"
            old = src.raw if src.raw is not None else src.text
            if diff:
                out.line("".join(difflib.unified_diff(
                    _diff_lines(old) if src.line is None else [old + "\n"],
                    _diff_lines(new) if src.line is None else [new + "\n"],
                    fromfile=src.label, tofile=src.label)), nl=False)
            elif stdout or src.path is None:
                out.line(new, nl=src.line is not None)
            elif errors:
                if new != old:
                    out.err(f"{src.label}: left unchanged: {len(errors)} error(s) remain after the fixes "
                            "(files are rewritten only into valid captions; --diff shows the partial repair)")
            elif src.line is not None:
                if body != old:
                    jsonl_edits.setdefault(src.path, {})[src.line] = body
            elif new != old and not _write(src.path, new, out.err):
                io_error = True
        if _rewrite_jsonl(jsonl_edits, out.err)[1]:
            io_error = True
    finally:
        out.flush()
    if count == 0:
        fail("no .json or .jsonl files found in the given paths")
    raise typer.Exit(EXIT_ERROR if io_error else EXIT_FINDINGS if remaining else EXIT_CLEAN)


def _unchanged_by_fix(text: str) -> Any:
    """The report of ``verify(text, lints=False)`` when :func:`captionkit.fix` would hand ``text`` back
    unchanged (less a final newline), else ``None``.

    That is so for the canonical form of a caption the official checks accept and whose palettes
    repeat no colour: every fix, safe or unsafe, answers a finding such a caption cannot have
    (a test holds ``fix`` to this). The checks then run once, by the fast proofs.
    """
    from captionkit.verifier import check

    report, checked = check(text, lints=False)
    if checked.canonical == text.removesuffix("\n") and not any(d.code == "CK405" for d in report):
        return report
    return None


def fmt_cmd(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or - for stdin.")],
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when a file is not canonical; change nothing.")] = False,
    pretty: Annotated[bool, typer.Option("--pretty", help="Indented output for people (not for the model).")] = False,
    exit_non_zero_on_format: Annotated[bool, typer.Option("--exit-non-zero-on-format", help="Exit 1 when a file was rewritten (for pre-commit and CI).")] = False,
) -> None:
    """Re-serialise captions canonically (idempotent).

    Invalid JSON is reported, never rewritten; so is JSON that re-serialising would change in
    content (repeated keys: which value to keep is a choice). A file holds the canonical text
    followed by one newline; a file that is canonical without the final newline is left as it
    is. A JSONL line is the compact canonical text (--pretty applies to whole files only); an
    ``expand --batch`` record keeps its other fields, with its caption canonical.
    """
    from captionkit._json import canonical_text, parse_tracked
    from captionkit.diagnostics import pointer

    would_change = False
    failed = False
    count = 0
    sweep = _Sweeper()
    jsonl_edits: dict[Path, dict[int, str]] = {}
    for src in iter_sources(paths):
        count += 1
        if src.text is None:
            if src.record:
                err(f"{src.label}: {src.problem}; left unchanged")
                continue
            failed = True
            err(f"error: {src.label}: {src.problem}")
            continue
        if not check and src.path is not None:
            sweep(src.path)
        whole = src.line is None
        try:
            body = src.wrap(canonical_text(src.text, pretty=pretty and whole))
        except RecursionError:
            failed = True
            err(f"error: {src.label}: nested too deeply to re-serialise; left unchanged")
            continue
        except ValueError as exc:
            failed = True
            err(f"error: {src.label}: invalid JSON: {exc}")
            continue
        new = body if not whole else body + "\n"
        old_text = src.raw if src.raw is not None else src.text
        if old_text == body or (whole and old_text == new):
            if src.path is None and not check:
                typer.echo(body)
            continue
        # canonical text holds no repeated key; text that would change might, and then
        # re-serialising would keep only the last value: refused, the file stays as it is
        duplicates = parse_tracked(src.text).duplicates
        if duplicates:
            failed = True
            d = duplicates[0]
            err(f"error: {src.label}: {pointer(d.path) or '/'}: CK407 key {d.key!r} appears more than once; "
                "re-serialising would keep only the last value, so the file is left unchanged (edit it by hand)")
            continue
        would_change = True
        if check:
            err(f"would reformat {src.label}")
        elif src.path is None:
            typer.echo(body)
        elif src.line is not None:
            jsonl_edits.setdefault(src.path, {})[src.line] = body
        elif _write(src.path, new):
            err(f"reformatted {src.label}")
        else:
            failed = True
    changed, write_failed = _rewrite_jsonl(jsonl_edits)
    failed = failed or write_failed
    for path in changed:
        err(f"reformatted {path}")
    if count == 0:
        fail("no .json or .jsonl files found in the given paths")
    if failed:
        raise typer.Exit(EXIT_ERROR)
    raise typer.Exit(EXIT_FINDINGS if ((check or exit_non_zero_on_format) and would_change) else EXIT_CLEAN)


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


class RuleFormat(str, Enum):
    text = "text"
    json = "json"


def rule_cmd(
    code: Annotated[Optional[str], typer.Argument(help="A code (CK201) or name (style-key-order).")] = None,
    all_rules: Annotated[bool, typer.Option("--all", help="List every rule.")] = False,
    output_format: Annotated[RuleFormat, typer.Option("--format", help="text, or json (the rule's fields and fixes).")] = RuleFormat.text,
) -> None:
    """Explain a diagnostic code: what, why, an example, and whether a fix is available (safe or unsafe)."""
    from captionkit.rules import RULES, rule

    if all_rules or code is None:
        if output_format is RuleFormat.json:
            typer.echo(json.dumps([r.to_dict() for r in RULES.values()], ensure_ascii=False, indent=2))
            return
        for r in RULES.values():
            typer.echo(f"{r.code}  {r.name:<30} {r.severity.value:<8} {r.family:<10} fix: {r.fix_availability}")
        return
    found = rule(code)
    if found is None:
        fail(f"unknown rule {code!r} (see `captionkit rule --all`)")
    if output_format is RuleFormat.json:
        typer.echo(json.dumps(found.to_dict(), ensure_ascii=False, indent=2))
        return
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
