"""``captionkit render / info / cache`` through the real CLI, on the tiny pipeline."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from render_captions import BOAT  # noqa: E402
from render_captions import KITE as CAPTION  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from captionkit.cli import app  # noqa: E402


@pytest.fixture
def cli():
    return CliRunner()


def args(model: Path, *extra: str) -> list[str]:
    return ["--model", str(model), "--steps", "2", "--guidance", "5", "--size", "256x256",
            "--dtype", "float32", "--device", "cpu", "--quiet", *extra]


def test_render_one_caption_then_info(cli, tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "kite.json"
    src.write_text(json.dumps(CAPTION, indent=2), encoding="utf-8")
    out = tmp_path / "out"
    res = cli.invoke(app, ["render", str(src), "--out", str(out), "--seed", "7", *args(tiny_model_dir, "--memory")])
    assert res.exit_code == 0, res.output
    png = out / "kite-s7.png"
    assert res.stdout.strip() == str(png)
    assert "1 rendered, 0 already present, 0 failed" in res.stderr
    assert "memory: process RSS" in res.stderr

    info = cli.invoke(app, ["info", str(png)])
    assert info.exit_code == 0
    lines = info.stdout.splitlines()
    assert "seed: 7" in lines and "size: 256x256" in lines and "backend: diffusers" in lines
    assert lines[-1] == json.dumps(CAPTION, separators=(",", ":"))

    only = cli.invoke(app, ["info", str(png), "--caption"])
    assert only.stdout == json.dumps(CAPTION, separators=(",", ":")) + "\n"
    data = json.loads(cli.invoke(app, ["info", str(png), "--format", "json"]).stdout)
    assert data["seed"] == 7 and data["preset"]["schedule"] == [5.0, 5.0] and data["model"] == str(tiny_model_dir)

    # rendering from the image's metadata reproduces it
    again = cli.invoke(app, ["render", str(png), "--out", str(tmp_path / "again"), "--model", str(tiny_model_dir),
                             "--dtype", "float32", "--device", "cpu", "--quiet"])
    assert again.exit_code == 0, again.output
    from PIL import Image

    with Image.open(png) as a, Image.open(tmp_path / "again" / "kite-s7.png") as b:
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_batch_resume_manifest_and_bad_items(cli, tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "captions"
    src.mkdir()
    (src / "a_kite.json").write_text(json.dumps(CAPTION), encoding="utf-8")
    (src / "b_more.jsonl").write_text(json.dumps(BOAT) + "\n" + '{"not": "a caption"}\n', encoding="utf-8")
    out = tmp_path / "out"
    res = cli.invoke(app, ["render", str(src), "--out", str(out), "--seeds", "1,2", *args(tiny_model_dir)])
    assert res.exit_code == 1, res.output  # one bad line is a finding, the rest rendered
    assert "b_more.jsonl:2" in res.stderr
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == ["a_kite-s1.png", "a_kite-s2.png", "b_more-00001-s1.png", "b_more-00001-s2.png"]
    manifest = json.loads((out / "manifest.json").read_text())
    status = {e["file"]: e["status"] for e in manifest["items"]}
    assert status["a_kite-s1.png"] == "rendered" and status["b_more-00002-s1.png"] == "failed"
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}

    again = cli.invoke(app, ["render", str(src), "--out", str(out), "--seeds", "1,2,3", *args(tiny_model_dir)])
    assert "2 rendered, 4 already present, 3 failed" in again.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.png") if p.name in mtimes} == mtimes
    manifest = json.loads((out / "manifest.json").read_text())
    status = {e["file"]: e["status"] for e in manifest["items"]}
    assert status["a_kite-s1.png"] == "rendered" and status["a_kite-s3.png"] == "rendered"


def test_invalid_single_caption_is_one_line_exit_2(cli, tmp_path: Path) -> None:
    src = tmp_path / "bad.json"
    src.write_text('{"compositional_deconstruction": {"background": "x"}', encoding="utf-8")
    res = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "out"), "--model", "/nonexistent"])
    assert res.exit_code == 2
    assert res.stderr.count("\n") == 1 and res.stderr.startswith(f"error: {src}: not a valid caption")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--size", "1000x1000"], "width must be divisible by 16, got 1000"),
        (["--preset", "slow"], "unknown preset 'slow'"),
        (["--seeds", "1,x"], "--seeds: 'x' is not an integer"),
        (["--steps", "0"], "steps must be a positive integer"),
        (["--cfg-until", "1.5"], "--cfg-until must be a fraction of the steps between 0 and 1, got 1.5"),
    ],
)
def test_bad_options_are_one_line(cli, tmp_path: Path, extra: list[str], message: str) -> None:
    src = tmp_path / "kite.json"
    src.write_text(json.dumps(CAPTION), encoding="utf-8")
    res = cli.invoke(app, ["render", str(src), "--model", "/nonexistent", *extra])
    assert res.exit_code == 2
    assert message in res.stderr and res.stderr.count("\n") == 1


def test_missing_source(cli, tmp_path: Path) -> None:
    res = cli.invoke(app, ["render", str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "no such file or folder" in res.stderr


def test_ctrl_c_writes_no_partial_file(cli, tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from captionkit.render.progress import RichProgress

    def interrupt(self, event) -> None:
        if event.phase == "step":
            raise KeyboardInterrupt

    monkeypatch.setattr(RichProgress, "__call__", interrupt)
    src = tmp_path / "kite.json"
    src.write_text(json.dumps(CAPTION), encoding="utf-8")
    out = tmp_path / "out"
    res = cli.invoke(app, ["render", str(src), "--out", str(out), *args(tiny_model_dir)])
    assert res.exit_code == 130
    assert "cancelled" in res.stderr
    assert not list(out.glob("*.png")) and not list(out.glob(".*.tmp"))


def test_info_on_plain_png(cli, tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (4, 4)).save(tmp_path / "plain.png")
    res = cli.invoke(app, ["info", str(tmp_path / "plain.png")])
    assert res.exit_code == 2 and "no captionkit render metadata" in res.stderr
    res = cli.invoke(app, ["info", str(tmp_path / "missing.png")])
    assert res.exit_code == 2 and "no such file" in res.stderr


def _fake_cache(root: Path, repo: str, files: dict[str, bytes], commit: str = "a" * 40) -> None:
    base = root / ("models--" + repo.replace("/", "--"))
    (base / "refs").mkdir(parents=True)
    (base / "refs" / "main").write_text(commit)
    (base / "blobs").mkdir()
    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        (base / "blobs" / digest).write_bytes(data)
        target = base / "snapshots" / commit / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(base / "blobs" / digest, target.parent), target)


def test_cache_lists_ideogram_models(cli, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    full = {"model_index.json": b'{"_class_name": "Ideogram4Pipeline"}'}
    for comp in ("transformer", "unconditional_transformer", "text_encoder", "vae"):
        full[f"{comp}/model.safetensors"] = comp.encode() * 100
    _fake_cache(cache, "someone/my-ideogram-mirror", full)
    _fake_cache(cache, "ideogram-ai/ideogram-4-fp8", {"transformer/a.safetensors": b"x" * 10}, "b" * 40)
    _fake_cache(cache, "other/unrelated", {"model.safetensors": b"y" * 5000}, "c" * 40)
    res = cli.invoke(app, ["cache", "--cache-dir", str(cache), "--format", "json"])
    assert res.exit_code == 0, res.output
    rows = {r["repo_id"]: r for r in json.loads(res.stdout)["models"]}
    assert set(rows) == {"someone/my-ideogram-mirror", "ideogram-ai/ideogram-4-fp8"}
    assert rows["someone/my-ideogram-mirror"]["complete"] and rows["someone/my-ideogram-mirror"]["layout"] == "diffusers"
    assert rows["ideogram-ai/ideogram-4-fp8"]["layout"] == "official"
    assert not rows["ideogram-ai/ideogram-4-fp8"]["complete"]
    text = cli.invoke(app, ["cache", "--cache-dir", str(cache)])
    assert text.stdout.splitlines()[0].startswith("someone/my-ideogram-mirror")
    empty = cli.invoke(app, ["cache", "--cache-dir", str(tmp_path / "none")])
    assert empty.exit_code == 0 and "no Ideogram 4 models" in empty.stderr


def test_model_problem_stops_the_batch_with_exit_2(cli, tmp_path: Path) -> None:
    src = tmp_path / "kite.json"
    src.write_text(json.dumps(CAPTION), encoding="utf-8")
    res = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "out"), "--model", str(tmp_path / "nomodel"),
                           "--device", "cpu"])
    assert res.exit_code == 2
    assert res.stderr == f"error: model folder {tmp_path / 'nomodel'}: no such directory\n"
    assert not list((tmp_path / "out").glob("*"))


def test_modes_plan_and_cut_through_the_cli(cli, tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "kite.json"
    src.write_text(json.dumps(CAPTION), encoding="utf-8")
    out = tmp_path / "out"
    res = cli.invoke(app, ["render", str(src), "--out", str(out), "--seed", "3", "--quantization", "fp8",
                           "--cfg-until", "0.5", "--format", "json", *args(tiny_model_dir, "--memory")])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["plan"]["quantization"] == "fp8-weights" and data["plan"]["offload"] == "none"
    assert data["plan"]["reason"].startswith("fp8 runs as fp8-weights here: cpu has no fp8 tensor cores")
    assert set(data["memory"]["weights"]) == {"transformer", "unconditional_transformer", "text_encoder", "vae"}
    assert data["time"]["first_call_s"] > 0 and data["time"]["later_call_s"] is None
    # the reason is said once, as a line of its own, even with --quiet off
    loud = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "loud"), "--model", str(tiny_model_dir),
                            "--steps", "2", "--size", "256x256", "--dtype", "float32", "--device", "cpu"])
    assert loud.exit_code == 0, loud.output
    assert [line for line in loud.stderr.splitlines() if line.startswith("auto chose bf16: needs about")]
    info = cli.invoke(app, ["info", str(out / "kite-s3.png")])
    assert "quantization: fp8-weights" in info.stdout
    assert "guidance cut: unconditional pass for the first 0.5 of the steps" in info.stdout
    assert "vae: whole" in info.stdout


def test_offload_on_cpu_is_exit_2(cli, tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "kite.json"
    src.write_text(json.dumps(CAPTION), encoding="utf-8")
    res = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "o"), "--offload", "model",
                           *args(tiny_model_dir)])
    assert res.exit_code == 2
    assert res.stderr.strip().endswith("--offload model moves weights between CPU and GPU; the device is cpu")
