"""captionkit's speed layer over diffusers' Ideogram 4 pipeline.

diffusers pads every caption to 2048 text tokens and always passes the
block-diagonal mask to attention, which keeps SDPA off its flash kernel. This
module supplies the pieces that remove both costs without changing the output:

* the exact text length (or the batch's common length) as ``max_sequence_length``;
* :class:`MaskFreeAttnProcessor`, which drops the mask when the renderer has
  proved it all-true (no padding in the batch: the conditional branch holds
  text+image of one segment, the unconditional branch holds image tokens only);
* :func:`slim_text_projection`, which normalises and projects the text
  features row by row in chunks, and only the rows that hold features (the
  image rows are all zeros, and their projection is masked away right after);
* regional compilation of the repeated transformer blocks, with the sequence
  dimension left to torch's automatic dynamic shapes so that a new caption
  length costs one recompile the first time and none afterwards.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MaskFreeAttnProcessor", "compile_blocks", "compile_supported", "install_processors", "slim_text_projection"]


def _rotate_half(x: Any) -> Any:
    import torch

    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class MaskFreeAttnProcessor:
    """Ideogram 4 attention that skips the mask while :attr:`mask_free` is set.

    It computes exactly what diffusers' ``Ideogram4AttnProcessor`` computes; the
    only difference is ``attn_mask=None`` when the caller has guaranteed that
    every token of the sequence belongs to one segment (an all-true mask).
    ``mask_free`` is a plain Python attribute, so under ``torch.compile`` it is
    a guarded constant and each setting gets its own graph.
    """

    _attention_backend = None
    _parallel_config = None

    def __init__(self) -> None:
        self.mask_free = False

    def __call__(self, attn: Any, hidden_states: Any, attention_mask: Any, image_rotary_emb: Any) -> Any:
        from diffusers.models.attention_dispatch import dispatch_attention_fn

        query = attn.to_q(hidden_states).unflatten(-1, (attn.num_heads, attn.head_dim))
        key = attn.to_k(hidden_states).unflatten(-1, (attn.num_heads, attn.head_dim))
        value = attn.to_v(hidden_states).unflatten(-1, (attn.num_heads, attn.head_dim))
        query = attn.norm_q(query)
        key = attn.norm_k(key)
        cos, sin = image_rotary_emb
        cos = cos.unsqueeze(2)
        sin = sin.unsqueeze(2)
        query = (query * cos) + (_rotate_half(query) * sin)
        key = (key * cos) + (_rotate_half(key) * sin)
        hidden_states = dispatch_attention_fn(
            query,
            key,
            value,
            attn_mask=None if self.mask_free else attention_mask,
            backend=self._attention_backend,
            parallel_config=self._parallel_config,
        )
        return attn.to_out[0](hidden_states.flatten(2, 3))


def install_processors(pipe: Any) -> list[MaskFreeAttnProcessor]:
    """Put one shared :class:`MaskFreeAttnProcessor` on both DiTs (mask kept until enabled).

    One instance for every attention layer keeps a single guard for compiled
    graphs, so both DiTs share the same compiled block code.
    """
    proc = MaskFreeAttnProcessor()
    for name in ("transformer", "unconditional_transformer"):
        model = getattr(pipe, name, None)
        if model is not None:
            # set_attn_processor changes this model only; it leaves diffusers'
            # process-global attention backend alone.
            model.set_attn_processor(proc)
    return [proc]


def compile_supported(device: Any) -> tuple[bool, str]:
    """Whether regional compilation is worth turning on for ``device``, and why not.

    Compilation needs a working inductor backend: a CUDA device with Triton.
    On CPU it works but the first call costs tens of seconds for little gain,
    so ``auto`` leaves it off there.
    """
    import torch

    if str(device).startswith("cuda"):
        try:
            import triton  # noqa: F401
        except ImportError:
            return False, "triton is not installed"
        if not hasattr(torch, "compile"):
            return False, "this torch has no torch.compile"
        return True, ""
    return False, f"compiled blocks are only enabled automatically on CUDA (device is {device})"


def compile_blocks(pipe: Any, *, dynamic: bool | None = None) -> None:
    """Compile the repeated transformer blocks of both DiTs (fullgraph).

    Args:
        pipe: The diffusers pipeline.
        dynamic: Passed to ``torch.compile``. None (the default) compiles the
            first shapes statically and recompiles once with a symbolic
            sequence length when a second caption length or size arrives;
            True starts symbolic.
    """
    for name in ("transformer", "unconditional_transformer"):
        model = getattr(pipe, name, None)
        if model is not None:
            model.compile_repeated_blocks(fullgraph=True, dynamic=dynamic)


def slim_text_projection(model: Any, rows: int = 4096) -> None:
    """Compute a DiT's ``llm_cond_proj(llm_cond_norm(x))`` without its full-size temporaries.

    The DiT feeds every token, image tokens included, through a 53,248-wide
    RMSNorm (in float32) and projection; at 2048x2048 that is 3.4 GiB of float32
    for the conditional branch alone, all but the text rows zeros. Both are
    row-wise, and a zero row maps to the projection's bias, so computing the
    non-zero rows in chunks gives the same values. ``llm_cond_norm`` becomes a
    pass-through and ``llm_cond_proj`` does both; the weights and the state
    dict are untouched. Idempotent.
    """
    import torch

    norm, proj = getattr(model, "llm_cond_norm", None), getattr(model, "llm_cond_proj", None)
    if norm is None or proj is None or getattr(proj, "_captionkit_slim", False):
        return
    norm_forward, proj_forward = norm.forward, proj.forward

    def passthrough(x: Any) -> Any:
        return x

    def fused(x: Any) -> Any:
        flat = x.reshape(-1, x.shape[-1])
        keep = torch.cat([chunk.ne(0).any(dim=-1) for chunk in flat.split(rows)])
        index = keep.nonzero().squeeze(1)
        probe = proj_forward(norm_forward(flat[:1] * 0))  # the output of a zero row: the bias
        out = probe.expand(flat.shape[0], -1).clone()
        if index.numel():
            parts = [proj_forward(norm_forward(flat.index_select(0, i))) for i in index.split(rows)]
            out.index_copy_(0, index, torch.cat(parts).to(out.dtype))
        return out.reshape(*x.shape[:-1], out.shape[-1])

    object.__setattr__(norm, "forward", passthrough)
    object.__setattr__(proj, "forward", fused)
    object.__setattr__(proj, "_captionkit_slim", True)
