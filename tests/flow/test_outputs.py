"""Outputs that cannot be written: one line naming the path and the cause, exit 2, before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from captionkit.cli import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = str(ROOT / "examples" / "night_market.json")
GOOD = '{"compositional_deconstruction":{"background":"A wall.","elements":[]}}'


def one_line_error(result, *needles: str, reports: bool = False) -> None:
    """Exit 2 and exactly one ``error:`` line holding every needle (with ``reports``, after change reports)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    if reports:
        assert all(not line.startswith("error") for line in lines[:-1]), result.stderr
        lines = lines[-1:]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("argv", "target"),
    [
        (["preview", EXAMPLE, "-o", "{ro}/p.png"], "{ro}/p.png"),
        (["new", "-o", "{ro}/new.json"], "{ro}/new.json"),
        (["schema", "-o", "{ro}/schema.json"], "{ro}/schema.json"),
        (["fmt", "{ro}/cap.json"], "{ro}/cap.json"),
        (["fix", "{ro}/cap.json"], "{ro}/cap.json"),
    ],
    ids=["preview", "new", "schema", "fmt", "fix"],
)
def test_read_only_folder_is_one_line_exit_2(cli, readonly_dir: Path, argv: list[str], target: str) -> None:
    before = (readonly_dir / "cap.json").read_bytes()
    result = cli.invoke(app, [a.format(ro=readonly_dir) for a in argv])
    one_line_error(result, target.format(ro=readonly_dir), "permission denied", reports=argv[0] == "fix")
    assert (readonly_dir / "cap.json").read_bytes() == before  # the input is untouched
    assert sorted(p.name for p in readonly_dir.iterdir()) == ["cap.json"]


def test_fix_goes_on_with_the_other_files_and_exits_2(cli, readonly_dir: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"compositional_deconstruction":{"elements":[],"background":"b"}}\n', encoding="utf-8")
    result = cli.invoke(app, ["fix", str(readonly_dir / "cap.json"), str(other)])
    assert result.exit_code == 2
    assert f"error: {readonly_dir / 'cap.json'}: cannot write (permission denied)" in result.stderr
    assert other.read_text(encoding="utf-8") == '{"compositional_deconstruction":{"background":"b","elements":[]}}\n'


@pytest.mark.parametrize("kind", ["read-only", "a file", "below a file"])
def test_render_out_that_cannot_be_a_folder_fails_before_loading(cli, readonly_dir: Path, tmp_path: Path, kind) -> None:
    src = tmp_path / "cap.json"
    src.write_text(GOOD, encoding="utf-8")
    blocker = tmp_path / "taken.txt"
    blocker.write_text("not a folder", encoding="utf-8")
    out, cause = {
        "read-only": (readonly_dir / "renders", "permission denied"),
        "a file": (blocker, "is a file, not a folder"),
        "below a file": (blocker / "renders", f"{blocker} is a file, not a folder"),
    }[kind]
    # a model that does not exist: had the command tried to load, the error would name it instead
    result = cli.invoke(app, ["render", str(src), "--out", str(out), "--model", str(tmp_path / "no-model")])
    one_line_error(result, str(out), cause)
    assert blocker.read_text(encoding="utf-8") == "not a folder"


def test_render_unknown_dtype_and_device_are_one_line(cli, tmp_path: Path) -> None:
    src = tmp_path / "cap.json"
    src.write_text(GOOD, encoding="utf-8")
    dtype = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "o"), "--dtype", "int8"])
    one_line_error(dtype, "--dtype", "int8")
    device = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "o"), "--device", "tpu"])
    one_line_error(device, "unknown device 'tpu'")


def _expand(cli, server, *args: str):
    return cli.invoke(app, ["expand", *args, "-b", "openai-compatible", "--base-url", server.chat_url, "-m", "m"])


def test_expand_checks_its_output_before_any_request(cli, server, readonly_dir: Path, tmp_path: Path) -> None:
    single = _expand(cli, server, "a kite", "-o", str(readonly_dir / "kite.json"))
    one_line_error(single, str(readonly_dir / "kite.json"), "permission denied")
    ideas = tmp_path / "ideas.jsonl"
    ideas.write_text('"a kite"\n"a boat"\n', encoding="utf-8")
    batch = _expand(cli, server, "--batch", str(ideas), "-o", str(readonly_dir / "out.jsonl"))
    one_line_error(batch, str(readonly_dir / "out.jsonl"), "permission denied")
    below = _expand(cli, server, "--batch", str(ideas), "-o", str(ideas / "out.jsonl"))
    one_line_error(below, f"{ideas} is a file, not a folder")
    assert server.requests == []  # no tokens spent


def test_expand_refuses_to_overwrite_without_force_like_new(cli, server, tmp_path: Path) -> None:
    out = tmp_path / "kite.json"
    out.write_text("my edited caption\n", encoding="utf-8")
    refused = _expand(cli, server, "a kite", "-o", str(out))
    one_line_error(refused, str(out), "already exists", "--force")
    assert out.read_text(encoding="utf-8") == "my edited caption\n" and server.requests == []
    new_refused = cli.invoke(app, ["new", "-o", str(out)])
    one_line_error(new_refused, "already exists", "--force")
    forced = _expand(cli, server, "a kite", "-o", str(out), "--force")
    assert forced.exit_code == 0, forced.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["compositional_deconstruction"]
