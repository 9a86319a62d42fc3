"""Memory plans: choosing one, estimating peaks, and the order in which weights move."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from captionkit.render import RenderError
from captionkit.render.plan import CANDIDATES, choose, movable, needs_tiling, peak_gib

sides = st.integers(16, 128).map(lambda n: n * 16)
budgets = st.floats(0.0, 200.0, allow_nan=False)


def _allowed(mode: str, cuda: bool, fp8: bool, nf4: bool) -> bool:
    return {"fp8": fp8, "nf4": cuda and nf4}.get(mode, True)


@given(budgets, st.booleans(), st.booleans(), st.booleans())
def test_auto_takes_the_first_candidate_that_fits(budget: float, cuda: bool, fp8: bool, nf4: bool) -> None:
    fitting = [(m, o) for m, o in CANDIDATES
               if _allowed(m, cuda, fp8, nf4) and (cuda or o == "none") and movable(m, o, cuda)
               and peak_gib(m, o) <= budget]
    try:
        plan = choose(budget_gib=budget, cuda=cuda, fp8_compute=fp8, nf4=nf4)
    except RenderError as exc:
        assert not fitting
        assert "\n" not in str(exc) and f"{budget:.1f} GiB free" in str(exc)
        return
    assert (plan.quantization, plan.offload) == fitting[0]
    assert plan.need_gib <= budget
    assert "\n" not in plan.reason and plan.reason.startswith("auto chose ")


@given(budgets, budgets, st.booleans())
def test_more_memory_never_picks_a_slower_candidate(a: float, b: float, fp8: bool) -> None:
    low, high = sorted((a, b))

    def rank(budget: float) -> int:
        try:
            p = choose(budget_gib=budget, cuda=True, fp8_compute=fp8, nf4=True)
        except RenderError:
            return len(CANDIDATES)
        return CANDIDATES.index((p.quantization, p.offload))

    assert rank(high) <= rank(low)


@given(st.sampled_from(["bf16", "nf4"]), sides, sides, st.booleans())
def test_each_plan_needs_no_more_than_the_one_before(mode: str, w: int, h: int, tiled: bool) -> None:
    peaks = [peak_gib(mode, o, w, h, tiled=tiled) for o in ("none", "text-encoder", "model", "dit-swap")]
    assert peaks == sorted(peaks, reverse=True)


@given(st.sampled_from(["bf16", "nf4", "fp8", "fp8-weights"]), st.sampled_from(["none", "text-encoder", "model"]),
       sides, sides, budgets)
def test_tiling_is_asked_for_exactly_when_the_whole_decode_does_not_fit(mode, offload, w, h, budget) -> None:
    assert peak_gib(mode, offload, w, h, tiled=True) <= peak_gib(mode, offload, w, h)
    assert needs_tiling(mode, offload, w, h, budget) == (peak_gib(mode, offload, w, h) > budget)


@given(sides, sides)
def test_bigger_images_need_more(w: int, h: int) -> None:
    assert peak_gib("nf4", "model", w, h) <= peak_gib("nf4", "model", min(2048, w + 16), h)


def test_explicit_plan_that_does_not_fit_is_one_line() -> None:
    with pytest.raises(RenderError) as info:
        choose(budget_gib=14.4, cuda=True, fp8_compute=False, nf4=True, quantization="bf16", offload="none")
    assert str(info.value) == ("not enough memory on cuda:0 for bf16: need about 53.1 GiB at 1024x1024, "
                               "14.4 GiB free; try --offload model or --quantization nf4")


# ----------------------------------------------------------------- the order of moves, on the tiny pipeline


torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from render_captions import BOAT  # noqa: E402
from render_captions import KITE as CAPTION  # noqa: E402


@pytest.fixture
def recorded():
    """A renderer over a fresh tiny pipeline whose shuttle records moves instead of making them."""
    from captionkit.render import Renderer
    from captionkit.render._tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(seed=0)
    r = Renderer(pipeline=pipe, device="cpu", compile=False)
    log: list[tuple] = []

    def configure(plan: str) -> None:
        shuttle = r._shuttle
        shuttle.plan, shuttle.device, shuttle.where = plan, "accel", {}
        shuttle.mover = lambda module, dev: log.append(("move", _name(pipe, module), dev))
        shuttle.place()
        log.clear()
        pipe.text_encoder.language_model.layers[0].register_forward_pre_hook(
            lambda m, a: log.append(("encode", dict(shuttle.where))))
        for name in ("transformer", "unconditional_transformer"):
            # registered after the shuttle's own swap hook, so it sees the state the forward runs in
            getattr(pipe, name).register_forward_pre_hook(
                lambda m, a, name=name: log.append(("forward", name, dict(shuttle.where))))

    return r, log, configure


def _name(pipe, module) -> str:
    return next(n for n in ("text_encoder", "transformer", "unconditional_transformer", "vae")
                if getattr(pipe, n) is module)


@pytest.mark.parametrize("plan", ["none", "text-encoder", "model", "dit-swap"])
def test_weights_move_in_the_plans_order(recorded, quick, plan: str) -> None:
    r, log, configure = recorded
    configure(plan)
    r.render(CAPTION, preset=quick, size=(256, 256), seed=1)
    r.render(CAPTION, preset=quick, size=(256, 256), seed=2)  # same caption: no new encoding, no encoder move
    r.render(BOAT, preset=quick, size=(256, 256), seed=1)
    encodes = [e for e in log if e[0] == "encode"]
    forwards = [e for e in log if e[0] == "forward"]
    assert forwards and encodes
    home = "cpu" if plan != "none" else "accel"
    for _, where in encodes:
        assert where.get("text_encoder", "accel") == "accel"
        if plan in ("model", "dit-swap"):
            assert where["transformer"] == where["unconditional_transformer"] == "cpu"
    for _, name, where in forwards:
        assert where.get("text_encoder", "accel") == home  # the encoder has left before any DiT runs
        assert where.get(name, "accel") == "accel"
        if plan == "dit-swap":
            other = "unconditional_transformer" if name == "transformer" else "transformer"
            assert where[other] == "cpu"
    te_moves = [e for e in log if e[0] == "move" and e[1] == "text_encoder"]
    if plan == "none":
        assert not [e for e in log if e[0] == "move"]
    else:
        # two captions: in and out twice, the second render of the first caption moved nothing
        assert [d for _, _, d in te_moves] == ["accel", "cpu", "accel", "cpu"]
    # one encoding per caption: the 36 layers run once for each of the two captions
    first_layer_runs = len(encodes)
    assert first_layer_runs == 2


def test_plan_is_reported_with_the_memory(recorded) -> None:
    r, _log, _configure = recorded
    report = r.memory()
    assert set(report.weights) == {"transformer", "unconditional_transformer", "text_encoder", "vae"}
    assert all(v > 0 for v in report.weights.values())
