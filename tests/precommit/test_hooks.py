"""The pre-commit hooks for real: pre-commit (from the package index) installs them from this checkout.

``pre-commit try-repo`` takes this checkout's HEAD plus its staged and modified tracked files,
builds captionkit into a fresh virtual environment with pip, and runs the hooks in a throwaway
git repository holding good and bad caption files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CANONICAL = '{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}\n'
NO_BACKGROUND = '{"compositional_deconstruction":{"elements":[]}}\n'


def _head() -> str | None:
    if shutil.which("git") is None:
        return None
    run = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    return run.stdout.strip() if run.returncode == 0 else None


HEAD = _head()
pytestmark = pytest.mark.skipif(HEAD is None, reason="needs git and a git checkout of captionkit")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """pre-commit's store in a temporary folder, so hook environments are built from this checkout."""
    out = dict(os.environ)
    out["PRE_COMMIT_HOME"] = str(tmp_path_factory.mktemp("pre-commit-home"))
    out["CAPTIONKIT_NO_EXTENSIONS"] = "1"  # the pure-Python build is enough for the hooks, and quicker
    out["PRE_COMMIT_COLOR"] = "never"
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        out.pop(name, None)
    return out


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir()
    git(path, "init", "-q")
    git(path, "config", "user.email", "test@example.invalid")
    git(path, "config", "user.name", "test")
    for name, text in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    git(path, "add", ".")
    return path


def pre_commit(repo: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args], cwd=repo, env=env, capture_output=True, text=True,
        timeout=900, stdin=subprocess.DEVNULL,
    )


def test_hooks_file_follows_the_linters_conventions() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))}
    assert set(hooks) == {"captionkit-verify", "captionkit-fmt"}
    for hook in hooks.values():
        assert {"id", "name", "entry", "language"} <= set(hook)
        assert hook["language"] == "python" and hook["types"] == ["json"] and hook["files"]
        assert hook["require_serial"] is True and hook["minimum_pre_commit_version"] == "2.9.2"
    assert hooks["captionkit-verify"]["entry"] == "captionkit verify"
    assert hooks["captionkit-fmt"]["entry"] == "captionkit fmt --exit-non-zero-on-format"


def test_try_repo_runs_both_hooks_on_good_and_bad_captions(tmp_path: Path, env: dict[str, str]) -> None:
    loose = '{ "compositional_deconstruction": { "background": "A white wall.", "elements": [] } }\n'
    out_of_order = '{"compositional_deconstruction":{"elements":[],"background":"A white wall."}}\n'
    broken = '{"compositional_deconstruction": \n'
    repo = make_repo(tmp_path / "captions", {
        "good.json": CANONICAL,
        "loose.json": loose,
        "order.json": out_of_order,
        "nobg.json": NO_BACKGROUND,
        "broken.json": broken,
        "notes.txt": "not json, so no hook looks at it\n",
    })
    run = pre_commit(repo, env, "try-repo", str(ROOT), "--all-files", "--verbose")
    log = run.stdout + run.stderr
    assert run.returncode == 1, log
    # the formatter ran first (ids in order): it rewrote what it could parse, then failed the run
    assert "captionkit fmt" in log and "files were modified by this hook" in log
    assert "reformatted loose.json" in log and "reformatted order.json" in log
    assert "error: broken.json: invalid JSON" in log
    assert (repo / "loose.json").read_text(encoding="utf-8") == CANONICAL
    assert (repo / "order.json").read_text(encoding="utf-8") == CANONICAL
    assert (repo / "good.json").read_text(encoding="utf-8") == CANONICAL
    assert (repo / "broken.json").read_text(encoding="utf-8") == broken  # never rewritten
    assert (repo / "nobg.json").read_text(encoding="utf-8") == NO_BACKGROUND
    # then the verifier failed on what no formatter can repair
    assert "nobg.json: /compositional_deconstruction: CK121 [error] 'background' must exist" in log
    assert "broken.json: /: CK002 [error]" in log
    good_lines = [line for line in log.splitlines() if line.startswith("good.json: /")]
    assert good_lines and not any("[error]" in line or "[warning]" in line for line in good_lines)


def test_verify_fix_and_fmt_from_a_config_with_files_narrowed(tmp_path: Path, env: dict[str, str]) -> None:
    fixable = json.dumps(
        {"compositional_deconstruction": {"elements": [{"desc": "A clock.", "type": "obj", "color_palette": ["#fff"]}],
                                          "background": "A white wall."}},
        indent=2,
    ) + "\n"
    package = '{"name": "web", "version": "1.0.0"}\n'
    config = {
        "repos": [{
            "repo": str(ROOT),
            "rev": HEAD,
            "hooks": [
                {"id": "captionkit-verify", "args": ["--fix"], "files": "^captions/"},
                {"id": "captionkit-fmt", "files": "^captions/"},
            ],
        }]
    }
    repo = make_repo(tmp_path / "site", {
        ".pre-commit-config.yaml": yaml.safe_dump(config),
        "captions/clock.json": fixable,
        "captions/nobg.json": NO_BACKGROUND,
        "package.json": package,
    })
    first = pre_commit(repo, env, "run", "--all-files")
    log = first.stdout + first.stderr
    assert first.returncode == 1, log
    assert "fixed captions/clock.json" in log
    assert "captions/nobg.json: /compositional_deconstruction: CK121 [error] 'background' must exist" in log
    expected = ('{"compositional_deconstruction":{"background":"A white wall.","elements":'
                '[{"type":"obj","desc":"A clock.","color_palette":["#FFFFFF"]}]}}\n')
    assert (repo / "captions/clock.json").read_text(encoding="utf-8") == expected
    assert (repo / "package.json").read_text(encoding="utf-8") == package  # outside `files`: untouched
    assert (repo / "captions/nobg.json").read_text(encoding="utf-8") == NO_BACKGROUND

    # the user writes the missing background and re-adds the files: now everything passes
    (repo / "captions/nobg.json").write_text(CANONICAL, encoding="utf-8")
    git(repo, "add", ".")
    second = pre_commit(repo, env, "run", "--all-files")
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("Passed") == 2


@pytest.fixture(autouse=True)
def _needs_pre_commit() -> Iterator[None]:
    pytest.importorskip("pre_commit")
    yield
