"""The Ray engine (``render_dataset``, ``captionkit render --engine ray``) against local batches.

One local Ray cluster (2 CPUs) serves the module; the actors load the tiny
pipeline from its saved folder, as they would load a real model. A run with a
worker killed mid-batch must end with the same outputs, PNG recipes and
manifest as a local ``render_batch`` of the same source and seeds.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from render_captions import BOAT, KITE

pytest.importorskip("torch")
pytest.importorskip("diffusers")
ray = pytest.importorskip("ray")

from captionkit.render import BatchItem, Preset, read_recipe, render_batch, render_dataset
from captionkit.render.fleet import CRASH_HOOK

ROOT = Path(__file__).resolve().parents[2]
SIZE = (256, 256)
# the actors' renderer: the settings of the session's local renderer fixture
OPTIONS: dict[str, Any] = {"device": "cpu", "dtype": "float32", "offline": True, "compile": False}


@pytest.fixture(scope="module")
def cluster() -> Any:
    """One local cluster for the module: 2 CPUs, as on the CI machine."""
    import logging

    ray.init(num_cpus=2, logging_level=logging.WARNING)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def quick_preset() -> Preset:
    return Preset.custom(steps=2, schedule=[7.0, 3.0], mu=0.0, std=1.75, name="quick")


def _source(folder: Path) -> Path:
    """Five JSONL lines: four captions and one the verifier rejects (key order), which fails per item."""
    rows = [KITE, BOAT] + [
        {"high_level_description": f"Poster {i}.",
         "compositional_deconstruction": {"background": "A plain wall." + " Dust." * i, "elements": []}}
        for i in range(2)
    ]
    lines = [json.dumps(r) for r in rows]
    lines.insert(2, '{"compositional_deconstruction":{"elements":[],"background":"Out of order."}}')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "captions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _without_timing(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(({k: v for k, v in e.items() if k != "seconds"} for e in entries), key=lambda e: e["file"])


def _manifest(out: Path) -> dict[str, Any]:
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"format": data["format"], "settings": data["settings"], "items": _without_timing(data["items"])}


def _pngs(out: Path) -> dict[str, tuple[dict[str, Any], str, bytes]]:
    from PIL import Image

    found = {}
    for path in sorted(out.glob("*.png")):
        recipe = read_recipe(path)
        with Image.open(path) as img:
            found[path.name] = (recipe.to_dict(), recipe.caption, img.tobytes())
    return found


@pytest.fixture(scope="module")
def runs(cluster: str, tiny_model_dir: Path, renderer: Any, quick_preset: Preset,
         tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same source rendered locally and on Ray, where one actor dies at its second item's first step."""
    import torch

    base = tmp_path_factory.mktemp("fleet")
    src = _source(base / "src")
    marker = base / "crashed"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each actor (Ray gives a 1-CPU actor one thread), for bit-equal pixels
    try:
        local = render_batch(renderer, _items(src), base / "local", preset=quick_preset, size=SIZE, seeds=[0, 5])
    finally:
        torch.set_num_threads(threads)
    events: list[Any] = []
    os.environ[CRASH_HOOK] = f"2:{marker}"
    try:
        remote = render_dataset(src, base / "ray", model=str(tiny_model_dir), preset=quick_preset, size=SIZE,
                                seeds=[0, 5], workers=2, on_progress=events.append, **OPTIONS)
    finally:
        del os.environ[CRASH_HOOK]
    return {"src": src, "base": base, "local": local, "ray": remote, "events": events, "marker": marker}


def _items(src: Path) -> list[BatchItem]:
    from captionkit.render import iter_items

    return iter_items(src)


