"""Real CLI invocations: typer's CliRunner for most, a subprocess for the entry points."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from captionkit.cli import app
from captionkit.compat import CaptionVerifier
from captionkit.verifier import verify

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
runner = CliRunner()
GOOD = '{"compositional_deconstruction":{"background":"b","elements":[]}}'
BAD = '{"compositional_deconstruction":{"elements":[{"type":"obj","bbox":[10,600,20,500],"desc":"d"}],"background":"b"}}'


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def test_verify_bundled_examples_clean():
    r = run("verify", str(EXAMPLES))
    assert r.exit_code == 0, r.output
    assert "clean" in r.stderr
    assert "night_market.json: ~" in r.stderr and "/ 2048 tokens" in r.stderr  # the budget is shown


def test_verify_findings_exit_1_and_formats(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(BAD)
    r = run("verify", str(p))
    assert r.exit_code == 1
    assert f"{p}: /compositional_deconstruction: CK203 [error]" in r.stdout
    r = run("verify", str(p), "--format", "official")
    assert r.stdout.splitlines() == CaptionVerifier().verify_file(p)
    r = run("verify", str(p), "--format", "github")
    assert r.stdout.startswith(f"::error file={p},title=CK203 composition-key-order::")
    r = run("verify", str(p), "--format", "json")
    data = json.loads(r.stdout)
    jsonschema.validate(data, json.loads((ROOT / "schemas/diagnostics.schema.json").read_text()))
    assert [d["code"] for d in data[0]["diagnostics"]][:2] == ["CK203", "CK305"]


def test_verify_select_ignore_fail_on(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(BAD)
    assert run("verify", str(p), "--select", "CK3").stdout.count("CK") == 1
    assert run("verify", str(p), "--ignore", "CK2,CK3").exit_code == 0
    q = tmp_path / "warn.json"
    q.write_text('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"A cat."}]}}')
    assert run("verify", str(q)).exit_code == 0
    assert run("verify", str(q), "--fail-on", "info").exit_code == 1


def test_verify_stdin_jsonl_and_directory(tmp_path):
    r = run("verify", "-", input=BAD)
    assert r.exit_code == 1 and "<stdin>" in r.stdout
    j = tmp_path / "d" / "many.jsonl"
    j.parent.mkdir()
    j.write_text(GOOD + "\n\n" + BAD + "\n")
    r = run("verify", str(tmp_path / "d"))
    assert r.exit_code == 1
    assert f"{j}:3: /compositional_deconstruction: CK203" in r.stdout


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"\xff\xfe{}", "not valid UTF-8"), (None, "no such file")],
)
def test_verify_io_errors_are_one_line(tmp_path, content, needle):
    p = tmp_path / "x.json"
    if content is not None:
        p.write_bytes(content)
    r = run("verify", str(p))
    assert r.exit_code == 2
    first, *rest = r.stderr.splitlines()
    assert needle in first and str(p) in first and "Traceback" not in r.stderr
    assert rest == ["checked 1 caption(s): unreadable input"]


def test_verify_not_json_and_bom_are_findings(tmp_path):
    p = tmp_path / "plain.json"
    p.write_text("a cat on a mat")
    q = tmp_path / "bom.json"
    q.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    r = run("verify", str(p), str(q))
    assert r.exit_code == 1
    assert "CK002" in r.stdout and "CK003" in r.stdout


def test_fix_in_place_atomic_and_diff(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(BAD)
    r = run("fix", str(p), "--diff")
    assert r.exit_code == 1 and r.stdout.startswith("---") and p.read_text() == BAD
    r = run("fix", str(p))
    assert r.exit_code == 1  # the reversed box needs --unsafe-fixes
    assert "CK305" in r.stderr and "left unchanged: 1 error(s) remain" in r.stderr
    assert p.read_text() == BAD  # a file is rewritten only into a valid caption
    r = run("fix", str(p), "--unsafe-fixes")
    assert r.exit_code == 0
    assert verify(p.read_text()).ok
    assert list(tmp_path.iterdir()) == [p]  # no temp files left behind


def test_fix_never_overwrites_unparseable_input(tmp_path):
    p = tmp_path / "prose.json"
    p.write_text("just some words")
    r = run("fix", str(p))
    assert r.exit_code == 1 and "left unchanged" in r.stderr
    assert p.read_text() == "just some words"


def test_fix_stdout_and_jsonl(tmp_path):
    r = run("fix", "-", input="```json\n" + GOOD + "\n```")
    assert r.exit_code == 0 and r.stdout == GOOD + "\n"
    j = tmp_path / "a.jsonl"
    j.write_text(BAD.replace("[10,600,20,500]", "[10,500,20,600]") + "\n" + GOOD + "\n")
    assert run("fix", str(j)).exit_code == 0
    lines = j.read_text().splitlines()
    assert lines[0].startswith('{"compositional_deconstruction":{"background":"b"') and lines[1] == GOOD


def test_fmt_check_pretty_idempotent(tmp_path):
    p = tmp_path / "a.json"
    p.write_text(json.dumps(json.loads(GOOD), indent=4))
    assert run("fmt", "--check", str(p)).exit_code == 1
    assert run("fmt", str(p)).exit_code == 0
    once = p.read_bytes()
    assert once == (GOOD + "\n").encode()
    assert run("fmt", str(p)).exit_code == 0 and p.read_bytes() == once  # stable
    assert run("fmt", "--check", str(p)).exit_code == 0
    assert run("fmt", "--pretty", str(p)).exit_code == 0 and p.read_text().startswith("{\n  ")
    q = tmp_path / "broken.json"
    q.write_text("{")
    r = run("fmt", str(q))
    assert r.exit_code == 2 and "invalid JSON" in r.stderr and q.read_text() == "{"


def test_schema_and_rule_commands():
    r = run("schema")
    assert r.exit_code == 0 and r.stdout == (ROOT / "schemas/caption.schema.json").read_text()
    r = run("rule", "CK201")
    assert r.exit_code == 0 and r.stdout.startswith("CK201 style-key-order")
    assert run("rule", "CK999").exit_code == 2
    assert "CK612" in run("rule", "--all").stdout


def test_fuzz_command_agrees_with_reference_and_catches_a_bug(tmp_path):
    ok = run("fuzz", "official_ref:ReferenceVerifier", "--examples", "60", "--no-messages")
    assert ok.exit_code == 0, ok.output
    (tmp_path / "buggy_verifier.py").write_text(
        "import json\n"
        "def verify_raw(text):\n"
        "    try:\n        data = json.loads(text)\n    except ValueError as e:\n        return [str(e)]\n"
        "    return [] if isinstance(data, dict) else ['not a dict']\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        bad = run("fuzz", "buggy_verifier:verify_raw", "--examples", "200", "--seed", "3")
    finally:
        sys.path.remove(str(tmp_path))
    assert bad.exit_code == 1
    report = json.loads(bad.stdout)
    assert report["expected"] != report["got"]
    assert run("fuzz", "nope").exit_code == 2


def test_python_dash_m_and_console_script_entry_points():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "captionkit", "verify", str(EXAMPLES)],
                         capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    out = subprocess.run([sys.executable, "-m", "captionkit", "verify", "-"], input="[]",
                         capture_output=True, text=True, env=env)
    assert out.returncode == 1 and "CK101" in out.stdout and "Traceback" not in out.stderr


def test_written_files_get_normal_permissions(tmp_path):
    import stat

    from captionkit._io import write_atomic

    new = tmp_path / "new.json"
    write_atomic(new, "{}")
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~_current_umask()
    kept = tmp_path / "kept.json"
    kept.write_text("x")
    kept.chmod(0o640)
    write_atomic(kept, "y")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_text() == "y"


def _current_umask():
    current = os.umask(0)
    os.umask(current)
    return current


def test_console_script_builds_only_the_commands_area_and_agrees_with_app(tmp_path):
    from captionkit import cli

    registered = {c.name or c.callback.__name__ for c in cli.app.registered_commands}
    assert registered == set(cli.COMMANDS)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = tmp_path / "bad.json"
    p.write_text(BAD)
    code = ("import sys; from captionkit.cli import main; sys.argv = ['captionkit', *sys.argv[1:]]\n"
            "try:\n    main()\nfinally:\n"
            "    print(sorted(m for m in sys.modules if m.startswith('captionkit.cli.') or m == 'typer'),"
            " file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code, "verify", "--format", "text", str(p)], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 1 and proc.stdout == run("verify", str(p)).stdout
    assert proc.stderr.splitlines()[-1] == (
        "['captionkit.cli._app', 'captionkit.cli._common', 'captionkit.cli._verify', 'captionkit.cli.core', 'typer']")
    # paths alone: the same command without typer (tests/core/test_cli_plain.py compares the two)
    proc = subprocess.run([sys.executable, "-c", code, "verify", str(p)], capture_output=True, text=True, env=env)
    assert proc.returncode == 1 and proc.stdout == run("verify", str(p)).stdout
    assert proc.stderr.splitlines()[-1] == "['captionkit.cli._verify']"
    # a one-command area still parses its command name; help lists every command
    proc = subprocess.run([sys.executable, "-m", "captionkit", "expand", "--help"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "--batch" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "captionkit", "--help"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and all(name in proc.stdout for name in cli.COMMANDS)
