"""Render on the cards people own: every quantization mode, under emulated 24 and 16 GB cards.

Builds the full-size Ideogram 4 architecture (two 9.28B DiTs, a 36-layer
Qwen3-VL-8B class text encoder, the FLUX.2 VAE) with random bf16 weights
directly on the GPU; the weights cannot be downloaded here and the timings do
not depend on their values. The tokenizer is byte-level, so the caption is
built to an exact token count (491, chat wrapper included).

One process measures one mode (``--mode``), so compiled code and memory
fragmentation never leak from one mode into the next; run it once per mode
and merge the JSON files with ``--table``. For each mode it reports:

* per size (1024x1024, 1536x1024, 2048x2048) and per card (no cap, 24 GB,
  16 GB; a card is emulated with ``torch.cuda.set_per_process_memory_fraction``
  after subtracting what the CUDA context already holds): s/step (mean of the
  step intervals after the first, each step end synchronised), the first and
  a later call's wall time, the peak and per-phase activation memory, the
  weights per component on the GPU and parked on the CPU, and the memory plan
  ``auto`` chose for that card;
* the accuracy guard: for the same latents, timestep and caption, the cosine
  similarity and relative L2 error against bf16 of the text features and of
  each DiT's output (the conditional DiT also with the bf16 text features, to
  separate the DiT's own error);
* ``diffusers``: the baseline, diffusers' own defaults (text padded to 2048,
  stock attention, no compile), in bf16 and with NF4 DiTs.

    python benchmarks/render_gpu.py --mode diffusers --json out/diffusers.json
    python benchmarks/render_gpu.py --mode nf4 --json out/nf4.json
    python benchmarks/render_gpu.py --table out/*.json      # markdown tables
    python benchmarks/render_gpu.py --tiny --mode fp8-weights  # CPU dry run of every code path

Needs the render extra (with bitsandbytes and torchao) and a CUDA GPU with
about 60 GiB free.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

warnings.filterwarnings("ignore")

CAPTION_TOKENS = 491  # the spec's measured caption, chat wrapper included
SIZES = ((1024, 1024), (1536, 1024), (2048, 2048))
CAPS = (None, 24, 16)  # GB, as sold
GIB = 2**30


def build_full_pipeline(device: str, *, tiny: bool = False) -> Any:
    """Full-size random components in bf16 on ``device`` (each seeded on its own, so rebuilds are identical)."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Ideogram4Pipeline,
        Ideogram4Transformer2DModel,
    )
    from transformers import Qwen3VLModel

    from captionkit.render._tiny import build_tiny_pipeline, byte_tokenizer, qwen3vl_config

    if tiny:
        pipe = build_tiny_pipeline(seed=0).to(device=device, dtype=torch.bfloat16)
        pipe.set_progress_bar_config(disable=True)
        return pipe
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            torch.manual_seed(1)
            text_encoder = Qwen3VLModel(
                qwen3vl_config(hidden=4096, heads=32, kv_heads=8, head_dim=128, intermediate=12288,
                               vocab=151936, mrope=[24, 20, 20], rope_theta=5_000_000)
            ).eval()
            torch.manual_seed(2)
            transformer = Ideogram4Transformer2DModel().eval()
            torch.manual_seed(3)
            unconditional = Ideogram4Transformer2DModel().eval()
            torch.manual_seed(4)
            vae = AutoencoderKLFlux2().eval()
    finally:
        torch.set_default_dtype(previous)
    for m in (text_encoder, transformer, unconditional, vae):
        m.to(device=device, dtype=torch.bfloat16)
        m.requires_grad_(False)
    pipe = Ideogram4Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=byte_tokenizer(),
        transformer=transformer,
        unconditional_transformer=unconditional,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def caption_with_tokens(tokenizer: Any, target: int, salt: int = 0) -> str:
    """A verified caption whose chat-wrapped token count is exactly ``target``."""
    import captionkit

    def make(filler: str) -> str:
        # Byte-level tokens: one per byte, so keep the fixed part short and pad the background.
        return captionkit.dumps(
            {
                "high_level_description": f"Poster {salt}.",
                "compositional_deconstruction": {"background": "A dark sea. " + filler, "elements": []},
            }
        )

    def count(text: str) -> int:
        messages = [{"role": "user", "content": [{"type": "text", "text": text}]}]
        rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return len(tokenizer(rendered, add_special_tokens=False)["input_ids"])

    base = count(make(""))
    if base > target:
        raise SystemExit(f"target {target} tokens is below the base caption's {base}")
    words = ("waves", "gulls", "rocks", "foam", "clouds", "stars")
    filler = ""
    i = 0
    while count(make(filler)) + 6 <= target:
        filler += words[i % len(words)] + " "
        i += 1
    while count(make(filler)) < target:
        filler += "x"
    text = make(filler)
    assert count(text) == target, (count(text), target)
    return text


