"""The official backend: argument names and loop-index schedule order, through a stand-in package."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

pytest.importorskip("torch")

from captionkit.render import Preset, Renderer  # noqa: E402
from captionkit.render.hub import ModelSource  # noqa: E402

CAPTION = {"compositional_deconstruction": {"background": "A calm lake.", "elements": []}}


@pytest.fixture
def fake_ideogram4(monkeypatch: pytest.MonkeyPatch):
    """A stand-in for the ``ideogram4`` package with the official call signature."""
    from PIL import Image

    calls: list[dict] = []
    loads: list[dict] = []

    class Config:
        def __init__(self, weights_repo: str = "ideogram-ai/ideogram-4-nf4") -> None:
            self.weights_repo = weights_repo

    class Pipeline:
        @classmethod
        def from_pretrained(cls, *, config=None, device="cuda", dtype=None, transformer_config=None):
            loads.append({"repo": config.weights_repo, "device": device, "dtype": str(dtype)})
            return cls()

        def __call__(self, prompts, *, height=1024, width=1024, num_steps=128, guidance_scale=7.0,
                     guidance_schedule=None, mu=0.5, std=1.0, seed=None, schedule=None,
                     raise_on_caption_issues=True):
            if guidance_schedule is not None and len(guidance_schedule) != num_steps:
                raise ValueError(f"guidance_schedule must have shape ({num_steps},), got ({len(guidance_schedule)},)")
            calls.append({"prompts": prompts, "height": height, "width": width, "num_steps": num_steps,
                          "guidance_schedule": list(guidance_schedule), "mu": mu, "std": std, "seed": seed})
            return [Image.new("RGB", (width, height)) for _ in prompts]

    module = types.ModuleType("ideogram4")
    module.Ideogram4Pipeline = Pipeline
    module.Ideogram4PipelineConfig = Config
    module.__spec__ = types.SimpleNamespace(name="ideogram4", loader=None, origin=None, submodule_search_locations=None,
                                            parent="", has_location=False, cached=None)
    monkeypatch.setitem(sys.modules, "ideogram4", module)
    import captionkit.render.pipeline as pipeline

    monkeypatch.setattr(pipeline, "resolve_source",
                        lambda *a, **k: ModelSource("ideogram-ai/ideogram-4-fp8", None, "official", "abc123"))
    monkeypatch.setattr(pipeline, "free_bytes", lambda device: 1024**4)
    return types.SimpleNamespace(calls=calls, loads=loads)


def test_official_backend_gets_loop_index_order(fake_ideogram4, tmp_path: Path) -> None:
    r = Renderer("ideogram-ai/ideogram-4-fp8", device="cpu", quantization="fp8")
    p = Preset.custom(steps=3, schedule=[7.0, 5.0, 3.0], mu=0.5, std=1.0)  # run order
    results = r.render(CAPTION, preset=p, size=(512, 256), seeds=[4, 5])
    assert r.backend == "official"  # auto picked it for the fused layout
    assert fake_ideogram4.loads == [{"repo": "ideogram-ai/ideogram-4-fp8", "device": "cpu", "dtype": "torch.bfloat16"}]
    first = fake_ideogram4.calls[0]
    assert first["guidance_schedule"] == [3.0, 5.0, 7.0]  # index 0 is the last step
    assert (first["num_steps"], first["mu"], first["std"], first["width"], first["height"]) == (3, 0.5, 1.0, 512, 256)
    assert first["prompts"] == ['{"compositional_deconstruction":{"background":"A calm lake.","elements":[]}}']
    assert [c["seed"] for c in fake_ideogram4.calls] == [4, 5]
    assert [res.recipe.seed for res in results] == [4, 5]
    assert results[0].recipe.backend == "official" and results[0].recipe.revision == "abc123"


def test_official_presets_reach_official_order(fake_ideogram4) -> None:
    r = Renderer("ideogram-ai/ideogram-4-fp8", device="cpu", quantization="fp8")
    r.render(CAPTION, preset="V4_DEFAULT_20", size=(256, 256), seed=1)
    assert fake_ideogram4.calls[0]["guidance_schedule"] == [3.0] * 2 + [7.0] * 18


def test_diffusers_backend_refuses_fused_layout(fake_ideogram4) -> None:
    from captionkit.render import RenderError

    with pytest.raises(RenderError, match="official fused layout, which diffusers cannot load"):
        Renderer("ideogram-ai/ideogram-4-fp8", backend="diffusers", device="cpu", quantization="fp8").load()
