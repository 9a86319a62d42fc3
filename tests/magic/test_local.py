"""``--backend local``: the pipeline's own text encoder with diffusers' prompt-enhancer head."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from captionkit.cli import app
from captionkit.compat import CaptionVerifier
from captionkit.magic import LocalMagicPrompt, errors
from captionkit.magic._local import constrained_decoding
from captionkit.magic.testing import SAMPLE_CAPTION, fenced


class ScriptedEnhancer:
    """Stands in for a pipeline whose enhancer writes these replies, to pin the repair loop down."""

    prompt_enhancer_head = object()

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.calls: list[dict[str, Any]] = []

    def upsample_prompt(self, prompt: str, **kwargs: Any) -> list[str]:
        self.calls.append({"prompt": prompt, **kwargs, "seed": kwargs["generator"].initial_seed()})
        return [self.replies.pop(0)]


def test_a_repairable_reply_becomes_a_verified_caption() -> None:
    messy = json.dumps({"compositional_deconstruction": SAMPLE_CAPTION["compositional_deconstruction"],
                        "high_level_description": SAMPLE_CAPTION["high_level_description"]})
    pipe = ScriptedEnhancer("{not json", fenced(messy))
    result = LocalMagicPrompt(pipeline=pipe, seed=7).expand("an espresso", "1536x1024")
    assert CaptionVerifier().verify_raw(result.text) == []
    assert result.backend == "local" and result.attempts == 2 and result.aspect_ratio == "3:2"
    assert [(c["width"], c["height"], c["seed"]) for c in pipe.calls] == [(3, 2, 7), (3, 2, 8)]  # a new sample, next seed
    assert result.metadata["seed"] == 8 and result.transport_attempts == 0
    assert {"CK005", "CK207"} <= {c.code for c in result.changes}


def test_unrepairable_samples_end_in_a_typed_error() -> None:
    pipe = ScriptedEnhancer("gibberish", "more gibberish")
    with pytest.raises(errors.CaptionParseError) as caught:
        LocalMagicPrompt(pipeline=pipe, seed=0, max_reasks=1).expand("a kite", "1:1")
    assert caught.value.attempts == 2 and caught.value.backend == "local"
    assert str(caught.value).startswith("local: no JSON caption could be extracted from the reply after 2 replies")


def test_auto_aspect_and_unconstrained_decoding_are_reported() -> None:
    pipe = ScriptedEnhancer(json.dumps(SAMPLE_CAPTION))
    result = LocalMagicPrompt(pipeline=pipe, seed=1).expand("a kite")
    assert (pipe.calls[0]["width"], pipe.calls[0]["height"]) == (1, 1)
    assert any("composed for 1:1" in w for w in result.warnings)
    assert any("outlines is not installed" in w for w in result.warnings) == (not constrained_decoding())


@pytest.mark.parametrize(
    ("kwargs", "idea", "aspect", "message"),
    [
        ({}, "a kite", "1:1", "local: no model"),
        ({"pipeline": ScriptedEnhancer()}, "  ", "1:1", "the idea is empty"),
        ({"pipeline": ScriptedEnhancer()}, "a kite", "wide", "aspect ratio 'wide'"),
        ({"pipeline": type("NoHead", (), {"prompt_enhancer_head": None, "upsample_prompt": None})()}, "a kite", "1:1",
         "has no prompt_enhancer_head"),
        ({"pipeline": object()}, "a kite", "1:1", "has no upsample_prompt"),
    ],
)
def test_configuration_errors(kwargs, idea, aspect, message) -> None:
    with pytest.raises(errors.ConfigurationError, match=message):
        LocalMagicPrompt(**kwargs).expand(idea, aspect)


# ---------------------------------------------------------------- the tiny pipeline, end to end


@pytest.fixture(scope="module")
def tiny_with_head(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from diffusers import Ideogram4Pipeline, Ideogram4PromptEnhancerHead

    from captionkit.render._tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(seed=0)
    head = Ideogram4PromptEnhancerHead(hidden_size=16, vocab_size=len(pipe.tokenizer))
    components = {k: v for k, v in pipe.components.items() if k != "prompt_enhancer_head"}
    folder = tmp_path_factory.mktemp("models") / "tiny-with-enhancer"
    Ideogram4Pipeline(**components, prompt_enhancer_head=head).save_pretrained(folder)
    return folder


def test_tiny_pipeline_runs_end_to_end(tiny_with_head: Path) -> None:
    """Random weights write gibberish: the path must still end in a verified caption or a typed error."""
    local = LocalMagicPrompt(str(tiny_with_head), device="cpu", dtype="float32", offline=True, compile=False,
                             max_new_tokens=16, max_reasks=0, seed=0)
    try:
        result = local.expand("a red kite over a hill", "3:2")
    except errors.CaptionRepairError as exc:
        assert exc.backend == "local" and exc.attempts == 1 and exc.reason in ("parse", "verification", "truncated")
        assert "\n" not in str(exc)
    else:
        assert CaptionVerifier().verify_raw(result.text) == []
    assert local._pipeline is not None and local._pipeline.prompt_enhancer_head is not None


def test_cli_backend_local_without_a_head_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["expand", "a kite", "--backend", "local"])
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: local: no model; pass --model (a local Ideogram 4 folder with a prompt_enhancer_head)"
    batch = CliRunner().invoke(app, ["expand", "--backend", "local", "--batch", str(tmp_path / "x.jsonl"), "-o", "y"])
    assert batch.exit_code == 2 and "one idea at a time" in batch.stderr


# ---------------------------------------------------------------- the library's one-call API routes local


def test_expand_with_backend_local_runs_the_local_enhancer() -> None:
    from captionkit.magic import LOCAL_BACKEND, expand

    pipe = ScriptedEnhancer(fenced(json.dumps(SAMPLE_CAPTION)))
    result = expand("an espresso", "3:2", backend="local", pipeline=pipe, seed=3)
    assert result.backend == "local" and result.transport_attempts == 0
    assert CaptionVerifier().verify_raw(result.text) == []
    assert [(c["prompt"], c["width"], c["height"], c["seed"]) for c in pipe.calls] == [("an espresso", 3, 2, 3)]
    # the registry entry routes the same way as its key
    again = expand("an espresso", "3:2", backend=LOCAL_BACKEND, pipeline=ScriptedEnhancer(json.dumps(SAMPLE_CAPTION)))
    assert again.backend == "local"


def test_aexpand_and_expand_many_route_local_too() -> None:
    import anyio

    from captionkit.magic import aexpand, expand_many

    one = anyio.run(lambda: aexpand("a kite", "1:1", backend="local", pipeline=ScriptedEnhancer(json.dumps(SAMPLE_CAPTION))))
    assert one.backend == "local"
    pipe = ScriptedEnhancer(json.dumps(SAMPLE_CAPTION), "gibberish", json.dumps(SAMPLE_CAPTION))
    items = anyio.run(lambda: expand_many(["a", {"id": "b", "idea": "b", "aspect": "16:9"}, "c"], "1:1",
                                          backend="local", pipeline=pipe, max_reasks=0, concurrency=3))
    assert [it.id for it in items] == ["0", "b", "2"]
    # one pipeline: the samples ran one at a time, in some order, each idea once
    assert sorted(c["prompt"] for c in pipe.calls) == ["a", "b", "c"]
    assert sum(it.ok for it in items) == 2
    failed = next(it for it in items if not it.ok)
    assert isinstance(failed.error, errors.CaptionParseError) and failed.error.backend == "local"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"api_key": "k"}, "local: api_key does not apply to the local backend"),
        ({"base_url": "http://x", "deadline": 5}, "local: base_url, deadline do not apply to the local backend"),
        ({}, "local: no model"),
    ],
)
def test_expand_local_refuses_server_options_in_one_line(options, message) -> None:
    from captionkit.magic import expand

    with pytest.raises(errors.ConfigurationError, match=message):
        expand("a kite", "1:1", backend="local", **options)


def test_expand_local_takes_no_http_client() -> None:
    import httpx

    from captionkit.magic import expand

    with pytest.raises(errors.ConfigurationError, match="takes no http_client"):
        expand("a kite", "1:1", backend="local", http_client=httpx.Client(), pipeline=ScriptedEnhancer())


def test_expand_backend_local_on_the_tiny_pipeline(tiny_with_head: Path) -> None:
    from captionkit.magic import expand

    try:
        result = expand("a red kite over a hill", "3:2", backend="local", model=str(tiny_with_head), device="cpu",
                        dtype="float32", offline=True, compile=False, max_new_tokens=16, max_reasks=0, seed=0)
    except errors.CaptionRepairError as exc:  # random weights: a typed, one-line error is the honest outcome
        assert exc.backend == "local" and "\n" not in str(exc)
    else:
        assert result.backend == "local" and CaptionVerifier().verify_raw(result.text) == []