def test_a_ray_run_with_a_killed_worker_equals_a_local_run(runs: dict[str, Any]) -> None:
    base = runs["base"]
    assert runs["marker"].exists(), "the test hook did not kill a worker"
    # the same files, byte-equal pixels and equal recipes (library versions included)
    local_pngs, ray_pngs = _pngs(base / "local"), _pngs(base / "ray")
    assert sorted(ray_pngs) == sorted(local_pngs)
    assert len(ray_pngs) == 8  # four captions, two seeds each
    for name in local_pngs:
        assert ray_pngs[name] == local_pngs[name], name
    # the same manifest, field by field, but for the render times
    assert _manifest(base / "ray") == _manifest(base / "local")
    assert _without_timing(runs["ray"].entries) == _without_timing(runs["local"].entries)
    assert [e["file"] for e in runs["ray"].entries] == [e["file"] for e in runs["local"].entries]
    assert (runs["ray"].rendered, runs["ray"].failed) == (8, 2)
    failed = [e for e in runs["ray"].entries if e["status"] == "failed"]
    assert all("\n" not in e["error"] and "captions.jsonl:3" in e["error"] for e in failed)


def test_the_dead_worker_lost_only_its_item_in_flight(runs: dict[str, Any]) -> None:
    encodes: dict[int, int] = {}
    for e in runs["events"]:
        if e.phase == "encode":
            encodes[e.item] = encodes.get(e.item, 0) + 1
    # item 2 (the rejected caption) never encodes; every other item encodes once, the one in flight twice
    assert set(encodes) == {0, 1, 3, 4}
    assert sorted(encodes.values()) in ([1, 1, 1, 1], [1, 1, 1, 2])
    assert sum(encodes.values()) <= 5


def test_progress_is_reported_as_for_a_local_batch(runs: dict[str, Any]) -> None:
    events = runs["events"]
    phases = {e.phase for e in events}
    assert {"load", "encode", "step", "decode"} <= phases
    assert all(e.items == 5 for e in events if e.phase != "load")
    finished = {e.item for e in events if e.phase == "step" and e.step == e.steps == 2}
    assert finished == {0, 1, 3, 4}


def test_a_rerun_renders_nothing_that_is_finished(runs: dict[str, Any], tiny_model_dir: Path, renderer: Any,
                                                  quick_preset: Preset) -> None:
    base = runs["base"]
    before = _manifest(base / "ray")
    events: list[Any] = []
    again = render_dataset(runs["src"], base / "ray", model=str(tiny_model_dir), preset=quick_preset, size=SIZE,
                           seeds=[0, 5], workers=2, on_progress=events.append, **OPTIONS)
    assert (again.rendered, again.skipped, again.failed) == (0, 8, 2)
    # every output present is skipped; only the rejected caption is tried again (as a local batch does),
    # and it fails before encoding
    assert sorted((e.item, e.label) for e in events if e.phase == "skip") == sorted(
        [(i, f"captions-0000{i + 1}") for i in (0, 1, 3, 4)] * 2)
    assert not [e for e in events if e.phase in ("encode", "step", "decode")]
    local_again = render_batch(renderer, _items(runs["src"]), base / "local", preset=quick_preset, size=SIZE,
                               seeds=[0, 5])
    assert _without_timing(again.entries) == _without_timing(local_again.entries)
    # the manifest keeps the record of the run that rendered each output
    assert _manifest(base / "ray") == before == _manifest(base / "local")


def test_a_missing_output_is_rendered_again_and_a_conflict_stops_the_run(
        runs: dict[str, Any], tiny_model_dir: Path, quick_preset: Preset, tmp_path: Path) -> None:
    import shutil

    from captionkit.render import RenderError

    out = tmp_path / "ray"
    shutil.copytree(runs["base"] / "ray", out)
    (out / "captions-00004-s5.png").unlink()
    wanted = _pngs(runs["base"] / "ray")["captions-00004-s5.png"]
    result = render_dataset(runs["src"], out, model=str(tiny_model_dir), preset=quick_preset, size=SIZE,
                            seeds=[0, 5], **OPTIONS)
    assert (result.rendered, result.skipped, result.failed) == (1, 7, 2)
    assert _pngs(out)["captions-00004-s5.png"][:2] == wanted[:2]
    with pytest.raises(RenderError, match=r"captions-00001-s0.png: already rendered with size 256x256 "
                                          r"\(this run: 512x512\); pass --overwrite"):
        render_dataset(runs["src"], out, model=str(tiny_model_dir), preset=quick_preset, size=(512, 512),
                       seeds=[0, 5], **OPTIONS)


