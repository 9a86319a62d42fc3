"""The guidance split (``devices=[a, b]``): the bookkeeping, the same image as one device, the options and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captionkit.render import RenderError
from captionkit.render._split import parse_devices
from captionkit.render.plan import choose, peak_gib, secondary_gib

# ----------------------------------------------------------------- options and plans (no torch needed)


@pytest.mark.parametrize(("devices", "message"), [
    (["cuda:0"], "exactly two devices, got 1"),
    (["cuda:0", "cuda:1", "cuda:2"], "exactly two devices, got 3"),
    ("0,1", "a list of two devices, not the string"),
    (["cuda:0", "cpu"], "different kinds of device"),
    (["cuda:1", "cuda:1"], "cuda:1 twice"),
    (["cuda", "cuda:0"], "cuda:0 twice"),
    (["auto", "cuda:1"], "unknown device 'auto'"),
    (["gpu0", "gpu1"], "unknown device 'gpu0'"),
])
def test_bad_devices_are_one_line(devices, message: str) -> None:
    from captionkit.render import Renderer

    with pytest.raises(RenderError) as info:
        Renderer("some/model", devices=devices)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_devices_must_agree_with_device_and_backend() -> None:
    from captionkit.render import Renderer

    with pytest.raises(RenderError, match="the first of --devices is the render device"):
        Renderer("m", device="cuda:1", devices=["cuda:0", "cuda:1"])
    with pytest.raises(RenderError, match="needs the diffusers backend"):
        Renderer("m", backend="official", devices=["cuda:0", "cuda:1"])
    # the same first device is fine
    assert Renderer("m", device="cuda:0", devices=["cuda:0", "cuda:1"]).devices_requested == ["cuda:0", "cuda:1"]


def test_parse_devices() -> None:
    assert parse_devices("0,1") == ["cuda:0", "cuda:1"]
    assert parse_devices(" 1 , 0 ") == ["cuda:1", "cuda:0"]
    assert parse_devices("cpu,cpu") == ["cpu", "cpu"]
    assert parse_devices(None) is None


def test_split_refuses_dit_swap() -> None:
    with pytest.raises(RenderError, match="keeps one DiT on each device"):
        choose(budget_gib=100, cuda=True, fp8_compute=True, nf4=True, quantization="bf16", offload="dit-swap",
               split=True)


@given(st.sampled_from(["bf16", "fp8", "fp8-weights", "nf4"]), st.floats(5, 200))
def test_split_plans_keep_each_dit_home_and_need_less(mode: str, budget: float) -> None:
    try:
        plan = choose(budget_gib=budget, cuda=True, fp8_compute=True, nf4=True, quantization=mode, split=True)
    except RenderError:
        # nothing fits: then not even the smallest split plan fits the budget
        from captionkit.render.plan import movable

        plans = [o for o in ("none", "text-encoder", "model") if movable(mode, o)]
        assert min(peak_gib(mode, o, split=True) for o in plans) > budget
        return
    assert plan.offload in ("none", "text-encoder", "model")
    assert plan.need_gib <= budget
    assert peak_gib(mode, plan.offload, split=True) < peak_gib(mode, plan.offload)
    assert 0 < secondary_gib(mode) < peak_gib(mode, "none")


def test_bf16_pair_on_two_24gb_cards() -> None:
    """Two 24 GB cards hold the bf16 pair (one DiT each, the encoder taking turns on the first); one card cannot
    without swapping the DiTs at every step."""
    budget = 21.8  # a 24 GB card less its CUDA context, as the GPU benchmark measures it
    plan = choose(budget_gib=budget, cuda=True, fp8_compute=False, nf4=True, quantization="bf16", split=True)
    assert plan.offload == "model" and plan.need_gib <= budget and secondary_gib("bf16") <= budget
    for offload in ("none", "text-encoder", "model"):
        with pytest.raises(RenderError):
            choose(budget_gib=budget, cuda=True, fp8_compute=False, nf4=True, quantization="bf16", offload=offload)


def test_split_model_plan_moves_only_the_first_devices_dit() -> None:
    from captionkit.render.plan import Shuttle

    moves: list[tuple[str, str]] = []
    modules = {n: object() for n in ("text_encoder", "transformer", "unconditional_transformer", "vae")}
    names = {id(m): n for n, m in modules.items()}
    shuttle = Shuttle(None, "model", "cuda:0", mover=lambda m, d: moves.append((names[id(m)], d)),
                      placement={"unconditional_transformer": "cuda:1"})
    for name, module in modules.items():
        shuttle.settle(name, module)
    shuttle.place()
    assert shuttle.where == {"text_encoder": "cpu", "transformer": "cuda:0", "unconditional_transformer": "cuda:1",
                             "vae": "cuda:0"}
    moves.clear()
    shuttle.before_encode()
    assert moves == [("transformer", "cpu"), ("text_encoder", "cuda:0")]
    moves.clear()
    shuttle.after_encode()
    assert moves == [("text_encoder", "cpu"), ("transformer", "cuda:0")]
    assert shuttle.where["unconditional_transformer"] == "cuda:1"


def test_fp8_out_of_memory_hint_does_not_suggest_model_offload() -> None:
    with pytest.raises(RenderError) as info:
        choose(budget_gib=14.4, cuda=True, fp8_compute=True, nf4=True, quantization="fp8")
    assert "--offload model" not in str(info.value) and "try --quantization nf4" in str(info.value)


# ----------------------------------------------------------------- the bookkeeping, with a fake transformer

torch = pytest.importorskip("torch")


def _fake_dit(hidden_states, timestep, encoder_hidden_states, position_ids, segment_ids, indicator,
              attention_kwargs=None, return_dict=True):
    """A deterministic stand-in whose output depends on every input."""
    out = (hidden_states * 2 + timestep.view(-1, 1, 1) + encoder_hidden_states.sum(-1, keepdim=True)
           + position_ids.sum(-1, keepdim=True) + segment_ids.unsqueeze(-1) + indicator.unsqueeze(-1))
    return (out,) if not return_dict else type("Out", (), {"sample": out})()


class _Loop:
    """diffusers' step structure: conditional input = [text padding, latents], unconditional = latents."""

    def __init__(self, batch: int, tokens: int, text: int, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        self.text = text
        self.latents = torch.randn(batch, tokens, 4, generator=g)
        self.new_neg(g)

    def new_neg(self, g=None) -> None:
        b, n, _ = self.latents.shape
        g = g or torch.Generator().manual_seed(int(self.latents.abs().sum() * 1000) % 2**31)
        self.neg = {
            "encoder_hidden_states": torch.randn(b, n, 3, generator=g),
            "position_ids": torch.randint(0, 9, (b, n, 3), generator=g),
            "segment_ids": torch.randint(0, 3, (b, n), generator=g),
            "indicator": torch.randint(2, 4, (b, n), generator=g),
        }


@settings(deadline=None)
@given(
    st.lists(st.sampled_from(["step", "step", "step", "new_neg", "new_timestep", "skip", "positional", "other_shape"]),
             min_size=1, max_size=12),
    st.integers(1, 3), st.integers(1, 6), st.integers(0, 4), st.integers(0, 2**16),
)
def test_split_never_returns_a_prediction_from_other_inputs(events, batch, tokens, text, seed) -> None:
    """Whatever the caller does, the unconditional result equals the unconditional DiT on the inputs given."""
    from captionkit.render._split import GuidanceSplit

    split = GuidanceSplit("cpu", "cpu")
    loop = _Loop(batch, tokens, text, seed)
    for i, event in enumerate(events):
        if event == "new_neg":
            loop.new_neg()
        if event == "other_shape":
            loop = _Loop(batch, tokens + 1, text, seed + i)
        t = torch.full((batch,), 0.1 * i)
        n = text + loop.latents.shape[1]
        pos = torch.cat([torch.zeros(batch, text, 4), loop.latents], dim=1)
        cond_kwargs = dict(hidden_states=pos, timestep=t, encoder_hidden_states=torch.zeros(batch, n, 3),
                           position_ids=torch.zeros(batch, n, 3, dtype=torch.long),
                           segment_ids=torch.zeros(batch, n, dtype=torch.long),
                           indicator=torch.zeros(batch, n, dtype=torch.long), return_dict=False)
        split.conditional(_fake_dit, _fake_dit, event != "skip", (), cond_kwargs)
        if event == "skip":
            continue  # the guidance cut: the unconditional DiT is not called this step
        hidden = loop.latents.clone()
        timestep = t if event != "new_timestep" else t.clone()
        if event == "positional":
            args = (hidden, timestep, *loop.neg.values())
            got = split.unconditional(_fake_dit, args, {"return_dict": False})[0]
        else:
            got = split.unconditional(_fake_dit, (), dict(hidden_states=hidden, timestep=timestep, **loop.neg,
                                                          attention_kwargs=None, return_dict=False))[0]
        want = _fake_dit(hidden, timestep, *loop.neg.values(), return_dict=False)[0]
        assert torch.equal(got, want)
        loop.latents = loop.latents * 0.5 + 0.1  # the scheduler's step
    called = sum(1 for e in events if e != "skip")
    assert split.stats.inline + split.stats.early - split.stats.discarded == called


def test_split_queues_every_step_but_the_first_early() -> None:
    from captionkit.render._split import GuidanceSplit

    split = GuidanceSplit("cpu", "cpu")
    loop = _Loop(2, 5, 3, 0)
    for i in range(6):
        t = torch.full((2,), float(i))
        pos = torch.cat([torch.zeros(2, 3, 4), loop.latents], dim=1)
        split.conditional(lambda **kw: kw["hidden_states"], _fake_dit, True, (), dict(hidden_states=pos, timestep=t))
        out = split.unconditional(_fake_dit, (), dict(hidden_states=loop.latents.clone(), timestep=t, **loop.neg,
                                                      return_dict=True))
        assert torch.equal(out.sample, _fake_dit(loop.latents, t, *loop.neg.values(), return_dict=False)[0])
        loop.latents = loop.latents + 1
    assert split.stats.as_dict() == {"early": 5, "inline": 1, "discarded": 0}


# ----------------------------------------------------------------- the tiny pipeline on a CPU pair

pytest.importorskip("diffusers")

from render_captions import KITE as CAPTION  # noqa: E402

from captionkit.render import Preset, Renderer, read_recipe  # noqa: E402


@pytest.fixture(scope="module")
def four():
    return Preset.custom(steps=4, schedule=[7.0, 7.0, 6.0, 3.0], mu=0.0, std=1.75, name="four")


@pytest.fixture(scope="module")
def pair(tiny_model_dir: Path):
    return Renderer(str(tiny_model_dir), devices=["cpu", "cpu"], dtype="float32", offline=True, compile=False).load()


def _px(result) -> np.ndarray:
    return np.asarray(result.image)


@pytest.mark.parametrize(("seeds", "batch_size", "cut"), [([3], 1, None), ([1, 2], 2, None), ([1, 2], 1, 0.5),
                                                         ([5], 1, 0.0)])
def test_split_renders_the_same_pixels_as_one_device(renderer, pair, four, seeds, batch_size, cut) -> None:
    from captionkit.render._split import SplitStats

    pair._split.stats = SplitStats()
    one = renderer.render(CAPTION, preset=four, size=(256, 256), seeds=seeds, batch_size=batch_size, cfg_until=cut)
    two = pair.render(CAPTION, preset=four, size=(256, 256), seeds=seeds, batch_size=batch_size, cfg_until=cut)
    for a, b in zip(one, two, strict=True):
        assert np.array_equal(_px(a), _px(b))
    calls = -(-len(seeds) // batch_size)
    guided = {None: 4, 0.5: 2, 0.0: 0}[cut]
    # every guided step after the first of each call ran early, alongside the conditional pass
    assert pair._split.stats.as_dict() == {"early": calls * max(guided - 1, 0), "inline": calls * min(guided, 1),
                                           "discarded": 0}


def test_split_is_recorded_in_the_recipe_and_the_png(pair, four, tmp_path: Path) -> None:
    from dataclasses import replace

    from captionkit.render.batch import recipe_difference

    res = pair.render(CAPTION, preset=four, size=(256, 256), seed=9)[0]
    assert res.recipe.devices == ("cpu", "cpu")
    path = res.save(tmp_path / "k.png")
    back = read_recipe(path)
    assert back.devices == ("cpu", "cpu") and back == res.recipe
    # how it ran, not what: a one-device run of the same recipe counts as the same output
    assert recipe_difference(back, replace(back, devices=())) is None
    assert "cpu" not in json.dumps(read_recipe(path).preset.to_dict())


def test_split_is_absent_from_one_device_recipes(renderer, four) -> None:
    res = renderer.render(CAPTION, preset=four, size=(256, 256), seed=1)[0]
    assert res.recipe.devices == () and "devices" not in res.recipe.to_dict()


def test_two_gpus_asked_for_on_a_machine_without_cuda(tiny_model_dir: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    r = Renderer(str(tiny_model_dir), devices=["cuda:0", "cuda:1"], offline=True)
    with pytest.raises(RenderError, match="no CUDA GPU is available"):
        r.load()
    assert r.pipe is None


def test_cli_devices(tiny_model_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from captionkit.cli import app

    src = tmp_path / "kite.json"
    src.write_text(json.dumps(CAPTION), encoding="utf-8")
    common = ["--model", str(tiny_model_dir), "--steps", "2", "--size", "256x256", "--dtype", "float32", "--quiet",
              "--seed", "4"]
    cli = CliRunner()
    res = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "a"), "--devices", "cpu,cpu", *common])
    assert res.exit_code == 0, res.output
    png = tmp_path / "a" / "kite-s4.png"
    assert read_recipe(png).devices == ("cpu", "cpu")
    info = cli.invoke(app, ["info", str(png)])
    assert "devices: cpu, cpu (guidance split)" in info.stdout
    one = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "b"), "--device", "cpu", *common])
    assert one.exit_code == 0, one.output
    from PIL import Image

    assert np.array_equal(np.asarray(Image.open(png)), np.asarray(Image.open(tmp_path / "b" / "kite-s4.png")))
    bad = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "c"), "--devices", "0", *common])
    assert bad.exit_code == 2 and "exactly two devices" in bad.stderr and "Traceback" not in bad.output
    if not torch.cuda.is_available():
        gpu = cli.invoke(app, ["render", str(src), "--out", str(tmp_path / "d"), "--devices", "0,1", *common])
        assert gpu.exit_code == 2 and "no CUDA GPU" in gpu.stderr and len(gpu.stderr.strip().splitlines()) == 1


def test_memory_report_shows_the_second_gpu() -> None:
    from captionkit.render.memory import MemoryReport

    g = 2**30
    second = MemoryReport("cuda:1", 18 * g, 19 * g, 20 * g, 140 * g, 0, 1, 1,
                          weights={"unconditional_transformer": 17 * g})
    report = MemoryReport("cuda:0", 30 * g, 31 * g, 32 * g, 140 * g, g, 64 * g, 32 * g,
                          weights={"transformer": 17 * g, "text_encoder": 14 * g}, second=second)
    text = report.format()
    assert "cuda:0 weights 31.00 GiB" in text
    assert "cuda:1 weights 17.00 GiB (unconditional_transformer 17.00), allocated 18.00 GiB, peak 20.00 GiB" in text
    data = report.to_dict()
    assert data["second"]["device"] == "cuda:1" and data["second"]["gpu_peak"] == 20 * g
    assert "second" not in MemoryReport("cpu", 0, 0, 0, 0, 1, 2, 1).to_dict()
    assert json.loads(json.dumps(data))["second"]["weights"] == {"unconditional_transformer": 17 * g}


def test_cpu_pair_memory_has_no_second_gpu(pair) -> None:
    report = pair.memory()
    assert report.second is None and report.device == "cpu"
