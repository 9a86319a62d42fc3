"""Multi-process batch rendering: two CPU processes (gloo) under torchrun, one merged manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

ROOT = Path(__file__).resolve().parents[2]


def test_two_ranks_split_the_batch_and_merge_the_manifest(tiny_model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "captions.jsonl"
    lines = [
        {"high_level_description": f"Poster {i}.",
         "compositional_deconstruction": {"background": "A plain wall." + " Dust." * i, "elements": []}}
        for i in range(4)
    ]
    src.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "captionkit", "render", str(src), "--out", str(out), "--model", str(tiny_model_dir),
        "--steps", "2", "--size", "256x256", "--dtype", "float32", "--quiet", "--format", "json",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    printed = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert len(printed) == 1  # only rank 0 reports
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["world_size"] == 2
    items = manifest["items"]
    assert [e["file"] for e in items] == [f"captions-{n:05d}-s0.png" for n in range(1, 5)]
    assert all(e["status"] == "rendered" for e in items)
    assert {e["rank"] for e in items} == {0, 1}
    # every-other split: lines 1 and 3 on rank 0, 2 and 4 on rank 1
    assert [e["rank"] for e in items] == [0, 1, 0, 1]
    assert sorted(p.name for p in out.glob("*.png")) == [e["file"] for e in items]
