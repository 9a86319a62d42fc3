"""The tools that reach out: expand against the loopback fake backend, and render on the tiny pipeline."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import pytest
from PIL import Image

from captionkit.compat import CaptionVerifier
from captionkit.magic import RetryPolicy
from captionkit.magic.testing import SAMPLE_CAPTION, FakeMagicServer, Step, fenced
from captionkit.mcp import ServerConfig

from .conftest import Session, connect, error_text

FAST = RetryPolicy(max_retries=1, initial_delay=0.001, max_delay=0.002)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMagicServer]:
    with FakeMagicServer() as server:
        yield server


@pytest.fixture(scope="module")
def chat_session(fake: FakeMagicServer) -> Iterator[Session]:
    config = ServerConfig(backend="openai-compatible", base_url=fake.chat_url, model="fake-vlm",
                          magic_options={"retry": FAST})
    yield from connect(config)


def test_expand_returns_a_verified_caption_with_provenance(chat_session, fake) -> None:
    fake.push(Step.caption(fenced({"aspect_ratio": "3:2", **SAMPLE_CAPTION})))
    result = chat_session.call("expand", {"idea": "an espresso on a counter", "aspect": "3:2"})
    data = result.structured_content
    assert not result.is_error
    assert CaptionVerifier().verify_raw(data["text"]) == []
    assert json.loads(data["text"]) == data["caption"]
    assert data["backend"] == "openai-compatible" and data["model"] == "fake-vlm"
    assert data["aspect_ratio"] == "3:2" and data["attempts"] == 1
    assert "CK005" in {c["code"] for c in data["changes"]}
    sent = fake.requests[-1]
    assert sent.path == "/v1/chat/completions" and sent.json["model"] == "fake-vlm"
    assert "an espresso on a counter" in sent.json["messages"][1]["content"]


def test_expand_model_argument_overrides_the_configured_one(chat_session, fake) -> None:
    chat_session.call("expand", {"idea": "a kite", "model": "other-model"})
    assert fake.requests[-1].json["model"] == "other-model"


def test_expand_errors_are_one_line_causes(chat_session, fake) -> None:
    fake.push(Step.error(401, "invalid key"))
    text = error_text(chat_session.call("expand", {"idea": "a kite"}))
    assert text.startswith("expand: openai-compatible: HTTP 401") and "\n" not in text

    broken = "not json at all"
    fake.push(Step.caption(broken), Step.caption(broken), Step.caption(broken))
    text = error_text(chat_session.call("expand", {"idea": "a kite"}))
    assert text.startswith("expand: openai-compatible: no JSON caption could be extracted") and "\n" not in text

    text = error_text(chat_session.call("expand", {"idea": "   "}))
    assert text == "expand: the idea is empty; give a short description of the picture"
    text = error_text(chat_session.call("expand", {"idea": "a kite", "aspect": "wide"}))
    assert text.startswith("expand: aspect ratio 'wide'")


def test_expand_without_a_key_names_the_variable(chat_session) -> None:
    text = error_text(chat_session.call("expand", {"idea": "a kite", "backend": "ideogram-4-v1"}))
    assert text == ("expand: ideogram-4-v1: no API key; set IDEOGRAM_API_KEY in the MCP server's environment "
                    "(the client's server settings)")


def test_the_configured_url_never_serves_another_backend(fake, monkeypatch) -> None:
    """A call may pick another backend, but the server's --base-url stays with its own backend."""
    from captionkit.mcp._server import ServerConfig as Config

    config = Config(backend="openai-compatible", base_url=fake.chat_url, model="m")
    assert "base_url" not in config.client_options("ideogram-4-v1", None)
    assert config.client_options("openai-compatible", None) == {"base_url": fake.chat_url, "model": "m"}