class StepTimer:
    """Synchronised timestamps at each step end."""

    def __init__(self, cuda: bool) -> None:
        import torch

        self.torch = torch
        self.cuda = cuda
        self.times: list[float] = []

    def mark(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()
        self.times.append(time.perf_counter())

    def s_per_step(self) -> float:
        t = self.times
        return (t[-1] - t[0]) / (len(t) - 1) if len(t) > 1 else float("nan")


def _schedule(steps: int) -> list[float]:
    return [7.0] * max(steps - 2, 0) + [3.0] * min(2, steps)


def run_defaults(pipe: Any, prompt: str, width: int, height: int, steps: int, cuda: bool) -> dict[str, Any]:
    """diffusers as documented: text padded to 2048, stock attention, no compile."""
    import torch

    timer = StepTimer(cuda)

    def cb(p: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        timer.mark()
        return {}

    if cuda:
        torch.cuda.reset_peak_memory_stats()
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        pipe(prompt=prompt, height=height, width=width, num_inference_steps=steps,
             guidance_schedule=_schedule(steps), mu=0.0, std=1.75,
             generator=torch.Generator("cpu").manual_seed(0), output_type="pil", callback_on_step_end=cb,
             max_sequence_length=2048 if cuda else 512)
    if cuda:
        torch.cuda.synchronize()
    return {"s_per_step": timer.s_per_step(), "call_s": time.perf_counter() - t0,
            "peak_gib": torch.cuda.max_memory_allocated() / GIB if cuda else 0.0}


def run_renderer(r: Any, prompt: str, width: int, height: int, steps: int, cuda: bool,
                 cfg_until: float | None = None) -> dict[str, Any]:
    """One captionkit render (one image); s/step, wall time and the memory report."""
    import torch

    from captionkit.render import Preset

    preset = Preset.custom(steps=steps, schedule=_schedule(steps), mu=0.0, std=1.75, name=f"bench_{steps}")
    timer = StepTimer(cuda)

    def progress(event: Any) -> None:
        if event.phase == "step":
            timer.mark()

    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    res = r.render(prompt, preset=preset, size=(width, height), seed=0, on_progress=progress, cfg_until=cfg_until)
    if cuda:
        torch.cuda.synchronize()
    call = time.perf_counter() - t0
    mem = r.memory()
    return {
        "s_per_step": timer.s_per_step(), "call_s": call, "peak_gib": mem.gpu_peak / GIB,
        "reserved_gib": mem.gpu_reserved / GIB,
        "weights_gib": {k: round(v / GIB, 3) for k, v in mem.weights.items()},
        "parked_gib": {k: round(v / GIB, 3) for k, v in mem.parked.items()},
        "phase_peak_gib": {k: round(v / GIB, 3) for k, v in mem.phases.items()},
        "activations_gib": {k: round(v / GIB, 3) for k, v in mem.activations.items()},
        "vae_tiling": res[0].recipe.vae_tiling,
    }


def dit_outputs(pipe: Any, text: str, width: int, height: int, msl: int, device: str,
                features: Any = None) -> dict[str, Any]:
    """Text features and both DiTs' outputs for fixed latents and timestep (as the pipeline computes them)."""
    import torch

    dtype = torch.bfloat16
    grid_h, grid_w = height // 16, width // 16
    with torch.inference_mode():
        enc = type(pipe).encode_prompt(pipe, prompt=[text], grid_h=grid_h, grid_w=grid_w,
                                       max_sequence_length=msl, device=torch.device(device))
        llm, pos_ids, seg_ids, ind = enc
        own_features = llm[:, :msl].float().cpu()
        if features is not None:
            llm = torch.cat([features.to(device=device, dtype=llm.dtype), llm[:, msl:]], dim=1)
        g = torch.Generator("cpu").manual_seed(1234)
        n_img = grid_h * grid_w
        latents = torch.randn((1, n_img, 128), generator=g).to(device)
        t = torch.full((1,), 0.35, device=device, dtype=dtype)
        pos_z = torch.cat([torch.zeros(1, msl, 128, device=device), latents], dim=1).to(dtype)
        cond = pipe.transformer(hidden_states=pos_z, timestep=t, encoder_hidden_states=llm.to(dtype),
                                position_ids=pos_ids, segment_ids=seg_ids, indicator=ind, return_dict=False)[0]
        neg = pipe.unconditional_transformer(
            hidden_states=latents.to(dtype), timestep=t,
            encoder_hidden_states=torch.zeros(1, n_img, llm.shape[-1], device=device, dtype=dtype),
            position_ids=pos_ids[:, msl:], segment_ids=seg_ids[:, msl:], indicator=ind[:, msl:], return_dict=False,
        )[0]
    return {"text_features": own_features, "cond": cond[:, msl:].float().cpu(), "uncond": neg.float().cpu()}


def closeness(ref: Any, out: Any) -> dict[str, float]:
    """Cosine similarity and relative L2 error of ``out`` against ``ref`` (flattened, float64)."""
    import torch

    a, b = ref.double().flatten(), out.double().flatten()
    if not torch.isfinite(b).all():
        return {"cosine": float("nan"), "rel_l2": float("nan")}
    cos = torch.nn.functional.cosine_similarity(a, b, dim=0).item()
    rel = (torch.linalg.vector_norm(b - a) / torch.linalg.vector_norm(a)).item()
    return {"cosine": round(cos, 6), "rel_l2": round(rel, 6)}


class Bench:
    """Collects results, writes them after every cell, and keeps to a deadline."""

    def __init__(self, args: argparse.Namespace, info: dict[str, Any]) -> None:
        self.args = args
        self.t0 = time.perf_counter()
        self.data: dict[str, Any] = {"info": info, "mode": args.mode, "cells": [], "accuracy": {}, "not_run": [],
                                     "auto": {}, "errors": []}

    def left(self) -> float:
        return self.args.deadline - (time.perf_counter() - self.t0)

    def save(self) -> None:
        if self.args.json:
            self.args.json.parent.mkdir(parents=True, exist_ok=True)
            self.args.json.write_text(json.dumps(self.data, indent=1, default=str))

    def cell(self, name: str, cap: int | None, size: tuple[int, int], fn: Any, need_s: float = 20.0) -> Any:
        where = f"{name} cap={cap or 'none'} {size[0]}x{size[1]}"
        if self.left() < need_s:
            self.data["not_run"].append(f"{where} (deadline)")
            print(f"skip  {where}: deadline", flush=True)
            self.save()
            return None
        try:
            out = fn()
        except Exception as exc:  # an OOM or any failure is a result, not the end of the run
            text = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            out = {"error": f"{type(exc).__name__}: {text}"}
            if "out of memory" not in text.lower() and "not enough memory" not in text.lower():
                self.data["errors"].append({"cell": where, "trace": traceback.format_exc()[-3000:]})
        row = {"name": name, "cap_gb": cap, "size": f"{size[0]}x{size[1]}", **out}
        self.data["cells"].append(row)
        self.save()
        print(f"cell  {where}: " + json.dumps({k: v for k, v in out.items() if not isinstance(v, dict)}), flush=True)
        return out


def _cap(cap: int | None, ctx_bytes: int, cuda: bool) -> None:
    if not cuda:
        return
    import torch

    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.empty_cache()
    if cap is None:
        torch.cuda.set_per_process_memory_fraction(1.0)
    else:
        torch.cuda.set_per_process_memory_fraction(max(cap * 10**9 - ctx_bytes, 0) / total)


def main_mode(args: argparse.Namespace) -> None:
    import torch

    cuda = torch.cuda.is_available() and not args.tiny
    device = "cuda:0" if cuda else "cpu"
    ctx = 0
    if cuda:
        torch.cuda.init()
        free, total = torch.cuda.mem_get_info()
        ctx = total - free  # the CUDA context and anything else already there: a real card loses it too
    import diffusers
    import transformers

    info = {"python": platform.python_version(), "torch": torch.__version__, "diffusers": diffusers.__version__,
            "transformers": transformers.__version__, "device": device, "context_gib": round(ctx / GIB, 2)}
    for dist in ("bitsandbytes", "torchao"):
        try:
            from importlib.metadata import version

            info[dist] = version(dist)
        except Exception:
            info[dist] = None
    if cuda:
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_gib=round(props.total_memory / GIB, 1), cc=f"{props.major}.{props.minor}")
    bench = Bench(args, info)
    print(json.dumps(info), flush=True)
    t0 = time.perf_counter()
    pipe = build_full_pipeline(device, tiny=args.tiny)
    if cuda:
        torch.cuda.synchronize()
    info["build_s"] = round(time.perf_counter() - t0, 1)
    tok = pipe.tokenizer
    text = caption_with_tokens(tok, args.tokens)
    wanted = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")] if args.sizes else list(SIZES)
    sizes = [(w // args.shrink, h // args.shrink) for w, h in wanted]
    for w, h in SIZES:
        if (w, h) not in wanted:
            bench.data["not_run"].append(f"{args.mode} {w}x{h} (not in this run's sizes)")
    first = sizes[0]
    steps, msteps = args.steps, args.matrix_steps

    if args.mode == "diffusers":
        run_defaults(pipe, text, 256, 256, 2, cuda)  # warm-up: cuBLAS handles, allocator
        for size in sizes:
            n = steps if size == first else msteps
            bench.cell("diffusers bf16", None, size, lambda s=size, n=n: run_defaults(pipe, text, *s, n, cuda))
        if cuda:
            from captionkit.render.quant import _nf4, is_dit_weight

            for name in ("transformer", "unconditional_transformer"):
                _nf4(getattr(pipe, name), is_dit_weight, torch.bfloat16, device)
            torch.cuda.empty_cache()
            bench.cell("diffusers nf4-dits", None, first, lambda: run_defaults(pipe, text, *first, steps, cuda))
        bench.save()
        return

    from captionkit.render import Renderer
    from captionkit.render.plan import choose

    ref = dit_outputs(pipe, text, *first, args.tokens, device) if args.accuracy else None
    mode = args.mode
    t0 = time.perf_counter()
    r = Renderer(pipeline=pipe, quantization=mode, offload="none", compile=not args.eager)
    if cuda:
        torch.cuda.synchronize()
    bench.data["quantize_s"] = round(time.perf_counter() - t0, 1)
    bench.data["plan_none"] = r.plan.reason
    label = f"captionkit {mode}" + (" eager" if args.eager else "") + (f" {args.tag}" if args.tag else "")
    bench.cell(label + " first call", None, first, lambda: run_renderer(r, text, *first, steps, cuda), need_s=0)
    bench.cell(label, None, first, lambda: run_renderer(r, text, *first, steps, cuda))
    if args.cfg_until:
        bench.cell(label + f" cfg-until {args.cfg_until}", None, first,
                   lambda: run_renderer(r, text, *first, steps, cuda, cfg_until=args.cfg_until))
    if ref is not None:
        def accuracy() -> dict[str, Any]:
            out = dit_outputs(pipe, text, *first, args.tokens, device)
            same = dit_outputs(pipe, text, *first, args.tokens, device, features=ref["text_features"])
            return {"text_features": closeness(ref["text_features"], out["text_features"]),
                    "cond": closeness(ref["cond"], out["cond"]),
                    "cond_bf16_features": closeness(ref["cond"], same["cond"]),
                    "uncond": closeness(ref["uncond"], out["uncond"])}

        try:
            bench.data["accuracy"] = accuracy()
        except Exception as exc:
            bench.data["accuracy"] = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        print("accuracy " + json.dumps(bench.data["accuracy"]), flush=True)
        bench.save()
    for size in sizes[1:]:
        bench.cell(label + " first call", None, size, lambda s=size: run_renderer(r, text, *s, msteps, cuda))
        bench.cell(label, None, size, lambda s=size: run_renderer(r, text, *s, msteps, cuda))
    if not cuda:
        bench.save()
        return
    caps = [c for c in CAPS if c is not None and c in args.caps]
    for cap in caps:
        budget = (cap * 10**9 - ctx) / GIB
        try:
            plan = choose(budget_gib=budget, cuda=True, fp8_compute=mode == "fp8", nf4=True, quantization=mode)
        except Exception as exc:
            bench.data["auto"][str(cap)] = f"refused: {exc}"
            bench.data["not_run"].append(f"{label} cap={cap}: {exc}")
            print(f"cap {cap}: {exc}", flush=True)
            continue
        auto = choose(budget_gib=budget, cuda=True, fp8_compute=True, nf4=True)
        bench.data["auto"][str(cap)] = {"mode": plan.reason, "auto": auto.reason}
        r._shuttle.remove()
        _cap(cap, ctx, cuda)  # before the renderer, so its plan and VAE tiling see the card's budget
        r = Renderer(pipeline=pipe, quantization=mode, offload=plan.offload, compile=not args.eager)
        bench.data["auto"][str(cap)]["renderer"] = r.plan.reason
        cap_sizes = sizes if cap >= 24 or args.all_16 else sizes[:1]
        for size in cap_sizes:
            n = steps if size == first else msteps
            name = f"{label} [{plan.offload}]"
            bench.cell(name + " first call", cap, size, lambda s=size, n=n: run_renderer(r, text, *s, n, cuda))
            bench.cell(name, cap, size, lambda s=size, n=n: run_renderer(r, text, *s, n, cuda))
        for size in sizes:
            if size not in cap_sizes:
                bench.data["not_run"].append(f"{label} cap={cap} {size[0]}x{size[1]} (not in this run's matrix)")
        _cap(None, ctx, cuda)
    bench.save()


def _fmt(v: Any, spec: str = ".3f") -> str:
    return "—" if v is None or (isinstance(v, float) and v != v) else format(v, spec)


def table(paths: list[Path]) -> None:
    """Print markdown tables from the JSON files of several runs."""
    runs = [json.loads(p.read_text()) for p in paths]
    print("| path | card | size | s/step | first call s | later call s | peak GiB | plan / note |")
    print("|---|---|---|---|---|---|---|---|")
    for run in runs:
        cells = run["cells"]
        firsts = {(c["name"].replace(" first call", ""), c["cap_gb"], c["size"]): c for c in cells
                  if c["name"].endswith("first call")}
        for c in cells:
            if c["name"].endswith("first call"):
                continue
            key = (c["name"], c["cap_gb"], c["size"])
            f = firsts.get(key, {})
            card = f"{c['cap_gb']} GB" if c["cap_gb"] else "no cap"
            note = c.get("error", "")
            if not note and c.get("vae_tiling"):
                note = "VAE tiled"
            print(f"| {c['name']} | {card} | {c['size']} | {_fmt(c.get('s_per_step'))} | {_fmt(f.get('call_s'), '.1f')} "
                  f"| {_fmt(c.get('call_s'), '.1f')} | {_fmt(c.get('peak_gib'), '.1f')} | {note} |")
    print()
    print("| mode | text features cos / relL2 | cond DiT cos / relL2 | cond DiT, bf16 features | uncond DiT cos / relL2 |")
    print("|---|---|---|---|---|")
    for run in runs:
        acc = run.get("accuracy") or {}
        if not acc or "error" in acc:
            continue
        cols = [f"{acc[k]['cosine']:.4f} / {acc[k]['rel_l2']:.4f}" for k in
                ("text_features", "cond", "cond_bf16_features", "uncond")]
        print(f"| {run['mode']} | " + " | ".join(cols) + " |")
    print()
    for run in runs:
        for cap, v in (run.get("auto") or {}).items():
            print(f"- {run['mode']} at {cap} GB: {v}")
        for line in run.get("not_run") or []:
            print(f"- not run: {line}")
        for e in run.get("errors") or []:
            print(f"- error in {e['cell']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", default="bf16", choices=["diffusers", "bf16", "fp8", "fp8-weights", "nf4"])
    ap.add_argument("--steps", type=int, default=20, help="steps at 1024x1024")
    ap.add_argument("--matrix-steps", type=int, default=6, help="steps at the other sizes")
    ap.add_argument("--tokens", type=int, default=CAPTION_TOKENS)
    ap.add_argument("--caps", type=int, nargs="*", default=[24, 16])
    ap.add_argument("--sizes", default="", help="comma-separated WxH (default: 1024x1024,1536x1024,2048x2048)")
    ap.add_argument("--all-16", action="store_true", help="all sizes under the 16 GB cap too")
    ap.add_argument("--no-accuracy", dest="accuracy", action="store_false")
    ap.add_argument("--cfg-until", type=float, default=None, help="also time one render with this guidance cut")
    ap.add_argument("--eager", action="store_true", help="no compiled blocks")
    ap.add_argument("--deadline", type=float, default=1e9, help="start no new cell after this many seconds")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--tag", default="", help="appended to the row names (for example: second process)")
    ap.add_argument("--tiny", action="store_true", help="the tiny pipeline on the CPU: a dry run of every code path")
    ap.add_argument("--table", type=Path, nargs="*", help="print tables from these JSON files and exit")
    args = ap.parse_args()
    if args.table:
        table(args.table)
        return
    args.shrink = 4 if args.tiny else 1
    if args.tiny:
        args.tokens = min(args.tokens, 200)
    main_mode(args)


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
