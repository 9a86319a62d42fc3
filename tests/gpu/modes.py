"""GPU checks of the quantization modes and memory plans (run on a CUDA machine; pytest ignores this folder).

    python tests/gpu/modes.py

On the tiny random pipeline saved to disk and loaded through captionkit's real
loading path: every quantization mode renders on CUDA and puts the expected
layer types in place (bitsandbytes ``Linear4bit`` for nf4, torchao float8
tensors for the fp8 modes); nf4 quantized on load, saved, and loaded again as
a pre-quantized folder gives the same image; every offload plan gives the same
image as keeping everything on the GPU, with the text encoder on the GPU while
it encodes and in CPU memory while the DiTs run; the guidance cut renders; the
compile cache fills. Exits non-zero on the first failure.
"""

from __future__ import annotations

import os
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
FAILED: list[str] = []


def check(cond: bool, what: str) -> None:
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        FAILED.append(what)


def main() -> None:
    cache = Path(tempfile.mkdtemp()) / "compile"
    os.environ["CAPTIONKIT_COMPILE_CACHE"] = str(cache)
    import numpy as np
    import torch

    from captionkit.render import Renderer
    from captionkit.render._tiny import build_tiny_pipeline
    from captionkit.render.quant import fp8_compute_support

    check(torch.cuda.is_available(), f"CUDA ({torch.cuda.get_device_name(0)})")
    ok, why = fp8_compute_support("cuda:0")
    check(ok, f"fp8 compute supported here {why}")
    root = Path(tempfile.mkdtemp())
    model = root / "tiny-ideogram4"
    build_tiny_pipeline(seed=0).save_pretrained(model)

    def px(result) -> np.ndarray:
        return np.asarray(result.image, dtype=np.int16)

    def make(**kw) -> Renderer:
        kw.setdefault("compile", False)
        return Renderer(str(model), device="cuda", dtype="bfloat16", offline=True, **kw)

    images = {}
    for mode in ("bf16", "fp8-weights", "fp8", "nf4"):
        t0 = time.perf_counter()
        try:
            r = make(quantization=mode, offload="none")
            res = r.render(CAPTION, size=(256, 256), preset="turbo", seed=1)[0]
        except Exception as exc:  # report and go on: one broken mode must not hide the others
            check(False, f"{mode}: renders ({type(exc).__name__}: {exc})")
            continue
        images[mode] = px(res)
        kinds = {type(m).__name__ for m in r.pipe.transformer.modules()}
        weights = {type(m.weight).__name__ for m in r.pipe.transformer.modules() if hasattr(m, "weight")
                   and m.weight is not None}
        te_kinds = {type(m).__name__ for m in r.pipe.text_encoder.modules()}
        check(r.quantization == mode and res.recipe.quantization == mode,
              f"{mode}: resolved and recorded ({time.perf_counter() - t0:.1f}s; {r.plan.reason})")
        if mode == "nf4":
            check("Linear4bit" in kinds and "Linear4bit" in te_kinds, "nf4: Linear4bit in both DiTs' blocks and the text encoder")
        if mode.startswith("fp8"):
            check(any("Float8" in w for w in weights), f"{mode}: float8 weights in the DiT ({sorted(weights)})")
        print("     " + r.memory().format())
        if mode != "bf16" and "bf16" in images:
            d = np.abs(images[mode] - images["bf16"])
            print(f"     {mode} vs bf16: mean |diff| {d.mean():.2f}, max {d.max()} (random tiny weights)")

    # nf4: quantized on load, saved, read back pre-quantized
    try:
        q = make(quantization="nf4")
        first = px(q.render(CAPTION, size=(256, 256), preset="turbo", seed=1)[0])
        saved = root / "tiny-nf4"
        q.pipe.save_pretrained(saved)
        again = Renderer(str(saved), device="cuda", dtype="bfloat16", offline=True, compile=False)
        second = px(again.render(CAPTION, size=(256, 256), preset="turbo", seed=1)[0])
        check(again.source.prequantized == "nf4" and again.quantization == "nf4",
              f"pre-quantized nf4 folder detected ({again.plan.reason})")
        check(int(np.abs(first - second).max()) <= 2, f"pre-quantized nf4 equals nf4 on load (max diff {np.abs(first - second).max()})")
    except Exception as exc:
        check(False, f"nf4 save and reload ({type(exc).__name__}: {exc})")

    # memory plans: same image, encoder on the GPU only while it encodes
    for mode in ("bf16", "nf4", "fp8"):
        base = None
        for plan in ("none", "text-encoder", "model", "dit-swap"):
            try:
                r = make(quantization=mode, offload=plan).load()
                seen: list[tuple[str, str]] = []
                te = r.pipe.text_encoder
                layer0 = te.language_model.layers[0]
                layer0.register_forward_pre_hook(lambda m, a: seen.append(("encode", str(next(te.parameters()).device))))
                for name in ("transformer", "unconditional_transformer"):
                    dit = getattr(r.pipe, name)
                    dit.register_forward_pre_hook(
                        lambda m, a, name=name: seen.append((name, str(next(te.parameters()).device))))
                img = px(r.render(CAPTION, size=(256, 256), preset="turbo", seed=1)[0])
                img2 = px(r.render(CAPTION, size=(256, 256), preset="turbo", seed=2)[0])
                r.render(CAPTION.replace("red kite", "blue kite"), size=(256, 256), preset="turbo", seed=1)
            except Exception as exc:
                check(False, f"{mode} offload={plan} renders ({type(exc).__name__}: {exc})")
                continue
            if base is None:
                base = img
            enc = [d for what, d in seen if what == "encode"]
            dit = [d for what, d in seen if what != "encode"]
            n_encodes = sum(1 for i, (what, _) in enumerate(seen) if what == "encode" and (i == 0 or seen[i - 1][0] != "encode"))
            parked = plan != "none"
            good = all(d.startswith("cuda") for d in enc) and all(d.startswith("cpu") == parked for d in dit)
            check(good and n_encodes == 2,
                  f"{mode} offload={plan}: encoder on the GPU to encode, {'in CPU memory' if parked else 'on the GPU'} "
                  f"while the DiTs run; encoded twice for 3 renders of 2 captions (got {n_encodes})")
            check(int(np.abs(img - base).max()) <= 1, f"{mode} offload={plan}: same image as offload=none "
                  f"(max diff {np.abs(img - base).max()})")
            check(not np.array_equal(img, img2), f"{mode} offload={plan}: second seed differs")
            print("     " + r.memory().format())

    # guidance cut and compile cache
    try:
        r = make(quantization="bf16", compile=os.environ.get("MODES_COMPILE") == "1")
        t0 = time.perf_counter()
        full = px(r.render(CAPTION, size=(256, 256), preset="turbo", seed=1)[0])
        cold = time.perf_counter() - t0
        cut = r.render(CAPTION, size=(256, 256), preset="turbo", seed=1, cfg_until=0.5)[0]
        check(cut.recipe.cfg_until == 0.5 and not np.array_equal(px(cut), full), "cfg-until renders, changes the image, is recorded")
        from captionkit.render import compile_cache

        info = compile_cache.info()
        if r.compiled:
            check(info.files > 0 and info.path == cache,
                  f"compile cache filled: {info.files} files, {info.size / 2**20:.1f} MiB in {info.path} (first call {cold:.1f}s)")
    except Exception as exc:
        check(False, f"compiled render with cache ({type(exc).__name__}: {exc})")

    # auto on the whole card
    try:
        r = make()
        r.load()
        check(r.quantization == "fp8" and r.offload == "none", f"auto on an H200: {r.plan.reason}")
    except Exception as exc:
        check(False, f"auto ({type(exc).__name__}: {exc})")
    if FAILED:
        print(f"modes: {len(FAILED)} check(s) failed: " + "; ".join(FAILED))
        raise SystemExit(1)
    print("modes: all checks passed")


if __name__ == "__main__":
    main()
