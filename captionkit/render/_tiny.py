"""A tiny, randomly initialised Ideogram 4 pipeline built offline.

Used by the test suite, the GPU smoke script and the benchmark (which scales
the same components to full size). The weights are random, so the images are
noise; every code path of a real render still runs.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHAT_TEMPLATE", "build_tiny_pipeline", "byte_tokenizer", "qwen3vl_config"]

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _byte_alphabet() -> list[str]:
    # GPT-2 / Qwen byte-level alphabet: printable bytes map to themselves, the rest
    # are shifted above 255 so that every byte has a visible symbol.
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = keep[:]
    n = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + n)
            n += 1
    return [chr(c) for c in chars]


def byte_tokenizer() -> Any:
    """A Qwen2 tokenizer over the 256 byte symbols plus the chat special tokens (one token per byte)."""
    from transformers import Qwen2Tokenizer

    vocab = {ch: i for i, ch in enumerate(_byte_alphabet())}
    for tok in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        vocab[tok] = len(vocab)
    tok = Qwen2Tokenizer(vocab=vocab, merges=[], unk_token=None, bos_token=None,
                         eos_token="<|im_end|>", pad_token="<|endoftext|>")
    tok.chat_template = CHAT_TEMPLATE
    return tok


def qwen3vl_config(*, hidden: int, layers: int = 36, heads: int, kv_heads: int, head_dim: int,
                   intermediate: int, vocab: int, mrope: list[int], rope_theta: float) -> Any:
    """A ``Qwen3VLConfig`` for a text encoder of the given shape (the vision tower is minimal and unused)."""
    from transformers import Qwen3VLConfig

    return Qwen3VLConfig(
        text_config={
            "hidden_size": hidden,
            "num_hidden_layers": layers,
            "num_attention_heads": heads,
            "num_key_value_heads": kv_heads,
            "head_dim": head_dim,
            "intermediate_size": intermediate,
            "vocab_size": vocab,
            "rope_parameters": {"rope_type": "default", "rope_theta": rope_theta,
                                "mrope_section": mrope, "mrope_interleaved": True},
        },
        vision_config={"depth": 1, "hidden_size": 8, "num_heads": 1, "intermediate_size": 16,
                       "out_hidden_size": hidden},
    )


def build_tiny_pipeline(seed: int = 0) -> Any:
    """Build the tiny pipeline of the render spec (section 12), deterministic for a seed."""
    import torch
    from diffusers import (
        AutoencoderKLFlux2,
        FlowMatchEulerDiscreteScheduler,
        Ideogram4Pipeline,
        Ideogram4Transformer2DModel,
    )
    from transformers import Qwen3VLModel

    torch.manual_seed(seed)
    tokenizer = byte_tokenizer()
    text_encoder = Qwen3VLModel(
        qwen3vl_config(hidden=16, heads=2, kv_heads=1, head_dim=8, intermediate=32,
                       vocab=len(tokenizer), mrope=[2, 1, 1], rope_theta=1e4)
    ).eval()

    def dit() -> Any:
        return Ideogram4Transformer2DModel(
            in_channels=128, num_layers=2, attention_head_dim=8, num_attention_heads=4, intermediate_size=64,
            adaln_dim=16, llm_features_dim=13 * 16, rope_theta=10000, mrope_section=(2, 1, 1),
        ).eval()

    transformer = dit()
    unconditional = dit()
    vae = AutoencoderKLFlux2(block_out_channels=(8, 8, 16, 16), latent_channels=32, norm_num_groups=4,
                             layers_per_block=1).eval()
    return Ideogram4Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        unconditional_transformer=unconditional,
    )