def test_cancel_stops_the_workers_and_keeps_what_is_finished(runs: dict[str, Any], tiny_model_dir: Path,
                                                             quick_preset: Preset, tmp_path: Path) -> None:
    from captionkit.render import Cancelled, CancelToken

    token = CancelToken()
    steps: list[int] = []

    def on_progress(event: Any) -> None:
        if event.phase == "step":
            steps.append(event.item)
            token.cancel()  # at the first step the driver sees

    out = tmp_path / "cancelled"
    with pytest.raises(Cancelled):
        render_dataset(runs["src"], out, model=str(tiny_model_dir), preset=quick_preset, size=SIZE,
                       seeds=[0, 5], workers=1, on_progress=on_progress, cancel=token, **OPTIONS)
    assert steps
    made = sorted(p.name for p in out.glob("*.png"))
    assert len(made) < 8  # the worker stopped before the end
    assert not list(out.glob(".*.tmp"))  # no partial file
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert sorted(e["file"] for e in manifest["items"] if e["status"] == "rendered") == made
    # and a re-run finishes the job, keeping what the cancelled run made
    result = render_dataset(runs["src"], out, model=str(tiny_model_dir), preset=quick_preset, size=SIZE,
                            seeds=[0, 5], workers=1, **OPTIONS)
    assert (result.rendered, result.skipped) == (8 - len(made), len(made))
    assert _pngs(out) == _pngs(runs["base"] / "ray")


