"""The memory savers of the speed layer compute exactly what diffusers computes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from render_captions import KITE as CAPTION  # noqa: E402

from captionkit.render._fast import slim_text_projection  # noqa: E402


@pytest.fixture(scope="module")
def dit_pair():
    from captionkit.render._tiny import build_tiny_pipeline

    plain = build_tiny_pipeline(seed=0).transformer
    slim = build_tiny_pipeline(seed=0).transformer
    slim_text_projection(slim, rows=5)
    return plain, slim


@settings(deadline=None)
@given(st.integers(1, 3), st.integers(1, 40), st.data())
def test_slim_projection_equals_norm_then_projection(dit_pair, batch: int, tokens: int, data) -> None:
    plain, slim = dit_pair
    gen = torch.Generator().manual_seed(data.draw(st.integers(0, 2**31 - 1)))
    x = torch.randn(batch, tokens, 13 * 16, generator=gen)
    zero = data.draw(st.lists(st.booleans(), min_size=batch * tokens, max_size=batch * tokens))
    x.view(-1, x.shape[-1])[torch.tensor(zero)] = 0.0
    with torch.no_grad():
        want = plain.llm_cond_proj(plain.llm_cond_norm(x))
        got = slim.llm_cond_proj(slim.llm_cond_norm(x))
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_slim_projection_keeps_the_weights_and_is_idempotent(dit_pair) -> None:
    plain, slim = dit_pair
    assert slim.state_dict().keys() == plain.state_dict().keys()
    forward = slim.llm_cond_proj.forward
    slim_text_projection(slim)
    assert slim.llm_cond_proj.forward is forward


def test_compact_encoding_equals_diffusers_encoding(renderer) -> None:
    from captionkit.render.pipeline import _encode_compact, _unpack_encoding

    pipe = renderer.pipe
    original = type(pipe).encode_prompt.__get__(pipe)
    import captionkit

    text = captionkit.dumps(CAPTION)
    n = renderer.token_count(text)
    for grid, msl in (((16, 16), n), ((8, 24), n + 7)):
        want = original(text, *grid, msl, torch.device("cpu"))
        got = _unpack_encoding(_encode_compact(pipe, original, text, *grid, msl, torch.device("cpu")), grid[0] * grid[1])
        assert len(got) == len(want) == 4
        for a, b in zip(got, want, strict=True):
            assert a.shape == b.shape and a.dtype == b.dtype
            assert torch.equal(a, b)
