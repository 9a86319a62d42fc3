"""captionkit's speed layer gives diffusers' output within float tolerance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from captionkit.render import Renderer  # noqa: E402
from captionkit.render._fast import MaskFreeAttnProcessor  # noqa: E402

CAPTION = {
    "high_level_description": "A yellow boat.",
    "compositional_deconstruction": {"background": "A calm lake at noon.", "elements": []},
}


def test_mask_free_attention_equals_masked_when_mask_is_all_true(tiny_model_dir: Path) -> None:
    from diffusers import Ideogram4Transformer2DModel

    model = Ideogram4Transformer2DModel.from_pretrained(tiny_model_dir, subfolder="transformer").eval()
    g = torch.Generator().manual_seed(0)
    b, text, image = 2, 7, 16
    seq = text + image
    inputs = {
        "hidden_states": torch.randn(b, seq, 128, generator=g),
        "timestep": torch.tensor([0.3, 0.7]),
        "encoder_hidden_states": torch.randn(b, seq, 13 * 16, generator=g),
        "position_ids": torch.cat([torch.arange(text).repeat(3, 1).T, torch.randint(0, 4, (image, 3)) + 65536])
        .unsqueeze(0).repeat(b, 1, 1),
        "segment_ids": torch.ones(b, seq, dtype=torch.long),
        "indicator": torch.tensor([3] * text + [2] * image).repeat(b, 1),
        "return_dict": False,
    }
    with torch.no_grad():
        stock = model(**inputs)[0]
        proc = MaskFreeAttnProcessor()
        model.set_attn_processor(proc)
        masked = model(**inputs)[0]
        proc.mask_free = True
        free = model(**inputs)[0]
    assert torch.equal(stock, masked)  # same maths as diffusers' processor
    assert torch.allclose(stock, free, atol=1e-5, rtol=1e-5)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_optimised_render_matches_diffusers_defaults(tiny_model_dir: Path, quick) -> None:
    from diffusers import Ideogram4Pipeline

    fast = Renderer(str(tiny_model_dir), device="cpu", dtype="float32", offline=True, compile=False)
    image = fast.render(CAPTION, preset=quick, size=(256, 256), seed=4)[0]
    assert fast.token_count(image.recipe.caption) < 2048

    # diffusers as documented: prompt padded to 2048 tokens, stock attention, mask on
    pipe = Ideogram4Pipeline.from_pretrained(tiny_model_dir, dtype=torch.float32, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompt=image.recipe.caption, height=256, width=256, num_inference_steps=2,
               guidance_schedule=[7.0, 3.0], mu=0.0, std=1.75,
               generator=torch.Generator("cpu").manual_seed(4), output_type="np").images[0]
    got = np.asarray(image.image, dtype=np.float64) / 255.0
    assert np.abs(got - ref).max() <= 1.0 / 255 + 1e-6


def test_unoptimised_switch_uses_diffusers_path(tiny_model_dir: Path, quick) -> None:
    slow = Renderer(str(tiny_model_dir), device="cpu", dtype="float32", offline=True, optimize=False, compile=False)
    slow.load()
    assert slow._processors == []
    procs = {type(p).__name__ for p in slow.pipe.transformer.attn_processors.values()}
    assert procs == {"Ideogram4AttnProcessor"}
