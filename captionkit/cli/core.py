"""Core commands: verify, fix, fmt, schema, rule, fuzz."""

from __future__ import annotations

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
    Lines,
    OutputFormat,
    err,
    fail,
    parse_size_option,
    rewrite_lines,
    write_atomic,
)

__all__ = ["Source", "iter_sources", "register"]


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


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
    size: Annotated[Optional[str], typer.Option(help="Output size (WxH, a frame name or W:H) for size-aware lints.")] = None,
    lints: Annotated[bool, typer.Option(help="Run the prompting-guide lints (CK6xx).")] = True,
) -> None:
    """Check captions; exit 0 clean, 1 findings, 2 usage or I/O error."""
    from captionkit.diagnostics import Severity
    from captionkit.verifier import verify

    frame = parse_size_option(size, check=False)
    threshold = Severity(fail_on.value).rank
    sel, ign = _split_codes(select), _split_codes(ignore)
    single = len(paths) == 1 and not Path(paths[0]).is_dir()
    io_error = False
    findings = False
    records: list[dict[str, object]] = []
    count = 0
    out, log = Lines(), Lines(err=True)
    for src in iter_sources(paths):
        count += 1
        if src.text is None:
            if src.record:  # a failed expansion: no caption to check, and it is a finding
                findings = True
            else:
                io_error = True
            log.add(f"error: {src.label}: {src.problem}")
            continue
        report = verify(src.text, frame=frame, lints=lints, select=sel, ignore=ign)
        if not report:
            if output_format is OutputFormat.json:
                records.append({"file": src.name, "line": src.line, "diagnostics": []})
            elif output_format is OutputFormat.text and src.line is None:
                log.add(f"{src.label}: {_budget(src.text)}")
            continue
        if any(d.severity.rank >= threshold for d in report):
            findings = True
        if output_format is OutputFormat.json:
            records.append({"file": src.name, "line": src.line, "diagnostics": [d.to_dict() for d in report]})
        elif output_format is OutputFormat.official:
            for msg in report.official:
                out.add(msg if single and src.line is None else f"{src.label}: {msg}")
        elif output_format is OutputFormat.github:
            for d in report:
                level = {"error": "error", "warning": "warning", "info": "notice"}[d.severity.value]
                line = f",line={src.line}" if src.line else ""
                out.add(f"::{level} file={src.name}{line},title={d.code} {d.name}::{d.pointer or '/'}: {d.message}")
        else:
            for d in report:
                fix = " [fixable]" if d.fix is not None and d.fix.safe else ""
                out.add(f"{src.label}: {d.pointer or '/'}: {d.code} [{d.severity.value}] {d.message}{fix}")
            # a whole file shows its token budget (JSONL lines do not: CK501/CK502 flag the ones near the limit)
            if src.line is None and report.ok and not any(d.code.startswith("CK5") for d in report):
                log.add(f"{src.label}: {_budget(src.text)}")
    out.flush()
    log.flush()
    if count == 0:
        fail("no .json or .jsonl files found in the given paths")
    if output_format is OutputFormat.json:
        typer.echo(json.dumps(records, ensure_ascii=False, indent=2))
    elif output_format is OutputFormat.text:
        state = "unreadable input" if io_error else "findings" if findings else "clean"
        err(f"checked {count} caption(s): {state}")
    raise typer.Exit(EXIT_ERROR if io_error else EXIT_FINDINGS if findings else EXIT_CLEAN)


def _budget(text: str) -> Any:
    from captionkit._json import dumps, parse_exact
    from captionkit.tokens import count_tokens

    # the budget of the canonical text, which is what captionkit hands to a pipeline
    return count_tokens(dumps(parse_exact(text)))


def _diff_lines(text: str) -> list[str]:
    # lines end at "\n" only, as the reader splits them (not at U+2028 and the like)
    lines = [line + "\n" for line in text.split("\n")]
    lines[-1] = lines[-1][:-1]
    return lines if lines[-1] else lines[:-1]


def _skip_records(kind: str, skipped: dict[str, int], log: Lines) -> None:
    for name, n in skipped.items():
        log.add(f"note: {name}: {n} `expand --batch` record(s) left as they are ({kind} works on caption files)")


