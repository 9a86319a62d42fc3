"""GPU smoke test for captionkit.render (run on a CUDA machine; pytest ignores this folder).

    python tests/gpu/smoke.py [--out DIR]

Checks, on the tiny random pipeline saved to disk and loaded through
captionkit's real loading path: CUDA render with compiled blocks, output equal
to diffusers' unoptimised path within tolerance, seed determinism with CPU
generators, PNG metadata round trip, the memory report, refusals, and nf4
(only when bitsandbytes is installed). Exits non-zero on the first failure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
warnings.filterwarnings("ignore")

CAPTION = (
    '{"high_level_description":"A red kite over a green hill.","compositional_deconstruction":'
    '{"background":"A green hill under a blue sky.","elements":[{"type":"obj","bbox":[100,300,400,700],'
    '"desc":"A red diamond kite."}]}}'
)


def check(cond: bool, what: str) -> None:
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        raise SystemExit(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--device", default="cuda", help="cpu runs the same checks without CUDA (a dry run)")
    args = ap.parse_args()
    dev = args.device

    import importlib.util

    import numpy as np
    import torch

    from captionkit.render import Renderer, RenderError, read_recipe
    from captionkit.render._tiny import build_tiny_pipeline

    if dev.startswith("cuda"):
        check(torch.cuda.is_available(), f"CUDA available ({torch.cuda.get_device_name(0)})")
    out = args.out or Path(tempfile.mkdtemp())
    model_dir = Path(tempfile.mkdtemp()) / "tiny-ideogram4"
    build_tiny_pipeline(seed=0).save_pretrained(model_dir)

    t0 = time.perf_counter()
    fast = Renderer(str(model_dir), device=dev, dtype="float32", offline=True)
    first = fast.render(CAPTION, size=(256, 256), preset="turbo", seeds=[1, 2])
    check(fast.compiled == dev.startswith("cuda"), f"blocks compiled on CUDA only (first render {time.perf_counter() - t0:.1f}s)")
    check(fast.device.startswith(dev), f"pipeline on {fast.device}")
    again = fast.render(CAPTION, size=(256, 256), preset="turbo", seeds=[2])
    a2 = np.asarray(first[1].image, dtype=np.int16)
    b2 = np.asarray(again[0].image, dtype=np.int16)
    check(int(np.abs(a2 - b2).max()) <= 1, "seed 2 alone equals seed 2 in a batch of seeds")

    slow = Renderer(str(model_dir), device=dev, dtype="float32", offline=True, optimize=False, compile=False)
    ref = slow.render(CAPTION, size=(256, 256), preset="turbo", seed=1)[0]
    diff = int(np.abs(np.asarray(first[0].image, dtype=np.int16) - np.asarray(ref.image, dtype=np.int16)).max())
    check(diff <= 2, f"optimised+compiled output equals diffusers defaults (max pixel diff {diff}/255)")

    t1 = time.perf_counter()
    other = fast.render(CAPTION.replace("red kite", "big red kite"), size=(256, 512), preset="turbo", seed=3)
    check(other[0].image.size == (256, 512), f"new length and size render ({time.perf_counter() - t1:.1f}s)")

    path = first[0].save(out / "smoke.png")
    recipe = read_recipe(path)
    check(recipe.seed == 1 and recipe.caption == first[0].recipe.caption, "PNG metadata round trip")
    rerun = fast.render(recipe.caption, size=(recipe.width, recipe.height), preset=recipe.preset, seed=recipe.seed)
    d = int(np.abs(np.asarray(rerun[0].image, dtype=np.int16) - np.asarray(first[0].image, dtype=np.int16)).max())
    check(d <= 1, "render from metadata reproduces the image")

    report = fast.memory()
    print("     " + report.format())
    check((report.gpu_peak > 0) == dev.startswith("cuda") and report.rss > 0, "memory report has GPU peak and RSS")

    try:
        Renderer(str(model_dir), device="cpu", quantization="nf4").load()
        check(False, "nf4 on CPU refused")
    except RenderError as exc:
        check("CUDA" in str(exc), f"nf4 on CPU refused: {exc}")

    if not dev.startswith("cuda"):
        pass
    elif importlib.util.find_spec("bitsandbytes") is None:
        print("skip nf4 on CUDA: bitsandbytes is not installed here")
    else:
        try:
            q = Renderer(str(model_dir), device="cuda", quantization="nf4", compile=False)
            img = q.render(CAPTION, size=(256, 256), preset="turbo", seed=1)[0]
            check(img.image.size == (256, 256), "nf4 render on CUDA")
        except RenderError as exc:
            print(f"note nf4 on the tiny model: {exc}")
    print("smoke: all checks passed")


if __name__ == "__main__":
    main()
