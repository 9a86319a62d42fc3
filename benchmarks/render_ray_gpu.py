"""Batch throughput on two GPUs: the Ray engine against torchrun, in the same run.

    python benchmarks/render_ray_gpu.py --images 16             # a machine with two GPUs
    python benchmarks/render_ray_gpu.py --tiny --images 4        # CPU dry run of every code path

Both engines render the same JSONL of captions (exact token counts, as in
``benchmarks/render_gpu.py``) with the full-size Ideogram 4 architecture and
random bf16 weights, built on each GPU by ``build_full_pipeline``:

* ``torchrun``: ``torchrun --nproc_per_node 2`` runs this script as workers;
  each rank builds the pipeline on its GPU and runs ``render_batch`` on every
  second item (the path of ``torchrun -m captionkit render``);
* ``ray``: a local Ray cluster, ``render_dataset`` with two actors of one GPU
  each, every actor building the pipeline with ``pipeline_factory``.

The first ``2 x workers`` items are warm-up items (two caption lengths, so
that compilation and its one recompile for a second length happen there);
every engine renders them as part of its batch. Reported per engine:

* ``end_to_end_s`` / ``end_to_end_images_per_minute``: from launch to the
  last image, warm-up items and start-up included (torchrun: process launch,
  imports, build; Ray: actor start, imports, build; the cluster is started
  before the clock);
* ``steady_images_per_minute``: images finished after the first ``2 x workers``
  completions, divided by the time from that completion to the last one
  (each image's completion is the time of its last denoising step).

The JSON line on stdout has both engines and ``ray_over_torchrun`` (the ratio
of steady images per minute).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))
warnings.filterwarnings("ignore")

WARM_LENGTHS = (300, 333)


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def write_captions(path: Path, images: int, warm: int) -> list[str]:
    """The JSONL source: ``warm`` warm-up captions (two lengths, each rank gets both) then ``images`` timed ones."""
    from render_gpu import caption_with_tokens

    from captionkit.render._tiny import byte_tokenizer

    tok = byte_tokenizer()
    # rank r of 2 takes items r, r+2, ...: lengths a, a, b, b give each rank (and each actor, in practice) both
    lengths = [WARM_LENGTHS[(i // 2) % 2] for i in range(warm)] + [205 + 37 * (i % 8) for i in range(images)]
    rows = [caption_with_tokens(tok, n, salt=i) for i, n in enumerate(lengths)]
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return rows


def steady_rate(times: list[float], skip: int) -> float | None:
    """Images per minute after the first ``skip`` completions (None when too few remain)."""
    times = sorted(times)
    if len(times) <= skip + 1:
        return None
    start = times[skip - 1] if skip > 0 else times[0]
    window = times[skip:]
    span = window[-1] - start
    return round(60 * len(window) / span, 2) if span > 0 else None


def _preset(args: argparse.Namespace) -> Any:
    from captionkit.render import Preset, resolve_preset

    if args.steps is None:
        return resolve_preset(args.preset)
    return Preset.custom(steps=args.steps, schedule=[7.0] * args.steps, mu=0.0, std=1.75, name=f"bench_{args.steps}")


# --------------------------------------------------------------------------- torchrun


def torchrun_worker(args: argparse.Namespace) -> None:
    """One rank under torchrun: build on this rank's GPU, render its share, rank 0 writes the timings."""
    import torch
    import torch.distributed as dist
    from render_gpu import build_full_pipeline

    from captionkit.render import DistContext, Renderer, iter_items, render_batch

    ctx = DistContext.from_env()
    cuda = torch.cuda.is_available() and not args.tiny
    device = ctx.device if cuda and ctx.world_size > 1 else ("cuda:0" if cuda else "cpu")
    pipe = build_full_pipeline(device, tiny=args.tiny)
    renderer = Renderer(pipeline=pipe, compile=cuda)
    done: list[float] = []

    def on_progress(event: Any) -> None:
        if event.phase == "step" and event.step == event.steps:
            done.append(time.time())

    result = render_batch(renderer, iter_items(args.source), args.out, preset=_preset(args),
                          size=(args.size, args.size), seeds=[0], dist=ctx, on_progress=on_progress)
    if cuda:
        torch.cuda.synchronize()
    parts: list[Any] = [done]
    if ctx.world_size > 1:
        parts = [None] * ctx.world_size
        dist.all_gather_object(parts, done)
    if ctx.rank == 0:
        Path(args.result).write_text(json.dumps({
            "times": [t for p in parts for t in (p or [])], "rendered": result.rendered, "failed": result.failed,
        }), encoding="utf-8")
    ctx.close()


def run_torchrun(args: argparse.Namespace, source: Path, out: Path, warm: int) -> dict[str, Any]:
    result = out.parent / "torchrun-result.json"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(args.gpus),
           str(Path(__file__).resolve()), "--torchrun-worker", "--source", str(source), "--out", str(out),
           "--result", str(result), "--size", str(args.size), "--preset", args.preset]
    if args.steps is not None:
        cmd += ["--steps", str(args.steps)]
    if args.tiny:
        cmd.append("--tiny")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(BENCH), os.environ.get("PYTHONPATH", "")])}
    if args.tiny:
        env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    _log(f"torchrun: {args.gpus} processes")
    t0 = time.time()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, stdout=sys.stderr, check=False)
    wall = time.time() - t0
    if proc.returncode != 0:
        raise SystemExit(f"torchrun failed with exit code {proc.returncode}")
    data = json.loads(result.read_text(encoding="utf-8"))
    return _summary(data["times"], data["rendered"], data["failed"], wall, warm, t0)


# --------------------------------------------------------------------------- ray