def fix_cmd(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or - for stdin.")],
    unsafe_fixes: Annotated[bool, typer.Option("--unsafe-fixes", help="Also apply fixes that can change meaning.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show a diff; change nothing.")] = False,
    stdout: Annotated[bool, typer.Option("--stdout", help="Print the fixed caption instead of writing files.")] = False,
    box_format: Annotated[Optional[str], typer.Option(help="Declare the boxes' convention: xyxy, xywh, pixels, unit.")] = None,
    size: Annotated[Optional[str], typer.Option(help="Frame (WxH, a frame name or W:H), needed for --box-format pixels.")] = None,
) -> None:
    """Repair captions in place (atomically), or print them with --stdout / --diff."""
    from captionkit.fixes import fix
    from captionkit.verifier import verify

    if box_format not in (None, "yxyx", "xyxy", "xywh", "pixels", "unit"):
        fail(f"--box-format: unknown convention {box_format!r} (use xyxy, xywh, pixels or unit)")
    frame = parse_size_option(size, check=False)
    if box_format == "pixels" and frame is None:
        fail("--box-format pixels needs --size WxH")
    remaining = False
    io_error = False
    jsonl_edits: dict[Path, dict[int, str]] = {}
    skipped: dict[str, int] = {}
    out, log = Lines(), Lines(err=True)
    for src in iter_sources(paths):
        if src.record:
            skipped[src.name] = skipped.get(src.name, 0) + 1
            continue
        if src.text is None:
            io_error = True
            log.add(f"error: {src.label}: {src.problem}")
            continue
        # only the errors left matter here: the lints (never errors) and a typed model are not needed
        result = fix(src.text, unsafe=unsafe_fixes, box_format=box_format, frame=frame,  # type: ignore[arg-type]
                     verify_result=False)
        for change in result.changes:
            log.add(f"{src.label}: {change}")
        if result.text is None:
            remaining = True
            log.add(f"{src.label}: no JSON object found; left unchanged")
            continue
        left = verify(result.text, lints=False)
        if not left.ok:
            remaining = True
            for d in left.errors:
                log.add(f"{src.label}: {d.pointer or '/'}: {d.code} {d.message} (not fixed)")
        new = result.text if src.line is not None else result.text + "\n"
        old = src.text
        if diff:
            out.add("".join(difflib.unified_diff(
                _diff_lines(old) if src.line is None else [old + "\n"],
                _diff_lines(new) if src.line is None else [new + "\n"],
                fromfile=src.label, tofile=src.label)), newline=False)
        elif stdout or src.path is None:
            out.add(new, newline=src.line is not None)
        elif src.line is not None:
            if result.text != old:
                jsonl_edits.setdefault(src.path, {})[src.line] = result.text
        elif new != old:
            write_atomic(src.path, new)
    out.flush()
    rewrite_lines(jsonl_edits)
    _skip_records("fix", skipped, log)
    log.flush()
    raise typer.Exit(EXIT_ERROR if io_error else EXIT_FINDINGS if remaining else EXIT_CLEAN)


def fmt_cmd(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or - for stdin.")],
    check: Annotated[bool, typer.Option("--check", help="Exit 1 when a file is not canonical; change nothing.")] = False,
    pretty: Annotated[bool, typer.Option("--pretty", help="Indented output for people (not for the model).")] = False,
) -> None:
    """Re-serialise captions canonically (idempotent). Invalid JSON is reported, never rewritten.

    A file holds the canonical text followed by one newline; a file that is
    canonical without the final newline is left as it is. A JSONL line is the
    compact canonical text (--pretty applies to whole files only).
    """
    from captionkit._json import canonical_text

    would_change = False
    failed = False
    jsonl_edits: dict[Path, dict[int, str]] = {}
    skipped: dict[str, int] = {}
    out, log = Lines(), Lines(err=True)
    for src in iter_sources(paths):
        if src.record:
            skipped[src.name] = skipped.get(src.name, 0) + 1
            continue
        if src.text is None:
            failed = True
            log.add(f"error: {src.label}: {src.problem}")
            continue
        whole = src.line is None
        try:
            body = canonical_text(src.text, pretty=pretty and whole)
        except ValueError as exc:
            failed = True
            log.add(f"error: {src.label}: invalid JSON: {exc}")
            continue
        if src.text == body or (whole and src.text == body + "\n"):
            if src.path is None and not check:
                out.add(body)
            continue
        would_change = True
        if check:
            log.add(f"would reformat {src.label}")
        elif src.path is None:
            out.add(body)
        elif not whole:
            jsonl_edits.setdefault(src.path, {})[src.line] = body  # type: ignore[index]
        else:
            write_atomic(src.path, body + "\n")
            log.add(f"reformatted {src.label}")
    out.flush()
    for path in rewrite_lines(jsonl_edits):
        log.add(f"reformatted {path}")
    _skip_records("fmt", skipped, log)
    log.flush()
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
