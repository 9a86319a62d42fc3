"""Render speed on a GPU: diffusers' defaults against captionkit, in one run.

Builds full-size Ideogram 4 components (two 9.28B DiTs, a 36-layer Qwen3-VL-8B
class text encoder, the FLUX.2 VAE) with random bf16 weights directly on the
GPU; the weights cannot be downloaded here and the timings do not depend on
their values. The tokenizer is byte-level, so captions are built to an exact
token count (chat wrapper included).

Reported per configuration: s/step (mean over steps 2..N, timed with a
device synchronisation at each step end), the first call's wall time
(compilation included), later calls' wall time, and peak GPU memory.

    python benchmarks/render_gpu.py                 # everything (about 6 minutes on an H100)
    python benchmarks/render_gpu.py --skip-2048     # 1024x1024 only
    python benchmarks/render_gpu.py --json out.json # also write the figures

Needs the render extra and a CUDA GPU with about 70 GiB free.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

warnings.filterwarnings("ignore")

CAPTION_TOKENS = 491  # the spec's measured caption, chat wrapper included
BATCH_TOKENS = (205, 347, 491, 268)  # different lengths, like a real batch


def build_full_pipeline(device: str) -> Any:
    """Full-size random components in bf16 on ``device``."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Ideogram4Pipeline,
        Ideogram4Transformer2DModel,
    )
    from transformers import Qwen3VLModel

    from captionkit.render._tiny import byte_tokenizer, qwen3vl_config

    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            text_encoder = Qwen3VLModel(
                qwen3vl_config(hidden=4096, heads=32, kv_heads=8, head_dim=128, intermediate=12288,
                               vocab=151936, mrope=[24, 20, 20], rope_theta=5_000_000)
            ).eval()
            transformer = Ideogram4Transformer2DModel().eval()
            unconditional = Ideogram4Transformer2DModel().eval()
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

    def __init__(self) -> None:
        import torch

        self.torch = torch
        self.times: list[float] = []

    def mark(self) -> None:
        self.torch.cuda.synchronize()
        self.times.append(time.perf_counter())

    def s_per_step(self) -> float:
        t = self.times
        return (t[-1] - t[0]) / (len(t) - 1) if len(t) > 1 else float("nan")


