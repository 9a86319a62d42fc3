"""``captionkit verify PATH...`` runs without typer, and says byte for byte what the typer command says.

Each case runs the real console entry point twice in a fresh process: as is
(paths only take the plain route) and with the plain route switched off (the
typer command), and compares exit codes, standard output and standard error.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_RUN = (
    "import sys\n"
    "from captionkit import cli\n"
    "from captionkit.cli import _verify\n"
    "if sys.argv[1] == 'typer':\n"
    "    _verify.plain_command_line = lambda args: False\n"
    "taken = _verify.plain_command_line(sys.argv[2:])\n"
    "sys.argv = ['captionkit', *sys.argv[2:]]\n"
    "try:\n"
    "    cli.main()\n"
    "finally:\n"
    "    sys.stderr.write('[typer loaded]\\n' if 'typer' in sys.modules else '')\n"
    "    sys.stderr.write('[plain]\\n' if taken else '')\n"
)

GOOD = {"high_level_description": "A red kite.", "compositional_deconstruction": {"background": "A hill.", "elements": [
    {"type": "obj", "bbox": [100, 400, 300, 600], "desc": "A red diamond kite with a long ribbon tail."}]}}
# ANSI escape sequences in content reach the messages (CK612 quotes the medium): stripped unless a terminal
ANSI = {"style_description": {"aesthetics": "a", "lighting": "l", "photo": "35mm", "medium": "\u001b[31mred\u001b[0m"},
        "compositional_deconstruction": {"background": "A wall.", "elements": []}}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "good.json").write_text(json.dumps(GOOD, separators=(",", ":")) + "\n", encoding="utf-8")
    (tmp_path / "pretty.json").write_text(json.dumps(GOOD, indent=2), encoding="utf-8")
    (tmp_path / "ansi.json").write_text(json.dumps(ANSI), encoding="utf-8")
    (tmp_path / "bad.json").write_text('{"compositional_deconstruction":{"elements":[],"background":"b"},"x":1}',
                                       encoding="utf-8")
    (tmp_path / "broken.json").write_text('{"compositional_deconstruction":', encoding="utf-8")
    (tmp_path / "latin1.json").write_bytes(b'{"a":"caf\xe9"}')
    lines = [json.dumps(GOOD, separators=(",", ":"), ensure_ascii=False), "", "[]", "{nope",
             json.dumps({**GOOD, "high_level_description": "x\u2028y"}, ensure_ascii=False),
             json.dumps({"id": "k1", "ok": True, "caption": GOOD}),
             json.dumps({"id": "k2", "ok": False, "error": {"message": "quota"}}), json.dumps(ANSI)]
    (tmp_path / "many.jsonl").write_text("\n".join(lines) + "\r\n", encoding="utf-8")
    sub = tmp_path / "folder"
    sub.mkdir()
    (sub / "a.json").write_text(json.dumps(GOOD), encoding="utf-8")
    (sub / "b.jsonl").write_text(json.dumps(GOOD) + "\n" + "[1]\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    return tmp_path


CASES = [
    ["good.json"],
    ["pretty.json"],
    ["bad.json"],
    ["broken.json"],
    ["latin1.json"],
    ["ansi.json"],
    ["many.jsonl"],
    ["folder"],
    ["empty"],
    ["missing.json"],
    ["good.json", "many.jsonl", "missing.json", "folder"],
    ["-"],
]


def _run(route: str, args: list[str], cwd: Path, stdin: bytes, env: dict[str, str]) -> tuple[int, bytes, bytes]:
    proc = subprocess.run([sys.executable, "-c", _RUN, route, "verify", *args], input=stdin, capture_output=True,
                          cwd=cwd, env=env, timeout=120)
    return proc.returncode, proc.stdout, proc.stderr


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_COMPLETE")}
    return {**env, "PYTHONPATH": str(ROOT), **extra}


@pytest.mark.parametrize("args", CASES, ids=lambda a: "+".join(a))
def test_plain_route_says_what_typer_says(tree: Path, args: list[str]) -> None:
    stdin = json.dumps(GOOD).encode() if args == ["-"] else b""
    plain = _run("plain", args, tree, stdin, _env())
    typer = _run("typer", args, tree, stdin, _env())
    assert plain[1:] == (typer[1], typer[2].replace(b"[typer loaded]\n", b"") + b"[plain]\n")
    assert plain[0] == typer[0]
    assert b"[typer loaded]" not in plain[2]


def test_plain_route_warns_about_the_environment_as_typer_does(tree: Path) -> None:
    env = _env(CAPTIONKIT_TOKENIZER=str(tree / "nowhere"))
    plain = _run("plain", ["good.json"], tree, b"", env)
    typer = _run("typer", ["good.json"], tree, b"", env)
    assert b"CAPTIONKIT_TOKENIZER" in plain[2]
    assert plain[:2] == typer[:2] and plain[2] == typer[2].replace(b"[typer loaded]\n", b"") + b"[plain]\n"


@pytest.mark.parametrize("args", [["--help"], ["--format", "json", "good.json"], ["-x"], ["good.json", "--"],
                                  [], [""]])
def test_anything_but_paths_goes_to_typer(tree: Path, args: list[str]) -> None:
    code, _, err = _run("plain", args, tree, b"", _env())
    assert b"[plain]" not in err and b"[typer loaded]" in err


def test_a_shell_completion_request_goes_to_typer(tree: Path) -> None:
    _, _, err = _run("plain", ["good.json"], tree, b"", _env(_CAPTIONKIT_COMPLETE="bash_source"))
    assert b"[plain]" not in err


def _run_on_a_terminal(route: str, args: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-c", _RUN, route, "verify", *args], stdout=follower,
                                stderr=subprocess.PIPE, cwd=cwd, env=_env())
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closes when the process ends
                break
            if not chunk:
                break
            chunks.append(chunk)
        err = proc.stderr.read()
        proc.wait(timeout=120)
    finally:
        os.close(leader)
    return proc.returncode, b"".join(chunks), err


@pytest.mark.skipif(os.name != "posix", reason="a pseudo-terminal is a POSIX device")
def test_on_a_terminal_the_escape_sequences_stay_as_typer_leaves_them(tree: Path) -> None:
    plain = _run_on_a_terminal("plain", ["ansi.json"], tree)
    typer = _run_on_a_terminal("typer", ["ansi.json"], tree)
    assert b"\x1b[31m" in plain[1]
    assert plain[:2] == typer[:2]


def test_a_closed_standard_output_ends_quietly_with_1(tree: Path) -> None:
    big = tree / "big.jsonl"
    big.write_text("\n".join(["[]"] * 20000), encoding="utf-8")
    results = []
    for route in ("plain", "typer"):
        proc = subprocess.Popen([sys.executable, "-c", _RUN, route, "verify", str(big)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, cwd=tree, env=_env())
        proc.stdout.read(100)
        proc.stdout.close()  # the reader goes away (as `| head` does)
        err = proc.stderr.read()
        results.append((proc.wait(timeout=120), err.replace(b"[typer loaded]\n", b"").replace(b"[plain]\n", b"")))
    assert results[0] == results[1] == (1, b"")


# -- checking in several processes says exactly what one process says ----------------------------------


def _mixed_jsonl(path: Path, size: int) -> None:
    """A JSONL file of at least ``size`` bytes: clean, faulty, damaged, blank lines and failed records."""
    import random

    rng = random.Random(9)
    rows: list[str] = []
    i = written = -1
    while written < size:
        i += 1
        written += len(rows[-1]) + 1 if rows else 0
        kind = rng.randrange(8)
        data = json.loads(json.dumps(GOOD))
        if kind == 1:
            data["compositional_deconstruction"]["elements"][0]["bbox"] = [600, 400, 300, 100]
        elif kind == 2:
            data["x"] = i
        elif kind == 3:
            rows.append("{broken" if i % 2 else "")
            continue
        elif kind == 4:
            rows.append(json.dumps({"id": f"k{i}", "ok": False, "error": {"message": "quota"}}))
            continue
        elif kind == 5:
            data = ANSI
        elif kind == 6:
            data["compositional_deconstruction"]["elements"][0]["desc"] = "A stunning red or blue kite such as this."
        rows.append(json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.mark.skipif(sys.platform != "linux", reason="worker processes are forked on Linux only")
@pytest.mark.parametrize("extra", [[], ["--format", "json"], ["--format", "github"], ["--format", "official"],
                                   ["--no-lints", "--select", "CK3", "--fail-on", "warning"]])
def test_several_processes_say_what_one_says(tree: Path, extra: list[str]) -> None:
    from captionkit.cli import _verify

    big = tree / "big.jsonl"
    _mixed_jsonl(big, _verify.PARALLEL_FROM + 100_000)  # paths only: several processes by default
    args = [*extra, str(big), "good.json", "missing.json"]
    one = _run("typer", ["--jobs", "1", *args], tree, b"", _env())
    several = _run("typer", ["--jobs", "3", *args], tree, b"", _env())
    assert one == several and one[1]
    if not extra:  # the plain route (paths only) checks in several processes by default
        plain = _run("plain", args, tree, b"", _env())
        assert (plain[0], plain[1]) == (one[0], one[1])
        assert plain[2] == one[2].replace(b"[typer loaded]\n", b"") + b"[plain]\n"


def test_a_number_of_processes_below_one_is_a_usage_error(tree: Path) -> None:
    code, _, err = _run("typer", ["--jobs", "0", "good.json"], tree, b"", _env())
    assert code == 2 and b"error: --jobs: 0 is not a number of processes" in err