def test_hosted_expand_reads_the_key_from_the_environment(fake, monkeypatch) -> None:
    monkeypatch.setenv("IDEOGRAM_API_KEY", "k-canary-7f3a")
    for session in connect(ServerConfig(base_url=fake.url, magic_options={"retry": FAST})):
        result = session.call("expand", {"idea": "a cafe", "aspect": "1536x1024"})
        assert not result.is_error and result.structured_content["aspect_ratio"] == "3:2"
        sent = fake.requests[-1]
        assert sent.path == "/v1/ideogram-v4/magic-prompt" and sent.headers["api-key"] == "k-canary-7f3a"
        assert "k-canary-7f3a" not in json.dumps(result.structured_content)


# ---------------------------------------------------------------- render


@pytest.fixture(scope="module")
def render_session() -> Iterator[Session]:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from captionkit.render import Renderer
    from captionkit.render._tiny import build_tiny_pipeline

    renderer = Renderer(pipeline=build_tiny_pipeline(seed=0), compile=False)
    yield from connect(ServerConfig(renderer=renderer))


def test_render_is_offered_only_with_a_model(mcp_session) -> None:
    assert "render" not in {t.name for t in mcp_session.list_tools().tools}
    assert ServerConfig(render_model=None).can_render is False


def test_render_returns_the_image_and_its_recipe(render_session, tmp_path) -> None:
    tools = {t.name: t for t in render_session.list_tools().tools}
    assert "render" in tools and "recipe" in tools["render"].output_schema["properties"]
    caption = {"compositional_deconstruction": {"background": "A green hill.", "elements": []}}
    target = tmp_path / "out.png"
    result = render_session.call("render", {"caption": caption, "size": "256x256", "seed": 7,
                                            "preset": "V4_TURBO_12", "output": str(target)})
    assert not result.is_error, result.content
    meta = result.structured_content
    assert meta["seed"] == 7 and (meta["width"], meta["height"]) == (256, 256)
    assert meta["recipe"]["caption"] == '{"compositional_deconstruction":{"background":"A green hill.","elements":[]}}'
    block = result.content[0]
    assert block.type == "image" and block.mime_type == "image/png"
    data = base64.b64decode(block.data)
    assert Image.open(io.BytesIO(data)).size == (256, 256)
    assert target.read_bytes() == data  # the saved file carries the same recipe metadata
    from captionkit.render import read_recipe

    assert read_recipe(target).seed == 7


@pytest.mark.parametrize(
    ("arguments", "cause"),
    [
        ({"caption": '{"compositional_deconstruction":{"elements":[],"background":"b"}}'}, "not a valid caption"),
        ({"caption": '{"compositional_deconstruction":{"background":"b","elements":[]}}', "size": "100x100"}, "100"),
        ({"caption": '{"compositional_deconstruction":{"background":"b","elements":[]}}', "preset": "FASTEST"}, "FASTEST"),
        ({"caption": '{"compositional_deconstruction":{"background":"b","elements":[]}}', "seed": -1}, "argument seed"),
    ],
)
def test_render_errors_are_one_line(render_session, arguments, cause) -> None:
    text = error_text(render_session.call("render", arguments))
    assert text.startswith("render: ") and "\n" not in text and cause in text


# ---------------------------------------------------------------- describe


def test_describe_tool_writes_a_verified_caption_for_an_image(chat_session, fake, tmp_path) -> None:
    image = tmp_path / "shot.png"
    Image.new("RGB", (320, 160), "white").save(image)
    boxed = json.loads(json.dumps(SAMPLE_CAPTION))
    boxed["compositional_deconstruction"]["elements"][0]["bbox"] = [100, 200, 300, 400]
    fake.push(Step.caption(fenced(boxed)))
    result = chat_session.call("describe", {"image": str(image), "hint": "a cafe counter"})
    data = result.structured_content
    assert not result.is_error, result.content
    assert (data["width"], data["height"], data["aspect_ratio"]) == (320, 160, "2:1")
    assert data["image"] == str(image) and CaptionVerifier().verify_raw(data["text"]) == []
    assert data["caption"]["compositional_deconstruction"]["elements"][0]["bbox"] == [100, 200, 300, 400]
    assert fake.requests[-1].image() == image.read_bytes()


