"""Quantization modes on the CPU: names, which layers each mode touches, fp8's fallback, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from captionkit.render import Renderer, RenderError
from captionkit.render.quant import ALIASES, MODES, is_dit_matmul, is_dit_weight, is_text_weight, normalize_mode

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("torchao")

from render_captions import KITE as CAPTION  # noqa: E402


def _one_line(info: pytest.ExceptionInfo) -> str:
    text = str(info.value)
    assert "\n" not in text and "Traceback" not in text
    return text


@given(st.sampled_from([*MODES, *ALIASES]), st.lists(st.booleans(), min_size=12, max_size=12),
       st.text(" \t", max_size=2))
def test_mode_names_are_case_and_space_insensitive(name: str, upper: list[bool], pad: str) -> None:
    spelled = "".join(c.upper() if u else c for c, u in zip(name, upper)) if name else name
    assert normalize_mode(pad + spelled + pad) == ALIASES.get(name, name)


@given(st.text(max_size=12).filter(lambda s: s.strip().lower() not in (*MODES, *ALIASES)))
def test_unknown_mode_is_one_line(name: str) -> None:
    with pytest.raises(RenderError) as info:
        normalize_mode(name)
    assert _one_line(info).startswith(f"unknown quantization {name!r}; choose auto, bf16, fp8, fp8-weights, nf4")


def _linear_names(module) -> set[str]:
    return {n for n, m in module.named_modules() if type(m) is torch.nn.Linear}


def test_layer_selection_on_the_real_architecture() -> None:
    from captionkit.render._tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(seed=0)
    dit = _linear_names(pipe.transformer)
    blocks = {n for n in dit if n.startswith("layers.") and (".attention." in n or ".feed_forward." in n)}
    assert {n for n in dit if is_dit_matmul(n)} == blocks and len(blocks) == 2 * 7
    stored = {n for n in dit if is_dit_weight(n)}
    assert stored == blocks | {"llm_cond_proj", "layers.0.adaln_modulation", "layers.1.adaln_modulation"}
    # the small, precision-sensitive projections stay as they are
    assert not stored & {"input_proj", "t_embedding.mlp_in", "t_embedding.mlp_out", "adaln_proj", "final_layer.linear"}
    te = _linear_names(pipe.text_encoder)
    chosen = {n for n in te if is_text_weight(n)}
    assert chosen and all(".layers." in n and "visual" not in n for n in chosen)
    assert len(chosen) == 36 * 7  # every decoder layer's q, k, v, o, gate, up, down


@pytest.fixture(scope="module")
def quantized(tiny_model_dir: Path):
    """The tiny pipeline loaded through the real path with ``fp8`` on the CPU (so: fp8-weights)."""
    return Renderer(str(tiny_model_dir), device="cpu", dtype="float32", offline=True, compile=False,
                    quantization="fp8").load()


def test_fp8_on_cpu_means_fp8_weights_and_says_so(quantized) -> None:
    assert quantized.quantization == "fp8-weights"
    assert quantized.plan.reason.startswith("fp8 runs as fp8-weights here: cpu has no fp8 tensor cores; ")
    kinds = {n: type(m.weight).__name__ for n, m in quantized.pipe.transformer.named_modules()
             if isinstance(m, torch.nn.Linear)}
    assert {n for n, k in kinds.items() if k == "Float8Tensor"} == {n for n in kinds if is_dit_weight(n)}
    te = {type(m.weight).__name__ for n, m in quantized.pipe.text_encoder.named_modules()
          if isinstance(m, torch.nn.Linear) and is_text_weight(n)}
    assert te == {"Float8Tensor"}


def test_quantizing_twice_changes_nothing(quantized) -> None:
    from captionkit.render.quant import quantize_pipeline

    before = {n: id(m.weight) for n, m in quantized.pipe.transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    counts = quantize_pipeline(quantized.pipe, "fp8-weights", device="cpu", dtype=torch.float32)
    assert counts == {"text_encoder": 0, "transformer": 0, "unconditional_transformer": 0}
    after = {n: id(m.weight) for n, m in quantized.pipe.transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    assert before == after


def test_fp8_weights_render_is_close_to_full_precision(quantized, renderer, quick) -> None:
    a = np.asarray(quantized.render(CAPTION, preset=quick, size=(256, 256), seed=5)[0].image, dtype=np.int16)
    b = np.asarray(renderer.render(CAPTION, preset=quick, size=(256, 256), seed=5)[0].image, dtype=np.int16)
    # per-row scaled e4m3 weights: a few levels of 255 at most on the tiny model
    assert np.abs(a - b).mean() < 1.0 and np.abs(a - b).max() <= 16


def test_fp8_weights_are_smaller(quantized, renderer) -> None:
    from captionkit.render.quant import module_bytes

    q, full = module_bytes(quantized.pipe.transformer), module_bytes(renderer.pipe.transformer)
    assert q < full
    report = quantized.memory()
    assert set(report.weights) == {"transformer", "unconditional_transformer", "text_encoder", "vae"}
    assert report.weights["transformer"] == q


@given(st.integers(1, 64), st.integers(1, 64), st.booleans(), st.sampled_from(["bfloat16", "float32"]))
def test_module_bytes_counts_parameters(n_in: int, n_out: int, bias: bool, dtype: str) -> None:
    from captionkit.render.quant import module_bytes

    layer = torch.nn.Linear(n_in, n_out, bias=bias, dtype=getattr(torch, dtype))
    size = 2 if dtype == "bfloat16" else 4
    assert module_bytes(layer) == size * (n_in * n_out + (n_out if bias else 0))


def test_offload_needs_a_gpu(tiny_model_dir: Path) -> None:
    for plan in ("text-encoder", "model", "dit-swap"):
        r = Renderer(str(tiny_model_dir), device="cpu", offload=plan)
        with pytest.raises(RenderError) as info:
            r.load()
        assert _one_line(info) == f"--offload {plan} moves weights between CPU and GPU; the device is cpu"
        assert r.pipe is None


def test_unknown_offload_and_tiling_refused() -> None:
    with pytest.raises(RenderError, match="unknown offload plan 'disk'; choose auto, none, text-encoder, model, dit-swap"):
        Renderer(offload="disk")  # type: ignore[arg-type]
    with pytest.raises(RenderError, match="vae_tiling must be True, False or 'auto'"):
        Renderer(vae_tiling="yes")  # type: ignore[arg-type]


def test_fp8_compute_without_torchao_on_a_gpu(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import captionkit.render.pipeline as pipeline

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchao" else real(name, *a))
    monkeypatch.setattr(Renderer, "_resolve_device", lambda self: "cuda:0")
    monkeypatch.setattr(pipeline, "fp8_compute_support", lambda device: (False, "torchao is not installed"))
    r = Renderer(str(tiny_model_dir), quantization="fp8")
    with pytest.raises(RenderError) as info:
        r.load()
    assert _one_line(info) == "fp8 compute needs torchao: pip install torchao, or use --quantization fp8-weights"


def test_fp8_never_moves_its_dits() -> None:
    from captionkit.render.plan import choose

    for plan in ("model", "dit-swap"):
        with pytest.raises(RenderError, match="torchao's float8 weights cannot move between the GPU and CPU memory"):
            choose(budget_gib=100, cuda=True, fp8_compute=True, nf4=True, quantization="fp8", offload=plan)
    # auto never picks such a pair, whatever the budget
    for budget in (8.0, 12.0, 16.0, 22.0, 30.0, 60.0, 200.0):
        try:
            p = choose(budget_gib=budget, cuda=True, fp8_compute=True, nf4=True)
        except RenderError:
            continue
        assert not (p.quantization.startswith("fp8") and p.offload in ("model", "dit-swap"))


def test_auto_on_cpu_says_why(tiny_model_dir: Path) -> None:
    r = Renderer(str(tiny_model_dir), device="cpu", dtype="float32", offline=True, compile=False).load()
    assert (r.quantization, r.offload) == ("bf16", "none")
    assert r.plan.reason.startswith("auto chose bf16: needs about ")
    assert r.plan.reason.endswith("(no fp8 compute: cpu has no fp8 tensor cores)")
    assert "\n" not in r.plan.reason
