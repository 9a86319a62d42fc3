"""The two CLI flags the hooks use: ``verify --fix`` and ``fmt --exit-non-zero-on-format``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import given
from typer.testing import CliRunner

import captionkit
from captionkit.cli import app
from captionkit.strategies import mutants

runner = CliRunner()
CANONICAL = '{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}\n'
OUT_OF_ORDER = '{"compositional_deconstruction":{"elements":[],"background":"A white wall."}}\n'


def run(*args: str):
    return runner.invoke(app, list(args))


def test_fmt_exits_non_zero_only_when_it_rewrites(tmp_path: Path) -> None:
    loose = tmp_path / "loose.json"
    loose.write_text(OUT_OF_ORDER.replace(":", ": "), encoding="utf-8")
    good = tmp_path / "good.json"
    good.write_text(CANONICAL, encoding="utf-8")
    first = run("fmt", "--exit-non-zero-on-format", str(loose), str(good))
    assert first.exit_code == 1 and f"reformatted {loose}" in first.stderr
    assert loose.read_text(encoding="utf-8") == CANONICAL and good.read_text(encoding="utf-8") == CANONICAL
    second = run("fmt", "--exit-non-zero-on-format", str(loose), str(good))
    assert second.exit_code == 0 and second.stderr == ""
    assert run("fmt", str(tmp_path / "nothing.json")).exit_code == 2


def test_fmt_without_the_flag_still_exits_zero_after_rewriting(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text(OUT_OF_ORDER, encoding="utf-8")
    assert run("fmt", str(path)).exit_code == 0
    assert path.read_text(encoding="utf-8") == CANONICAL


def test_verify_fix_rewrites_and_reports_what_remains(tmp_path: Path) -> None:
    fixable = tmp_path / "fixable.json"
    fixable.write_text(OUT_OF_ORDER, encoding="utf-8")
    unfixable = tmp_path / "nobg.json"
    unfixable.write_text('{"compositional_deconstruction":{"elements":[]}}\n', encoding="utf-8")
    garbage = tmp_path / "garbage.json"
    garbage.write_text("no caption here\n", encoding="utf-8")
    result = run("verify", "--fix", str(fixable), str(unfixable), str(garbage))
    assert result.exit_code == 1
    assert fixable.read_text(encoding="utf-8") == CANONICAL
    assert f"fixed {fixable} (" in result.stderr
    assert f"{fixable}: /compositional_deconstruction: CK203" not in result.stdout  # fixed, so not reported
    assert f"{unfixable}: /compositional_deconstruction: CK121 [error]" in result.stdout
    assert unfixable.read_text(encoding="utf-8") == '{"compositional_deconstruction":{"elements":[]}}\n'
    assert garbage.read_text(encoding="utf-8") == "no caption here\n"  # never rewritten
    again = run("verify", "--fix", str(fixable))
    assert again.exit_code == 0 and "fixed" not in again.stderr


def test_verify_fix_keeps_a_multi_line_file_multi_line(tmp_path: Path) -> None:
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps(json.loads(OUT_OF_ORDER), indent=2) + "\n", encoding="utf-8")
    assert run("verify", "--fix", str(path)).exit_code == 0
    text = path.read_text(encoding="utf-8")
    assert text.count("\n") > 1 and list(json.loads(text)["compositional_deconstruction"]) == ["background", "elements"]


def test_verify_fix_leaves_a_merely_non_canonical_file_to_fmt(tmp_path: Path) -> None:
    path = tmp_path / "spaced.json"
    spaced = CANONICAL.replace(",", ", ")
    path.write_text(spaced, encoding="utf-8")
    assert run("verify", "--fix", str(path)).exit_code == 0
    assert path.read_text(encoding="utf-8") == spaced


def test_verify_fix_on_jsonl_rewrites_the_lines_it_fixes(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(OUT_OF_ORDER + CANONICAL + "not json\n", encoding="utf-8")
    result = run("verify", "--fix", str(path))
    assert result.exit_code == 1  # the third line is still not a caption
    assert path.read_text(encoding="utf-8") == CANONICAL + CANONICAL + "not json\n"


def test_verify_fix_refuses_stdin() -> None:
    result = runner.invoke(app, ["verify", "--fix", "-"], input=OUT_OF_ORDER)
    assert result.exit_code == 2 and result.stderr.strip() == (
        "error: --fix rewrites files; for stdin use `captionkit fix - --stdout`"
    )


@given(mutants())
def test_verify_fix_writes_what_fix_makes_and_is_idempotent(data) -> None:
    text = json.dumps(data, ensure_ascii=False) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.json"
        path.write_text(text, encoding="utf-8")
        run("verify", "--fix", str(path))
        after = path.read_text(encoding="utf-8")
        expected = captionkit.fix(text)
        # rewritten exactly when a safe fix changed something beyond re-serialisation
        fixable = expected.text is not None and any(c.code != "CK408" for c in expected.changes)
        assert after == (expected.text + "\n" if fixable else text)
        second = run("verify", "--fix", str(path))
        assert path.read_text(encoding="utf-8") == after
        assert (second.exit_code == 0) == captionkit.verify(after).ok
