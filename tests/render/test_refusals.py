"""Everything refused before any weights load, each with one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from captionkit.render import Renderer, RenderError, parse_size, prepare_caption
from captionkit.render.hub import ModelSource, resolve_source

GOOD = {
    "high_level_description": "A red kite.",
    "compositional_deconstruction": {"background": "A green hill.", "elements": []},
}


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def _refuse(source, **kwargs) -> str:
    # A model folder that does not exist: reaching it would fail with a
    # different message, so each refusal below proves it came first.
    r = Renderer("/nonexistent/model", device="cpu")
    with pytest.raises(RenderError) as info:
        r.render(source, **kwargs)
    assert r.pipe is None
    return _one_line(info)


def test_invalid_json_refused_before_load() -> None:
    msg = _refuse("this is not json", label="idea.txt")
    assert msg.startswith("idea.txt: not a valid caption")


def test_invalid_caption_refused_before_load() -> None:
    bad = {"compositional_deconstruction": {"background": "x", "elements": [
        {"type": "obj", "bbox": [500, 500, 100, 100], "desc": "a kite"}]}}
    msg = _refuse(bad)
    assert "bbox" in msg or "ymin" in msg


def test_compat_verifier_findings_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from captionkit.compat import CaptionVerifier

    monkeypatch.setattr(CaptionVerifier, "verify_raw", lambda self, text: ["first issue", "second issue"])
    with pytest.raises(RenderError) as info:
        prepare_caption(GOOD, "poster.json")
    assert _one_line(info) == "poster.json: caption fails verification: first issue (and 1 more)"


def test_too_many_tokens_refused_before_load() -> None:
    long = {"compositional_deconstruction": {"background": "word " * 6000, "elements": []}}
    msg = _refuse(long)
    assert "tokens with the chat wrapper; limit 2048" in msg


@pytest.mark.parametrize(
    ("size", "message"),
    [
        ("100x1024", "width must be between 256 and 2048, got 100"),
        ("1024x4096", "height must be between 256 and 2048, got 4096"),
        ("1000x1024", "width must be divisible by 16, got 1000"),
        ("1024x1000", "height must be divisible by 16, got 1000"),
        ("2048x336", "aspect ratio must be at most 6:1, got 2048:336"),
        ("big", "expected WIDTHxHEIGHT"),
    ],
)
def test_bad_size_refused_before_load(size: str, message: str) -> None:
    assert message in _refuse(GOOD, size=size)


def test_good_sizes() -> None:
    assert parse_size("1536x1024") == (1536, 1024)
    assert parse_size((1600, 400)) == (1600, 400)  # 4:1 is allowed
    assert parse_size("2048X2048") == (2048, 2048)


def test_bad_preset_and_seeds_refused_before_load() -> None:
    assert "unknown preset 'slow'" in _refuse(GOOD, size="1024x1024", preset="slow")
    assert "at least one seed" in _refuse(GOOD, seeds=[])
    assert "seed -1" in _refuse(GOOD, seed=-1)


def test_bad_options_refused_at_construction() -> None:
    with pytest.raises(RenderError, match="unknown backend 'onnx'"):
        Renderer(backend="onnx")  # type: ignore[arg-type]
    with pytest.raises(RenderError, match="unknown quantization 'int3'"):
        Renderer(quantization="int3")  # type: ignore[arg-type]
    with pytest.raises(RenderError, match="unknown dtype"):
        Renderer(dtype="float8")


def test_missing_local_folder_and_non_model_folder(tmp_path: Path) -> None:
    with pytest.raises(RenderError, match="no such directory"):
        resolve_source(str(tmp_path / "absent"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RenderError, match="not an Ideogram 4 model folder"):
        resolve_source(str(tmp_path / "empty"))


def test_offline_cache_miss(tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    with pytest.raises(RenderError) as info:
        resolve_source("someorg/not-cached", offline=True, cache_dir=tmp_path)
    assert "not in the local Hugging Face cache and offline mode is on" in _one_line(info)


def test_offline_mode_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RenderError, match="offline mode is on"):
        resolve_source("someorg/not-cached", cache_dir=tmp_path)


def test_gated_repo_names_licence_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    hub = pytest.importorskip("huggingface_hub")
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    def hub_error(cls: type, message: str) -> Exception:
        # The constructors want an HTTP response whose type changed across hub
        # versions; the render layer only looks at the class.
        exc = cls.__new__(cls)
        Exception.__init__(exc, message)
        return exc

    def gated(*args, **kwargs):
        raise hub_error(GatedRepoError, "Access to model ideogram-ai/x is restricted")

    monkeypatch.setattr(hub, "snapshot_download", gated)
    with pytest.raises(RenderError) as info:
        resolve_source("ideogram-ai/x", offline=False)
    msg = _one_line(info)
    assert "gated" in msg and "licence" in msg and "HF_TOKEN" in msg

    def missing(*args, **kwargs):
        raise hub_error(RepositoryNotFoundError, "404")

    monkeypatch.setattr(hub, "snapshot_download", missing)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(RenderError, match="not found or not accessible; if it is gated or private, set HF_TOKEN"):
        resolve_source("ideogram-ai/x", offline=False)


def test_nf4_without_cuda(tiny_model_dir: Path) -> None:
    r = Renderer(str(tiny_model_dir), device="cpu", quantization="nf4")
    with pytest.raises(RenderError) as info:
        r.load()
    assert "nf4 weights need a CUDA GPU (device is cpu)" in _one_line(info)
    assert r.pipe is None


def test_nf4_without_bitsandbytes(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a))
    monkeypatch.setattr(Renderer, "_resolve_device", lambda self: "cuda:0")
    r = Renderer(str(tiny_model_dir), quantization="nf4")
    with pytest.raises(RenderError, match="nf4 needs bitsandbytes"):
        r.load()


def test_cuda_requested_without_cuda(tiny_model_dir: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RenderError, match="no CUDA GPU is available here"):
        Renderer(str(tiny_model_dir), device="cuda").load()


def test_not_enough_memory_known_in_advance(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    import captionkit.render.pipeline as pipeline

    monkeypatch.setattr(pipeline, "resolve_source", lambda *a, **k: ModelSource("org/full", None, "diffusers"))
    monkeypatch.setattr(pipeline, "free_bytes", lambda device: 16 * 1024**3)
    with pytest.raises(RenderError) as info:
        Renderer("org/full", device="cpu", quantization="none").load()
    assert "not enough memory on cpu for bf16: need about 53.1 GiB at 1024x1024, 16.0 GiB free" in _one_line(info)


def test_official_backend_needs_its_package(tiny_model_dir: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("ideogram4") is not None:
        pytest.skip("ideogram4 is installed here")
    with pytest.raises(RenderError, match="official backend needs the ideogram4 package"):
        Renderer(str(tiny_model_dir), backend="official").load()


def test_prepared_caption_is_canonical() -> None:
    shuffled = json.dumps({"compositional_deconstruction": GOOD["compositional_deconstruction"],
                           "high_level_description": "A red kite."}, indent=2)
    p = prepare_caption(shuffled)
    assert p.text.startswith('{"high_level_description":"A red kite.","compositional_deconstruction"')
    assert p.tokens > 8