def run_ray(args: argparse.Namespace, source: Path, out: Path, warm: int) -> dict[str, Any]:
    import logging

    import ray
    from render_gpu import build_full_pipeline

    from captionkit.render import render_dataset

    path = os.pathsep.join([str(ROOT), str(BENCH), os.environ.get("PYTHONPATH", "")])
    os.environ["PYTHONPATH"] = path  # a local cluster's workers inherit it; the runtime env says it again
    init: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False,
                            "runtime_env": {"env_vars": {"PYTHONPATH": path}}}
    if args.ray_address:
        init["address"] = args.ray_address
    elif args.tiny:
        init["num_cpus"] = args.gpus
    else:
        import torch

        init["num_gpus"] = torch.cuda.device_count()  # said, not left to detection
    ray.init(**init)
    try:
        gpus = float(ray.cluster_resources().get("GPU", 0))
        cuda = not args.tiny
        if cuda and gpus < args.gpus:
            raise SystemExit(f"ray: the cluster has {gpus:g} GPUs, {args.gpus} actors need one each")
        _log(f"ray: {args.gpus} actors, {'one GPU' if cuda else 'one CPU'} each "
             f"(cluster: {gpus:g} GPUs, {ray.cluster_resources().get('CPU', 0):g} CPUs)")
        done: list[float] = []

        def on_progress(event: Any) -> None:
            if event.phase == "step" and event.step == event.steps:
                done.append(time.time())
            elif event.phase == "load" and event.message:
                _log(f"ray: {event.message}")

        factory = functools.partial(build_full_pipeline, "cuda:0" if cuda else "cpu", tiny=args.tiny)
        t0 = time.time()
        result = render_dataset(
            source, out, pipeline_factory=factory, preset=_preset(args), size=(args.size, args.size), seeds=[0],
            workers=args.gpus, gpus_per_worker=1 if cuda else 0, cpus_per_worker=None if cuda else 1,
            device="cuda" if cuda else "cpu", compile=cuda, on_progress=on_progress,
        )
        wall = time.time() - t0
    finally:
        ray.shutdown()
    return _summary(done, result.rendered, result.failed, wall, warm, t0)


def _summary(times: list[float], rendered: int, failed: int, wall: float, warm: int, t0: float) -> dict[str, Any]:
    if failed:
        raise SystemExit(f"{failed} images failed; see the manifest")
    return {
        "images": rendered, "end_to_end_s": round(wall, 2),
        "end_to_end_images_per_minute": round(60 * rendered / wall, 2),
        "steady_images_per_minute": steady_rate(times, warm),
        "first_image_s": round(min(times) - t0, 2) if times else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--images", type=int, default=16, help="timed images (after the warm-up items)")
    ap.add_argument("--gpus", type=int, default=2, help="torchrun processes and Ray actors")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--preset", default="V4_DEFAULT_20")
    ap.add_argument("--steps", type=int, default=None, help="custom steps instead of the preset")
    ap.add_argument("--engines", default="torchrun,ray", help="which to run, in this order")
    ap.add_argument("--ray-address", default=None, help="an existing cluster instead of a local one")
    ap.add_argument("--tiny", action="store_true", help="the tiny pipeline on CPU (a dry run of every code path)")
    ap.add_argument("--json", type=Path, default=None, help="also write the result here")
    ap.add_argument("--keep", type=Path, default=None, help="render into this folder (default: a temporary one)")
    # the torchrun worker's own arguments
    ap.add_argument("--torchrun-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torchrun_worker:
        torchrun_worker(args)
        return
    if args.tiny and args.size == 1024:
        args.size = 256
    if args.tiny and args.steps is None:
        args.steps = 2

    import torch

    base = args.keep or Path(tempfile.mkdtemp(prefix="render-ray-gpu-"))
    base.mkdir(parents=True, exist_ok=True)
    warm = 2 * args.gpus
    source = base / "captions.jsonl"
    write_captions(source, args.images, warm)
    cuda = torch.cuda.is_available() and not args.tiny
    if cuda and torch.cuda.device_count() < args.gpus:
        raise SystemExit(f"--gpus {args.gpus}: only {torch.cuda.device_count()} CUDA devices here")
    report: dict[str, Any] = {
        "gpus": args.gpus, "gpu": torch.cuda.get_device_name(0) if cuda else "cpu (tiny dry run)",
        "images": args.images, "warmup_items": warm, "size": args.size,
        "preset": args.preset if args.steps is None else f"custom {args.steps} steps",
    }
    runners = {"torchrun": run_torchrun, "ray": run_ray}
    for engine in [e.strip() for e in args.engines.split(",") if e.strip()]:
        if engine not in runners:
            raise SystemExit(f"--engines: unknown engine {engine!r}; choose torchrun, ray")
        report[engine] = runners[engine](args, source, base / engine, warm)
        _log(f"{engine}: {json.dumps(report[engine])}")
    if "torchrun" in report and "ray" in report:
        a, b = report["ray"]["steady_images_per_minute"], report["torchrun"]["steady_images_per_minute"]
        report["ray_over_torchrun"] = round(a / b, 3) if a and b else None
    # the two engines must have made the same images
    if "torchrun" in report and "ray" in report:
        from captionkit.render import read_recipe

        names = sorted(p.name for p in (base / "torchrun").glob("*.png"))
        report["same_files"] = names == sorted(p.name for p in (base / "ray").glob("*.png"))
        report["same_recipes"] = report["same_files"] and all(
            read_recipe(base / "torchrun" / n) == read_recipe(base / "ray" / n) for n in names)
    line = json.dumps(report)
    print(line, flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(line + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