def test_an_item_that_keeps_killing_its_worker_is_failed_and_the_rest_render(
        runs: dict[str, Any], tiny_model_dir: Path, quick_preset: Preset, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # one try per item: the first item the worker starts kills it, and is not tried again
    monkeypatch.setenv(CRASH_HOOK, f"1:{tmp_path / 'crashed'}")
    out = tmp_path / "poison"
    result = render_dataset(runs["src"], out, model=str(tiny_model_dir), preset=quick_preset, size=SIZE,
                            seeds=[0], workers=1, max_attempts=1, **OPTIONS)
    poisoned = [e for e in result.entries if e["status"] == "failed" and "died" in e["error"]]
    assert len(poisoned) == 1 and (tmp_path / "crashed").exists()
    assert poisoned[0]["error"] == (f"{poisoned[0]['source']}: the worker rendering it died (1 of 1 tries); "
                                    "not tried again")
    assert (result.rendered, result.failed) == (3, 2)  # and the rejected caption
    rendered = sorted(e["file"] for e in result.entries if e["status"] == "rendered")
    assert sorted(p.name for p in out.glob("*.png")) == rendered
    assert json.loads((out / "manifest.json").read_text())["items"] == sorted(result.entries, key=lambda e: e["file"])


def test_a_pipeline_that_cannot_load_stops_the_run_in_one_line(cluster: str, tmp_path: Path,
                                                              quick_preset: Preset) -> None:
    from captionkit.render import RenderError

    src = tmp_path / "kite.json"
    src.write_text(json.dumps(KITE), encoding="utf-8")
    missing = tmp_path / "no-model-here"
    missing.mkdir()
    with pytest.raises(RenderError) as caught:
        render_dataset(src, tmp_path / "out", model=str(missing), preset=quick_preset, size=SIZE, **OPTIONS)
    assert "\n" not in str(caught.value) and str(missing) in str(caught.value)
    assert not list((tmp_path / "out").glob("*.png"))


def test_bad_options_are_refused_before_any_cluster(tmp_path: Path) -> None:
    from captionkit.render import RenderError

    src = tmp_path / "kite.json"
    src.write_text(json.dumps(KITE), encoding="utf-8")
    for kwargs, message in (({"workers": 0}, "workers must be at least 1"),
                            ({"max_attempts": 0}, "max_attempts must be at least 1"),
                            ({"gpus_per_worker": -1}, "gpus_per_worker must be 0 or more"),
                            ({"quantization": "int3"}, "int3"),
                            ({"device": "tpu"}, "unknown device 'tpu'")):
        with pytest.raises(RenderError, match=message):
            render_dataset(src, tmp_path / "out", address="127.0.0.1:1", **kwargs)
    with pytest.raises(RenderError, match="no such file or folder"):
        render_dataset(tmp_path / "absent.jsonl", tmp_path / "out", address="127.0.0.1:1")


def test_cli_engine_ray_joins_the_cluster_and_matches_the_local_engine(
        cluster: str, runs: dict[str, Any], tiny_model_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1"}
    flags = [str(runs["src"]), "--model", str(tiny_model_dir), "--steps", "2", "--guidance", "7",
             "--size", "256x256", "--seeds", "0,5", "--dtype", "float32", "--device", "cpu", "--no-compile",
             "--offline", "--quiet", "--format", "json"]
    base = [sys.executable, "-m", "captionkit", "render"]
    outputs = {}
    # the runtime environment reaches the workers: its variable arms the hook that kills one mid-batch
    marker = tmp_path / "crashed"
    runtime_env = json.dumps({"env_vars": {CRASH_HOOK: f"2:{marker}"}})
    for engine, extra in (("ray", ["--engine", "ray", "--ray-address", cluster, "--workers", "2",
                                   "--ray-runtime-env", runtime_env]),
                          ("local", [])):
        out = tmp_path / engine
        proc = subprocess.run([*base, *extra, *flags, "--out", str(out)], check=False, capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=600)
        # the rejected caption is reported before anything loads and counted as failed: exit 1
        assert proc.returncode == 1, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        assert "captions.jsonl:3" in proc.stderr
        printed = json.loads(proc.stdout)
        assert sorted(e["status"] for e in printed["items"]) == ["failed"] * 2 + ["rendered"] * 8
        outputs[engine] = (out, printed)
    assert marker.exists()
    (ray_out, ray_printed), (local_out, local_printed) = outputs["ray"], outputs["local"]
    assert _without_timing(ray_printed["items"]) == _without_timing(local_printed["items"])
    assert _manifest(ray_out) == _manifest(local_out)
    assert _pngs(ray_out) == _pngs(local_out)


def test_cli_unreachable_cluster_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "kite.json"
    src.write_text(json.dumps(KITE), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env.pop("RAY_ADDRESS", None)
    for flags, extra_env in ((["--ray-address", "127.0.0.1:1"], {}), ([], {"RAY_ADDRESS": "ray://127.0.0.1:1"})):
        proc = subprocess.run([sys.executable, "-m", "captionkit", "render", "--engine", "ray", *flags, str(src),
                               "--out", str(tmp_path / "out"), "--model", str(tmp_path), "--device", "cpu",
                               "--quiet"], check=False, capture_output=True, text=True, env={**env, **extra_env},
                              timeout=120)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        assert "ray: cannot reach the cluster at " + (flags[1] if flags else "ray://127.0.0.1:1") in proc.stderr


@pytest.mark.parametrize(("flags", "message"), [
    (["--workers", "2"], "--workers needs --engine ray"),
    (["--ray-address", "auto"], "--ray-address needs --engine ray"),
    (["--gpus-per-worker", "1"], "--gpus-per-worker needs --engine ray"),
    (["--ray-runtime-env", "{}"], "--ray-runtime-env needs --engine ray"),
    (["--engine", "ray", "--workers", "0"], "--workers must be at least 1"),
    (["--engine", "ray", "--gpus-per-worker", "-1"], "--gpus-per-worker must be 0 or more, got -1"),
    (["--engine", "ray", "--ray-runtime-env", "{not json"], "--ray-runtime-env: not JSON"),
    (["--engine", "ray", "--ray-runtime-env", "[1]"], "--ray-runtime-env: must be a JSON object"),
    (["--engine", "ray", "--ray-runtime-env", "absent.json"], "--ray-runtime-env absent.json: cannot read"),
    (["--engine", "ray", "--ray-runtime-env", "{\"pip\": 1} x"], "--ray-runtime-env: not JSON"),
])
def test_cli_refuses_engine_flags_in_one_line(flags: list[str], message: str, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from captionkit.cli import app

    src = tmp_path / "kite.json"
    src.write_text(json.dumps(KITE), encoding="utf-8")
    result = CliRunner().invoke(app, ["render", str(src), "--out", str(tmp_path / "out"), *flags])
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.stderr
