"""The issue's smaller defects, each through the real CLI (a subprocess where the entry point matters)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import captionkit
from captionkit.builder import CaptionBuilder
from captionkit.cli import app
from captionkit.diagnostics import CaptionError

ROOT = Path(__file__).resolve().parents[2]
GOOD = '{"compositional_deconstruction":{"background":"A wall.","elements":[]}}'
WARNS = '{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","bbox":[5,5,5,5],"desc":"A cat."}]}}'


def run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(Path(captionkit.__file__).parent.parent)}
    return subprocess.run([sys.executable, "-m", "captionkit", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=120)


def test_fuzz_imports_a_module_from_the_working_folder(tmp_path: Path) -> None:
    (tmp_path / "mymod.py").write_text(
        "from captionkit.compat import CaptionVerifier\n"
        "def fn(text):\n    return CaptionVerifier().verify_raw(text)\n", encoding="utf-8")
    proc = run_module("fuzz", "mymod:fn", "--examples", "20", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no difference in" in proc.stderr


@pytest.mark.parametrize("argv", [["fix"], ["fmt", "--check"], ["fmt"], ["tokens"]])
def test_folder_without_captions_is_exit_2(cli, tmp_path: Path, argv: list[str]) -> None:
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    result = cli.invoke(app, [*argv, str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr == "error: no .json or .jsonl files found in the given paths\n"


def test_tokens_refuses_non_captions_and_reads_folders(cli, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    prose = cli.invoke(app, ["tokens", str(readme)])
    assert prose.exit_code == 2 and f"error: {readme}: not a caption (invalid JSON" in prose.stderr
    assert prose.stdout == ""
    for value, what in (('{"a": 1}', "a JSON object without any caption key"), ("[1, 2]", "a JSON list")):
        path = tmp_path / "x.json"
        path.write_text(value, encoding="utf-8")
        refused = cli.invoke(app, ["tokens", str(path)])
        assert refused.exit_code == 2 and f"not a caption ({what})" in refused.stderr
    path.unlink()
    folder = tmp_path / "caps"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.json").write_text(GOOD, encoding="utf-8")
    (folder / "sub" / "b.jsonl").write_text(GOOD + "\n" + GOOD + "\n", encoding="utf-8")
    counted = cli.invoke(app, ["tokens", str(folder), "--estimate", "--format", "json"])
    assert counted.exit_code == 0, counted.output
    rows = json.loads(counted.stdout)
    assert [r["file"] for r in rows] == [str(folder / "a.json"), f"{folder / 'sub' / 'b.jsonl'}:1",
                                         f"{folder / 'sub' / 'b.jsonl'}:2"]
    assert len({r["count"] for r in rows}) == 1


def test_version(cli) -> None:
    result = cli.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"captionkit {captionkit.__version__}\n"
    proc = run_module("--version", cwd=ROOT)
    assert proc.returncode == 0 and proc.stdout.strip() == f"captionkit {captionkit.__version__}"


def test_flags_are_plain_flags_and_usage_errors_are_one_line(cli, tmp_path: Path) -> None:
    help_text = cli.invoke(app, ["fix", "--help"]).stdout
    assert "<bool>" not in help_text
    diff_line = next(line for line in help_text.splitlines() if line.strip().startswith("--diff"))
    assert diff_line.split()[:2] == ["--diff", "Show"]  # a flag: no value placeholder
    for argv, needle in ((["fix", "--bogus"], "No such option: --bogus"),
                         (["fix"], "Missing argument"),
                         (["render", "x.json", "--seeds"], "requires an argument")):
        result = cli.invoke(app, argv)
        assert result.exit_code == 2
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and needle in result.stderr
    proc = run_module("verify", "--nope", cwd=ROOT)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_builder_says_which_style_calls_are_missing() -> None:
    with pytest.raises(CaptionError) as info:
        CaptionBuilder().photo("50mm lens").background("b").build()
    assert "missing aesthetics and lighting; add .aesthetics(...) and .lighting(...)" in str(info.value)
    assert "key order" not in str(info.value)
    with pytest.raises(CaptionError, match=r"missing lighting; add \.lighting\(\.\.\.\)"):
        CaptionBuilder().photo("50mm lens").aesthetics("calm").background("b").build()


def test_fix_diff_on_a_canonical_file_is_silent(cli, tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    for ending in ("\n", "\r\n"):
        path.write_bytes((GOOD + ending).encode())
        result = cli.invoke(app, ["fix", "--diff", str(path)])
        assert result.exit_code == 0 and result.stdout == "" and result.stderr == "", repr(ending)
    assert captionkit.fix(GOOD + "\n").changes == []
    assert [c.code for c in captionkit.fix("  " + GOOD + "\n\n").changes] == ["CK005"]  # real whitespace still counts


def test_verify_with_only_warnings_says_so(cli, tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text(WARNS, encoding="utf-8")
    result = cli.invoke(app, ["verify", str(path)])
    assert result.exit_code == 0
    assert "checked 1 caption(s): no errors, 1 warning(s)" in result.stderr and "clean" not in result.stderr
    clean = tmp_path / "c.json"
    clean.write_text(GOOD, encoding="utf-8")
    assert "checked 1 caption(s): clean" in cli.invoke(app, ["verify", str(clean)]).stderr


def test_unknown_select_code_and_missing_tokenizer_variable_warn(cli, tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "c.json"
    path.write_text(GOOD, encoding="utf-8")
    result = cli.invoke(app, ["verify", str(path), "--select", "CK9,CK2", "--ignore", "XX1"])
    assert "warning: --select CK9: matches no rule" in result.stderr
    assert "warning: --ignore XX1: matches no rule" in result.stderr and "CK2:" not in result.stderr
    monkeypatch.setenv("CAPTIONKIT_TOKENIZER", str(tmp_path / "nowhere"))
    for argv in (["verify", str(path)], ["tokens", str(path)]):
        out = cli.invoke(app, argv)
        assert f"warning: CAPTIONKIT_TOKENIZER={tmp_path / 'nowhere'}: no tokenizer.json there" in out.stderr


def test_fix_in_place_writes_through_a_symlink(cli, tmp_path: Path) -> None:
    target = tmp_path / "real.json"
    target.write_text('{"compositional_deconstruction":{"elements":[],"background":"b"}}\n', encoding="utf-8")
    link = tmp_path / "symlink.json"
    link.symlink_to(target)
    result = cli.invoke(app, ["fix", str(link)])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_text(encoding="utf-8") == '{"compositional_deconstruction":{"background":"b","elements":[]}}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["real.json", "symlink.json"]
    fmt_link = tmp_path / "again.json"
    fmt_link.symlink_to(target)
    target.write_text('{"compositional_deconstruction": {"background": "b", "elements": []}}\n', encoding="utf-8")
    assert cli.invoke(app, ["fmt", str(fmt_link)]).exit_code == 0
    assert fmt_link.is_symlink() and target.read_text(encoding="utf-8").startswith('{"compositional_deconstruction":{')
