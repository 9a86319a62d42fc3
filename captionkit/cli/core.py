"""Core commands: verify, fix, fmt, schema, rule, fuzz."""

from __future__ import annotations

import dataclasses
import difflib
import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from captionkit._sources import Source, iter_sources
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


def _split_codes(values: list[str] | None, flag: str) -> list[str] | None:
    """Codes and prefixes from ``--select``/``--ignore``; a warning for one that matches no rule."""
    if not values:
        return None
    from captionkit.rules import RULES

    codes = [c.strip() for v in values for c in v.split(",") if c.strip()]
    for code in codes:
        if not any(known.upper().startswith(code.upper()) for known in RULES):
            err(f"warning: {flag} {code}: matches no rule (see `captionkit rule --all`)")
    return codes


def verify_cmd(
    paths: Annotated[list[str], typer.Argument(help="Files, directories (recursive) or - for stdin.")],
    output_format: Annotated[OutputFormat, typer.Option("--format", help="Output format.")] = OutputFormat.text,
    select: Annotated[Optional[list[str]], typer.Option(help="Only these codes or prefixes (CK2, CK301).")] = None,
    ignore: Annotated[Optional[list[str]], typer.Option(help="Skip these codes or prefixes.")] = None,
    fail_on: Annotated[FailOn, typer.Option(help="Lowest severity that makes the exit code 1.")] = FailOn.error,
    size: Annotated[Optional[str], typer.Option(help="Output size (WxH, a frame name or W:H) for size-aware lints.")] = None,
    lints: Annotated[bool, typer.Option(help="Run the prompting-guide lints (CK6xx).")] = True,
    apply_fixes: Annotated[bool, typer.Option("--fix", help="Apply the safe fixes in place (atomically), then report what remains.")] = False,
) -> None:
    """Check captions; exit 0 clean, 1 findings, 2 usage or I/O error."""
    from captionkit.diagnostics import Severity
    from captionkit.verifier import verify

    from captionkit.cli._common import warn_environment

    warn_environment()
    frame = _parse_frame(size)
    if apply_fixes and "-" in paths:
        fail("--fix rewrites files; for stdin use `captionkit fix - --stdout`")
    fixed_files: dict[Path, int] = {}
    fix_edits: dict[Path, dict[int, str]] = {}
    threshold = Severity(fail_on.value)
    sel, ign = _split_codes(select, "--select"), _split_codes(ignore, "--ignore")
    io_error = False
    findings = False
    records: list[dict[str, object]] = []
    count = 0
    errors = warnings = failed_ideas = 0
    for src in iter_sources(paths):
        count += 1
        if src.text is None:
            if src.record:  # a failed idea: a finding, not an I/O error
                findings = True
                failed_ideas += 1
                err(f"error: {src.label}: {src.problem}")
                continue
            io_error = True
            err(f"error: {src.label}: {src.problem}")
            continue
        if apply_fixes:
            src = _apply_safe_fixes(src, fixed_files, fix_edits)
        report = verify(src.text, frame=frame, lints=lints, select=sel, ignore=ign)
        errors += len(report.errors)
        warnings += sum(1 for d in report if d.severity.value == "warning")
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
            # a whole file shows its token budget (JSONL lines do not: CK501/CK502 flag the ones near the limit)
            if src.line is None and report.ok and not any(d.code.startswith("CK5") for d in report):
                err(f"{src.label}: {_budget(src.text)}")
    if count == 0:
        fail("no .json or .jsonl files found in the given paths")
    if _rewrite_jsonl(fix_edits)[1]:
        io_error = True
    for path, changes in fixed_files.items():
        err(f"fixed {path} ({changes} change{'' if changes == 1 else 's'})")
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
    elif output_format is OutputFormat.text:
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
        err(f"checked {count - failed_ideas} caption(s): {state}")
    raise typer.Exit(EXIT_ERROR if io_error else EXIT_FINDINGS if findings else EXIT_CLEAN)


def _budget(text: str) -> Any:
    from captionkit._json import dumps, parse_exact
    from captionkit.tokens import count_tokens

    # the budget of the canonical text, which is what captionkit hands to a pipeline
    return count_tokens(dumps(parse_exact(text)))


def _apply_safe_fixes(src: Source, fixed: dict[Path, int], jsonl_edits: dict[Path, dict[int, str]]) -> Source:
    """``verify --fix``: apply the safe fixes to one source and return the source as it now reads.

    Only a finding with a safe fix rewrites a file; re-serialisation alone is ``fmt``'s business, and a
    multi-line file stays multi-line (indented), so ``--fix`` never reformats for its own sake.
    """
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


def _rewrite_jsonl(edits: dict[Path, dict[int, str]]) -> tuple[list[Path], bool]:
    """Replace edited lines of JSONL files (1-based line -> new text), atomically.

    Returns the files whose content changed, and whether a write failed (reported).
    """
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
            if _write(path, new):
                changed.append(path)
            else:
                failed = True
    return changed, failed


def _write(path: Path, text: str) -> bool:
    """Write one output in place; report a failure in one line and go on with the others."""
    try:
        write_atomic(path, text)
    except OutputError as exc:
        err(f"error: {exc}")
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
    for src in iter_sources(paths):
        count += 1
        if src.text is None:
            if src.record:
                remaining = True
                err(f"{src.label}: {src.problem}; left unchanged")
                continue
            io_error = True
            err(f"error: {src.label}: {src.problem}")
            continue
        if in_place and src.path is not None:
            sweep(src.path)
        try:
            # only the errors left matter here: the lints (never errors) and a typed model are not needed
            result = fix(src.text, unsafe=unsafe_fixes, box_format=box_format, frame=frame, verify_result=False)
        except BoxConventionError as exc:
            # refused: the boxes cannot be in the declared convention; the input stays as it is
            io_error = True
            err(f"error: {src.label}: {exc}")
            continue
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
        errors = verify(result.text, lints=False).errors
        if errors:
            remaining = True
            for d in errors:
                err(f"{src.label}: {d.pointer or '/'}: {d.code} {d.message} (not fixed)")
        body = src.wrap(result.text)
        new = body if src.line is not None else body + "\n"
        old = src.raw if src.raw is not None else src.text
        if diff:
            typer.echo("".join(difflib.unified_diff(
                _diff_lines(old) if src.line is None else [old + "\n"],
                _diff_lines(new) if src.line is None else [new + "\n"],
                fromfile=src.label, tofile=src.label)), nl=False)
        elif stdout or src.path is None:
            typer.echo(new, nl=src.line is not None)
        elif errors:
            if new != old:
                err(f"{src.label}: left unchanged: {len(errors)} error(s) remain after the fixes "
                    "(files are rewritten only into valid captions; --diff shows the partial repair)")
        elif src.line is not None:
            if body != old:
                jsonl_edits.setdefault(src.path, {})[src.line] = body
        elif new != old and not _write(src.path, new):
            io_error = True
    if _rewrite_jsonl(jsonl_edits)[1]:
        io_error = True
    if count == 0:
        fail("no .json or .jsonl files found in the given paths")
    raise typer.Exit(EXIT_ERROR if io_error else EXIT_FINDINGS if remaining else EXIT_CLEAN)


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
