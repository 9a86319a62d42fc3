"""Multi-GPU batch throughput with full-size random weights (one process per GPU).

    torchrun --nproc_per_node 1 tests/gpu/multi_gpu.py --images 8
    torchrun --nproc_per_node 2 tests/gpu/multi_gpu.py --images 8

Every rank builds the full-size random pipeline on its own GPU, warms up
(compilation, one recompile for a second caption length), then renders its
share of the batch through ``render_batch`` (the same code path as
``captionkit render`` under torchrun); rank 0 writes the merged manifest and
prints images/minute for the timed batch.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
warnings.filterwarnings("ignore")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--preset", default="V4_DEFAULT_20")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    import torch
    import torch.distributed as dist
    from render_gpu import build_full_pipeline, caption_with_tokens

    from captionkit.render import BatchItem, DistContext, Renderer, render_batch

    ctx = DistContext.from_env()
    device = ctx.device if ctx.world_size > 1 else "cuda:0"
    t0 = time.perf_counter()
    pipe = build_full_pipeline(device)
    renderer = Renderer(pipeline=pipe, compile=True)
    build_s = time.perf_counter() - t0
    tok = pipe.tokenizer
    lengths = [205 + 37 * (i % 8) for i in range(args.images)]
    items = [BatchItem(f"img{i:03d}", f"caption{i}", caption_with_tokens(tok, n, salt=i)) for i, n in enumerate(lengths)]
    t1 = time.perf_counter()
    for n, salt in ((300, 900), (333, 901)):
        renderer.render(caption_with_tokens(tok, n, salt=salt), preset=args.preset, size=(args.size, args.size), seed=0)
    warm_s = time.perf_counter() - t1
    if ctx.world_size > 1:
        dist.barrier()
    out = args.out or Path(tempfile.mkdtemp())
    torch.cuda.synchronize()
    t2 = time.perf_counter()
    result = render_batch(renderer, items, out, preset=args.preset, size=(args.size, args.size), seeds=[0], dist=ctx)
    torch.cuda.synchronize()
    mine = time.perf_counter() - t2
    times = [mine]
    if ctx.world_size > 1:
        parts: list = [None] * ctx.world_size
        dist.all_gather_object(parts, mine)
        times = parts
    if ctx.rank == 0:
        wall = max(times)
        manifest = json.loads((out / "manifest.json").read_text())
        rendered = sum(1 for e in manifest["items"] if e["status"] == "rendered")
        print(json.dumps({
            "gpus": ctx.world_size, "gpu": torch.cuda.get_device_name(0), "images": rendered,
            "size": args.size, "preset": args.preset, "batch_wall_s": round(wall, 2),
            "images_per_minute": round(60 * rendered / wall, 2), "build_s": round(build_s, 1),
            "warmup_s": round(warm_s, 1), "per_rank_s": [round(t, 2) for t in times],
        }), flush=True)
    ctx.close()


if __name__ == "__main__":
    main()
