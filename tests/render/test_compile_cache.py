"""The persistent compile cache folder: where it is, torch pointed at it, listing and clearing it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from captionkit.render import RenderError, compile_cache

names = st.text(st.characters(whitelist_categories=("Ll", "Nd")), min_size=1, max_size=8)


@given(names, names)
def test_folder_precedence(a: str, b: str) -> None:
    assert compile_cache.cache_dir({"CAPTIONKIT_COMPILE_CACHE": f"/{a}", "XDG_CACHE_HOME": f"/{b}"}) == Path(f"/{a}")
    assert compile_cache.cache_dir({"XDG_CACHE_HOME": f"/{b}"}) == Path(f"/{b}") / "captionkit" / "compile"
    home = compile_cache.cache_dir({})
    assert home.parts[-3:] == (".cache", "captionkit", "compile")


@pytest.fixture
def ours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "ck-compile"
    monkeypatch.setenv("CAPTIONKIT_COMPILE_CACHE", str(folder))
    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)
    return folder


def test_activate_points_torch_at_the_folder(ours: Path) -> None:
    pytest.importorskip("torch")
    assert compile_cache.activate() == ours
    assert os.environ["TORCHINDUCTOR_CACHE_DIR"] == str(ours)
    from torch._inductor.runtime.cache_dir_utils import cache_dir

    assert Path(cache_dir()) == ours.resolve()
    info = compile_cache.info()
    assert info.managed and info.path == ours and info.files == 1  # the CACHEDIR.TAG


def test_a_users_inductor_folder_wins_and_is_never_cleared(ours: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    theirs = tmp_path / "their-inductor"
    (theirs / "x").mkdir(parents=True)
    (theirs / "x" / "graph.bin").write_bytes(b"1234")
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(theirs))
    assert compile_cache.activate() == theirs
    info = compile_cache.info()
    assert not info.managed and info.path == theirs and info.files == 1 and info.size == 4
    compile_cache.clear()  # clears captionkit's own folder only
    assert (theirs / "x" / "graph.bin").exists()


def test_torchs_own_default_is_not_a_users_choice(ours: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", default_cache_dir())  # what torch writes there itself
    assert compile_cache.activate() == ours


def test_clear_removes_only_a_folder_captionkit_made(ours: Path) -> None:
    pytest.importorskip("torch")
    assert compile_cache.clear().files == 0  # nothing there yet
    compile_cache.activate()
    (ours / "fxgraph").mkdir()
    (ours / "fxgraph" / "a").write_bytes(b"x" * 10)
    gone = compile_cache.clear()
    assert gone.files == 2 and gone.size == 10 + len(compile_cache._TAG_TEXT) and not ours.exists()
    ours.mkdir()
    (ours / "precious.txt").write_text("keep")
    with pytest.raises(RenderError, match="not created by captionkit"):
        compile_cache.clear()
    assert (ours / "precious.txt").read_text() == "keep"


def test_cli_lists_and_clears(ours: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from typer.testing import CliRunner

    from captionkit.cli import app

    cli = CliRunner()
    compile_cache.activate()
    (ours / "kernel.so").write_bytes(b"k" * 100)
    res = cli.invoke(app, ["cache", "--cache-dir", str(tmp_path / "hub"), "--format", "json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["models"] == [] and data["compile"]["path"] == str(ours) and data["compile"]["files"] == 2
    text = cli.invoke(app, ["cache", "--cache-dir", str(tmp_path / "hub")])
    assert f"2 files  {ours}" in text.stdout
    cleared = cli.invoke(app, ["cache", "--clear-compile"])
    assert cleared.exit_code == 0 and "removed 2 files" in cleared.stderr and not ours.exists()
    ours.mkdir()
    (ours / "other").write_text("x")
    refused = cli.invoke(app, ["cache", "--clear-compile"])
    assert refused.exit_code == 2 and "not created by captionkit" in refused.stderr
