"""The guidance split on two GPUs against one GPU, same mode, same run.

Builds the full-size Ideogram 4 architecture with random bf16 weights (see
``render_gpu.py``), renders with one GPU, frees it, builds the same weights
again (each component is seeded, so the rebuild is identical) and renders
with ``Renderer(devices=["cuda:0", "cuda:1"])``. For each it reports:

* s/step at 1024x1024 (``--steps``, default 20) and at 2048x2048
  (``--big-steps``), each the mean of the step intervals after the first;
* first-call (compilation included) and later-call wall time;
* batch throughput: ``--images`` seeds of one caption, one image per call,
  in images per minute;
* the peak memory of each GPU;
* how far the split's image is from the single GPU's (max absolute pixel
  difference, and whether they are identical).

    python benchmarks/render_split_gpu.py --mode bf16 --json out/split-bf16.json
    python benchmarks/render_split_gpu.py --tiny   # CPU dry run (devices cpu,cpu)

Needs the render extra and two CUDA GPUs with about 60 GiB free each for bf16.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

warnings.filterwarnings("ignore")

from render_gpu import CAPTION_TOKENS, GIB, StepTimer, _schedule, build_full_pipeline, caption_with_tokens  # noqa: E402


def _sync(cuda: bool) -> None:
    if cuda:
        import torch

        for i in range(torch.cuda.device_count()):
            torch.cuda.synchronize(i)


def _peaks(cuda: bool) -> dict[str, float]:
    if not cuda:
        return {}
    import torch

    return {f"cuda:{i}": round(torch.cuda.max_memory_allocated(i) / GIB, 2) for i in range(torch.cuda.device_count())}


def _reset_peaks(cuda: bool) -> None:
    if cuda:
        import torch

        for i in range(torch.cuda.device_count()):
            torch.cuda.reset_peak_memory_stats(i)


def one(r: Any, text: str, size: tuple[int, int], steps: int, cuda: bool, seeds: list[int] | None = None) -> dict[str, Any]:
    from captionkit.render import Preset

    preset = Preset.custom(steps=steps, schedule=_schedule(steps), mu=0.0, std=1.75, name=f"bench_{steps}")
    timer = StepTimer(cuda)

    def progress(event: Any) -> None:
        if event.phase == "step" and seeds is None:
            timer.mark()

    if r._split is not None:
        from captionkit.render._split import SplitStats

        r._split.stats = SplitStats()
    _reset_peaks(cuda)
    _sync(cuda)
    t0 = time.perf_counter()
    res = r.render(text, preset=preset, size=size, seeds=seeds or [0], batch_size=1, on_progress=progress)
    _sync(cuda)
    wall = time.perf_counter() - t0
    out: dict[str, Any] = {"call_s": round(wall, 3), "peak_gib": _peaks(cuda), "images": [x.image for x in res]}
    if seeds is None:
        out["s_per_step"] = round(timer.s_per_step(), 4)
    else:
        out["images_per_min"] = round(60 * len(seeds) / wall, 2)
    if r._split is not None:
        out["split"] = r._split.stats.as_dict()
    return out


def measure(label: str, make: Any, text: str, args: argparse.Namespace, cuda: bool, data: dict[str, Any]) -> dict[str, Any]:
    """Every figure of one configuration; returns the images for the comparison."""
    row: dict[str, Any] = {}
    t0 = time.perf_counter()
    r = make()
    _sync(cuda)
    row["setup_s"] = round(time.perf_counter() - t0, 1)
    row["plan"] = r.plan.reason if r.plan else None
    first = (1024 // args.shrink, 1024 // args.shrink)
    big = (2048 // args.shrink, 2048 // args.shrink)
    res = one(r, text, first, args.steps, cuda)
    row["first_call_s"] = res["call_s"]
    res = one(r, text, first, args.steps, cuda)
    row["1024"] = {k: v for k, v in res.items() if k != "images"}
    images = res["images"]
    print(label, json.dumps(row), flush=True)
    if args.big_steps:
        one(r, text, big, 2, cuda)  # the new length's recompile, outside the timing
        res = one(r, text, big, args.big_steps, cuda)
        row["2048"] = {k: v for k, v in res.items() if k != "images"}
        print(label, "2048", json.dumps(row["2048"]), flush=True)
    if args.images:
        res = one(r, text, first, args.steps, cuda, seeds=list(range(1, args.images + 1)))
        row["batch"] = {k: v for k, v in res.items() if k != "images"}
        print(label, "batch", json.dumps(row["batch"]), flush=True)
    data["rows"][label] = row
    return {"images": images, "renderer": r}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="bf16", choices=["bf16", "fp8", "fp8-weights", "nf4"])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--big-steps", type=int, default=8, help="steps at 2048x2048 (0: skip)")
    ap.add_argument("--images", type=int, default=4, help="seeds in the throughput run (0: skip)")
    ap.add_argument("--eager", action="store_true")
    ap.add_argument("--only", choices=["single", "split"], default=None)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--tiny", action="store_true", help="the tiny pipeline on the CPU (devices cpu,cpu)")
    args = ap.parse_args()
    args.shrink = 4 if args.tiny else 1

    import numpy as np
    import torch

    from captionkit.render import Renderer

    cuda = torch.cuda.is_available() and not args.tiny
    if cuda and torch.cuda.device_count() < 2:
        sys.exit("needs two CUDA GPUs")
    devices = ["cuda:0", "cuda:1"] if cuda else ["cpu", "cpu"]
    data: dict[str, Any] = {"mode": args.mode, "steps": args.steps, "rows": {}}
    if cuda:
        data["gpus"] = [torch.cuda.get_device_properties(i).name for i in range(2)]
    data["torch"] = torch.__version__
    tokens = CAPTION_TOKENS if not args.tiny else 160
    compile_on = not args.eager and cuda
    label = f"{args.mode}{'' if compile_on else ' eager'}"
    images: dict[str, Any] = {}
    order = [args.only] if args.only else ["single", "split"]
    for kind in order:
        pipe = build_full_pipeline(devices[0], tiny=args.tiny)
        text = caption_with_tokens(pipe.tokenizer, tokens)

        def make(pipe: Any = pipe, kind: str = kind) -> Any:
            return Renderer(pipeline=pipe, quantization=args.mode, offload="none", compile=compile_on,
                            devices=devices if kind == "split" else None)

        out = measure(f"{label} {kind}", make, text, args, cuda, data)
        images[kind] = out["images"]
        del out, pipe, make
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    rows = data["rows"]
    if "single" in images and "split" in images:
        a = np.asarray(images["single"][0], dtype=np.int16)
        b = np.asarray(images["split"][0], dtype=np.int16)
        data["same_image"] = bool(np.array_equal(a, b))
        data["max_pixel_diff"] = int(np.abs(a - b).max())
        one_ = rows[f"{label} single"]["1024"]["s_per_step"]
        two = rows[f"{label} split"]["1024"]["s_per_step"]
        data["ratio_1024"] = round(two / one_, 3)
        if "2048" in rows[f"{label} single"]:
            data["ratio_2048"] = round(rows[f"{label} split"]["2048"]["s_per_step"]
                                       / rows[f"{label} single"]["2048"]["s_per_step"], 3)
        if "batch" in rows[f"{label} single"]:
            data["images_per_min"] = {k: rows[f"{label} {k}"]["batch"]["images_per_min"] for k in ("single", "split")}
    summary = {k: v for k, v in data.items() if k != "rows"}
    print("summary " + json.dumps(summary), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