def run_defaults(pipe: Any, prompts: list[str], size: int, steps: int) -> dict[str, Any]:
    """diffusers as documented: text padded to 2048, stock attention, prompts batched."""
    import torch

    timer = StepTimer()

    def cb(p: Any, i: int, t: Any, kw: dict[str, Any]) -> dict[str, Any]:
        timer.mark()
        return {}

    torch.cuda.reset_peak_memory_stats()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    with torch.inference_mode():
        pipe(
            prompt=prompts if len(prompts) > 1 else prompts[0],
            height=size, width=size, num_inference_steps=steps,
            guidance_schedule=[7.0] * (steps - 2) + [3.0] * 2, mu=0.0, std=1.75,
            generator=[torch.Generator("cpu").manual_seed(i) for i in range(len(prompts))],
            output_type="pil", callback_on_step_end=cb,
        )
    torch.cuda.synchronize()
    total = time.perf_counter() - t0
    sps = timer.s_per_step()
    return {"s_per_step": sps, "s_per_step_per_image": sps / len(prompts), "total_s": total,
            "images": len(prompts), "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def run_captionkit(renderer: Any, prompts: list[str], size: int, steps: int) -> dict[str, Any]:
    """captionkit: one call per caption at its exact length, mask-free attention, compiled blocks if on."""
    import torch

    from captionkit.render import Preset

    preset = Preset.custom(steps=steps, schedule=[7.0] * (steps - 2) + [3.0] * 2, mu=0.0, std=1.75,
                           name=f"bench_{steps}")
    calls = []
    torch.cuda.reset_peak_memory_stats()
    for n, text in enumerate(prompts):
        timer = StepTimer()

        def progress(event: Any, timer: StepTimer = timer) -> None:
            if event.phase == "step":
                timer.mark()

        torch.cuda.synchronize()
        t0 = time.perf_counter()
        renderer.render(text, preset=preset, size=(size, size), seed=n, on_progress=progress)
        torch.cuda.synchronize()
        calls.append({"total_s": time.perf_counter() - t0, "s_per_step": timer.s_per_step(),
                      "tokens": renderer.token_count(text)})
    steps_total = sum(c["s_per_step"] for c in calls) / len(calls)
    return {"calls": calls, "s_per_step": steps_total, "s_per_step_per_image": steps_total,
            "total_s": sum(c["total_s"] for c in calls), "images": len(prompts),
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def graphs() -> int:
    try:
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])
    except Exception:
        return -1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--steps-2048", type=int, default=8)
    ap.add_argument("--skip-2048", action="store_true")
    ap.add_argument("--skip-dynamic-true", action="store_true", help="do not also measure compile(dynamic=True)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()

    import torch

    from captionkit.render import Renderer

    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA GPU")
    device = "cuda:0"
    props = torch.cuda.get_device_properties(0)
    info = {"gpu": props.name, "gpu_gib": round(props.total_memory / 2**30, 1), "torch": torch.__version__,
            "python": platform.python_version()}
    import diffusers
    import transformers

    info.update(diffusers=diffusers.__version__, transformers=transformers.__version__)
    print(json.dumps(info), flush=True)

    t0 = time.perf_counter()
    pipe = build_full_pipeline(device)
    torch.cuda.synchronize()
    print(f"built full-size random pipeline in {time.perf_counter() - t0:.1f}s; "
          f"{torch.cuda.memory_allocated() / 2**30:.1f} GiB of weights", flush=True)
    tok = pipe.tokenizer
    one = [caption_with_tokens(tok, CAPTION_TOKENS, salt=0)]
    batch = [caption_with_tokens(tok, n, salt=i + 1) for i, n in enumerate(BATCH_TOKENS)]
    results: dict[str, Any] = {"info": info}

    def show(name: str, r: dict[str, Any]) -> None:
        results[name] = r
        extra = ""
        if "calls" in r:
            extra = "  calls: " + ", ".join(f"{c['tokens']}tok {c['total_s']:.1f}s {c['s_per_step']:.3f}s/step"
                                           for c in r["calls"])
        print(f"{name:<44} {r['s_per_step_per_image']:.3f} s/step/image  total {r['total_s']:.2f}s  "
              f"peak {r['peak_gib']:.1f} GiB{extra}", flush=True)

    # warm-up (cuBLAS handles, allocator) so the first measured call is fair
    run_defaults(pipe, one, 256, 2)
    show("diffusers defaults 1024 one caption", run_defaults(pipe, one, 1024, args.steps))
    show("diffusers defaults 1024 batch of 4 lengths", run_defaults(pipe, batch, 1024, args.steps))
    if not args.skip_2048:
        show("diffusers defaults 2048 one caption", run_defaults(pipe, one, 2048, args.steps_2048))

    eager = Renderer(pipeline=pipe, compile=False)
    show("captionkit eager (exact length, no mask) 1024", run_captionkit(eager, one, 1024, args.steps))

    variants = [("auto-dynamic", None)] + ([] if args.skip_dynamic_true else [("dynamic=True", True)])
    for tag, dyn in variants:
        torch._dynamo.reset()
        g0 = graphs()
        ck = Renderer(pipeline=pipe, compile=True, compile_dynamic=dyn)
        show(f"captionkit compiled [{tag}] 1024 first call", run_captionkit(ck, one, 1024, args.steps))
        show(f"captionkit compiled [{tag}] 1024 one caption", run_captionkit(ck, one, 1024, args.steps))
        show(f"captionkit compiled [{tag}] 1024 4 lengths (1st)", run_captionkit(ck, batch, 1024, args.steps))
        show(f"captionkit compiled [{tag}] 1024 4 lengths (2nd)", run_captionkit(ck, batch, 1024, args.steps))
        if not args.skip_2048:
            show(f"captionkit compiled [{tag}] 2048 first call", run_captionkit(ck, one, 2048, args.steps_2048))
            show(f"captionkit compiled [{tag}] 2048 one caption", run_captionkit(ck, one, 2048, args.steps_2048))
        results[f"graphs [{tag}]"] = graphs() - g0
        print(f"compiled graphs [{tag}]: {graphs() - g0}", flush=True)

    base = results["diffusers defaults 1024 one caption"]["s_per_step"]
    best = min(v["s_per_step"] for k, v in results.items() if k.startswith("captionkit compiled") and "1024 one" in k)
    print(f"speed-up at 1024x1024, one caption: {base / best:.2f}x ({base:.3f} -> {best:.3f} s/step)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