def test_describe_tool_errors_are_one_line(chat_session, fake, tmp_path) -> None:
    missing = tmp_path / "missing.png"
    assert error_text(chat_session.call("describe", {"image": str(missing)})) == f"describe: {missing}: no such file"
    image = tmp_path / "a.png"
    Image.new("RGB", (64, 64)).save(image)
    fake.push(Step.json({"error": "Image failed safety check"}, status=422))
    text = error_text(chat_session.call("describe", {"image": str(image)}))
    assert text.startswith("describe: openai-compatible: HTTP 422") and "cannot be described" in text
    assert "\n" not in text


# ---------------------------------------------------------------- expand on the local backend


class _ScriptedEnhancer:
    """A pipeline whose prompt enhancer writes these replies (as in tests/magic/test_local.py)."""

    prompt_enhancer_head = object()

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.prompts: list[str] = []

    def upsample_prompt(self, prompt: str, **kwargs) -> list[str]:
        self.prompts.append(prompt)
        return [self.replies.pop(0)]


class _LoadedRenderer:
    """What LocalMagicPrompt needs of a Renderer: ``load()`` and its ``pipe``."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe

    def load(self, *args):
        return self


def test_expand_local_uses_the_servers_pipeline() -> None:
    pipe = _ScriptedEnhancer(fenced(json.dumps(SAMPLE_CAPTION)), "gibberish")
    for session in connect(ServerConfig(renderer=_LoadedRenderer(pipe), magic_options={"seed": 4, "max_reasks": 0})):
        tools = {t.name: t for t in session.list_tools().tools}
        assert "local" in tools["expand"].input_schema["properties"]["backend"]["anyOf"][0]["enum"]
        result = session.call("expand", {"idea": "an espresso", "aspect": "3:2", "backend": "local"})
        assert not result.is_error, result.content
        data = result.structured_content
        assert data["backend"] == "local" and CaptionVerifier().verify_raw(data["text"]) == []
        assert pipe.prompts == ["an espresso"]
        # the model is the server's, never a tool argument (a path from a tool call would load any weights)
        text = error_text(session.call("expand", {"idea": "a kite", "backend": "local", "model": "/tmp/x"}))
        assert text.startswith("expand: local: model is the server's")
        text = error_text(session.call("expand", {"idea": "a kite", "backend": "local"}))
        assert text.startswith("expand: local: no JSON caption could be extracted") and "\n" not in text


def test_expand_local_without_a_pipeline_names_the_fix(mcp_session) -> None:
    text = error_text(mcp_session.call("expand", {"idea": "a kite", "backend": "local"}))
    assert text.startswith("expand: local: no model; start the server with --backend local --model FOLDER")


def test_expand_local_on_the_tiny_pipeline_as_the_default_backend(tmp_path_factory) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from diffusers import Ideogram4Pipeline, Ideogram4PromptEnhancerHead

    from captionkit.render._tiny import build_tiny_pipeline

    tiny = build_tiny_pipeline(seed=0)
    head = Ideogram4PromptEnhancerHead(hidden_size=16, vocab_size=len(tiny.tokenizer))
    folder = tmp_path_factory.mktemp("models") / "tiny-with-enhancer"
    components = {k: v for k, v in tiny.components.items() if k != "prompt_enhancer_head"}
    Ideogram4Pipeline(**components, prompt_enhancer_head=head).save_pretrained(folder)
    config = ServerConfig(backend="local", model=str(folder), magic_options={"max_new_tokens": 16, "max_reasks": 0, "seed": 0},
                          render_options={"device": "cpu", "dtype": "float32", "offline": True, "compile": False})
    for session in connect(config):
        result = session.call("expand", {"idea": "a red kite over a hill", "aspect": "3:2"})
        if result.is_error:  # random weights write gibberish: a one-line typed failure is the honest outcome
            assert error_text(result).startswith("expand: local: ") and "\n" not in error_text(result)
        else:
            assert result.structured_content["backend"] == "local"
            assert CaptionVerifier().verify_raw(result.structured_content["text"]) == []
