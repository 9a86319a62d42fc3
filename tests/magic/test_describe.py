"""describe: image → verified caption, against the loopback server speaking both describe contracts."""

from __future__ import annotations

import copy
import io
import json
import random
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from captionkit.compat import CaptionVerifier
from captionkit.magic import (
    AsyncDescribeClient,
    DescribeClient,
    describe,
    describe_many,
    errors,
    load_image,
)
from captionkit.magic.testing import SAMPLE_CAPTION, FakeMagicServer, Step, describe_path, fenced
from captionkit.strategies import caption_dicts

from .conftest import FAST_RETRY

BOXED = copy.deepcopy(SAMPLE_CAPTION)
BOXED["compositional_deconstruction"]["elements"][0]["bbox"] = [400, 150, 900, 550]
BOXED["compositional_deconstruction"]["elements"][1]["bbox"] = [100, 600, 300, 950]


def png(path: Path, size: tuple[int, int] = (96, 64), color: str = "white") -> Path:
    Image.new("RGB", size, color).save(path, format="PNG")
    return path


def hosted(server: FakeMagicServer, **extra: Any) -> DescribeClient:
    return DescribeClient("ideogram-4-v1", api_key="k-describe", base_url=server.url, retry=FAST_RETRY, **extra)


def chat(server: FakeMagicServer, **extra: Any) -> DescribeClient:
    return DescribeClient("openai-compatible", base_url=server.chat_url, model="fake-vlm", retry=FAST_RETRY, **extra)


def assert_clean(text: str) -> None:
    assert CaptionVerifier().verify_raw(text) == []


# ------------------------------------------------------------------ hosted contract


def test_hosted_describe_uploads_the_image_as_multipart(server, tmp_path) -> None:
    image = png(tmp_path / "wall.png", (150, 100))
    shuffled = {"compositional_deconstruction": {"elements": BOXED["compositional_deconstruction"]["elements"],
                                                 "background": BOXED["compositional_deconstruction"]["background"]},
                "high_level_description": BOXED["high_level_description"], "tags": ["cafe", "espresso"]}
    server.push(Step.caption(shuffled))
    with hosted(server) as client:
        result = client.describe(image)
    sent = server.requests[0]
    assert sent.path == describe_path and sent.headers["api-key"] == "k-describe"
    assert "authorization" not in sent.headers
    form = sent.form
    assert form["image_file"] == ("image.png", "image/png", image.read_bytes())
    assert form["include_bbox"] == "true" and form["include_style_descriptions"] == "true"
    assert_clean(result.text)
    assert (result.width, result.height, result.aspect_ratio) == (150, 100, "3:2")
    assert result.metadata["tags"] == ["cafe", "espresso"] and "tags" not in result.text
    assert result.caption.compositional_deconstruction.elements[0].bbox.to_list() == [400, 150, 900, 550]
    assert result.backend == "ideogram-4-v1" and result.model is None and result.prompt is None
    codes = [c.code for c in result.changes]
    assert codes[0] == "CK102" and "CK207" in codes  # tags moved out; root keys put in canonical order


def test_hosted_flags_follow_the_options(server, tmp_path) -> None:
    image = png(tmp_path / "a.png")
    with hosted(server, strip_bboxes=True, style=False) as client:
        result = client.describe(image)
    form = server.requests[0].form
    assert form["include_bbox"] == "false" and form["include_style_descriptions"] == "false"
    assert "bbox" not in result.text


def test_hosted_safety_rejection_is_a_422_error_that_is_not_retried(server, tmp_path) -> None:
    server.push(Step.json({"error": "Image failed safety check"}, status=422))
    with hosted(server) as client, pytest.raises(errors.SafetyRejectedError) as caught:
        client.describe(png(tmp_path / "a.png"))
    exc = caught.value
    assert exc.status_code == 422 and exc.retryable is False and len(server.requests) == 1
    assert str(exc) == (
        "ideogram-4-v1: HTTP 422: Image failed safety check [request req-1]; the image failed the provider's "
        "safety check and cannot be described (not retried)"
    )
    assert "\n" not in str(exc) and "k-describe" not in repr(exc)


def test_hosted_503_is_retried(server, tmp_path) -> None:
    server.push(Step.json({"error": "took too long"}, status=503))
    with hosted(server) as client:
        result = client.describe(png(tmp_path / "a.png"))
    assert result.transport_attempts == 2 and len(server.requests) == 2


def test_hosted_output_is_repaired_never_re_asked(server, tmp_path) -> None:
    no_branch = copy.deepcopy(SAMPLE_CAPTION)
    del no_branch["style_description"]["photo"]  # the documented non-conforming example
    server.push(Step.caption(no_branch))
    with hosted(server) as client, pytest.raises(errors.CaptionVerificationError) as caught:
        client.describe(png(tmp_path / "a.png"))
    assert caught.value.attempts == 1 and len(server.requests) == 1
    assert any("photo" in line for line in caught.value.diagnostics)


def test_the_fake_enforces_the_upload_contract(server) -> None:
    """The loopback server answers 400 to a describe request that is not a proper upload."""
    json_body = httpx.post(server.url + describe_path, json={"image_file": "x"})
    assert json_body.status_code == 400 and json_body.json() == {"error": "describe takes multipart/form-data"}
    no_file = httpx.post(server.url + describe_path, data={"include_bbox": "true"}, files={"other": ("a", b"1")})
    assert no_file.json() == {"error": "image_file is required"}
    gif = httpx.post(server.url + describe_path, files={"image_file": ("a.gif", b"GIF89a", "image/gif")})
    assert gif.json() == {"error": "unsupported image type image/gif"}


# ------------------------------------------------------------------ chat contract


def test_chat_describe_sends_the_image_as_a_data_url_with_the_describe_prompt(server, tmp_path) -> None:
    image = png(tmp_path / "shot.png", (1536, 1024))
    server.push(Step.caption(fenced(BOXED)))
    with chat(server) as client:
        result = client.describe(image, hint="an espresso bar in Lisbon")
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions" and sent.image() == image.read_bytes()
    system, user = sent.json["messages"]
    assert system["role"] == "system" and "You look at one image" in system["content"]
    text = user["content"][0]["text"]
    assert text.startswith("IMAGE SIZE: 1536x1024 pixels, aspect ratio 3:2 (width:height).")
    assert "[y_min, x_min, y_max, x_max]" in text and "an espresso bar in Lisbon" in text
    assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert_clean(result.text)
    assert result.prompt.startswith("captionkit-describe-v1@1.0.0#") and result.model == "fake-vlm"
    assert result.caption.compositional_deconstruction.elements[1].bbox.to_list() == [100, 600, 300, 950]


def test_chat_describe_re_asks_with_the_verifier_messages(server, tmp_path) -> None:
    broken = copy.deepcopy(BOXED)
    del broken["compositional_deconstruction"]["elements"][0]["desc"]
    server.push(Step.caption(broken), Step.caption(BOXED))
    with chat(server) as client:
        result = client.describe(png(tmp_path / "a.png"))
    assert result.attempts == 2
    follow_up = server.requests[1].json["messages"]
    assert [m["role"] for m in follow_up] == ["system", "user", "assistant", "user"]
    assert "'desc'" in follow_up[3]["content"] and server.requests[1].image() == server.requests[0].image()


def test_chat_describe_gives_up_with_a_typed_error(server, tmp_path) -> None:
    server.push(*[Step.caption("I cannot see an image.")] * 3)
    with chat(server, max_reasks=2) as client, pytest.raises(errors.CaptionParseError) as caught:
        client.describe(png(tmp_path / "a.png"))
    assert caught.value.attempts == 3 and len(server.requests) == 3


def test_openrouter_vision_backend(server, tmp_path) -> None:
    server.push(Step.caption(BOXED))
    with DescribeClient("claude-sonnet-v1", api_key="sk-or-canary", base_url=server.chat_url, retry=FAST_RETRY) as client:
        result = client.describe(png(tmp_path / "a.png"))
    sent = server.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-or-canary"
    assert sent.json["model"] == "anthropic/claude-sonnet-4.6" and sent.json["reasoning"] == {"enabled": False}
    assert result.backend == "claude-sonnet-v1" and "sk-or-canary" not in repr(client)


def test_missing_key_names_the_variable(tmp_path) -> None:
    with pytest.raises(errors.MissingAPIKeyError, match="IDEOGRAM_API_KEY"):
        DescribeClient("ideogram-4-v1")


# ------------------------------------------------------------------ frames and boxes


def xyxy(box: list[int]) -> list[int]:
    y0, x0, y1, x1 = box
    return [x0, y0, x1, y1]


@pytest.fixture(scope="module")
def shared_server() -> Any:
    """One loopback server for every example of a property (each example scripts its own replies)."""
    with FakeMagicServer() as srv:
        yield srv


@given(caption_dicts(min_elements=1, max_elements=4, allow_palette=False), st.integers(32, 96), st.integers(32, 96))
def test_declared_box_formats_are_converted_against_the_image(shared_server, data, width, height) -> None:
    server = shared_server
    boxed = [e for e in data["compositional_deconstruction"]["elements"] if "bbox" in e]
    pixel_data = copy.deepcopy(data)
    for element in pixel_data["compositional_deconstruction"]["elements"]:
        if "bbox" in element:
            y0, x0, y1, x1 = element["bbox"]
            element["bbox"] = [y0 * height // 1000, x0 * width // 1000, y1 * height // 1000, x1 * width // 1000]
    flipped = copy.deepcopy(data)
    for element in flipped["compositional_deconstruction"]["elements"]:
        if "bbox" in element:
            element["bbox"] = xyxy(element["bbox"])
    buffer = io.BytesIO()
    Image.new("RGB", (width, height)).save(buffer, format="PNG")
    server.push(Step.caption(flipped), Step.caption(pixel_data))
    with chat(server, box_format="xyxy-1000", max_reasks=0) as client:
        from_xyxy = client.describe(buffer.getvalue())
    with chat(server, box_format="pixels", max_reasks=0) as client:
        from_pixels = client.describe(buffer.getvalue())
    assert (from_xyxy.width, from_xyxy.height) == (width, height)
    got = [e.bbox.to_list() for e in from_xyxy.caption.compositional_deconstruction.elements if e.bbox is not None]
    assert got == [e["bbox"] for e in boxed]
    converted = [e.bbox.to_list() for e in from_pixels.caption.compositional_deconstruction.elements if e.bbox is not None]
    for box, pixel in zip(converted, [e["bbox"] for e in pixel_data["compositional_deconstruction"]["elements"] if "bbox" in e], strict=True):
        y0, x0, y1, x1 = pixel
        assert box == [round(1000 * y0 / height), round(1000 * x0 / width), round(1000 * y1 / height), round(1000 * x1 / width)]


def test_the_image_size_is_the_frame_for_size_lints(server, tmp_path) -> None:
    round_thing = {"compositional_deconstruction": {"background": "A white wall.", "elements": [
        {"type": "obj", "bbox": [100, 100, 900, 900], "desc": "A round clock face with black hands."}]}}
    server.push(Step.caption(round_thing), Step.caption(round_thing))
    with chat(server) as client:
        wide = client.describe(png(tmp_path / "wide.png", (800, 200)))
        square = client.describe(png(tmp_path / "square.png", (200, 200)))
    assert "CK610" in wide.diagnostics.codes() and "CK610" not in square.diagnostics.codes()


# ------------------------------------------------------------------ images


def test_exif_orientation_is_applied_before_sending(server, tmp_path) -> None:
    path = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.new("RGB", (300, 200), "red").save(path, format="JPEG", exif=exif)
    loaded = load_image(path)
    assert loaded.frame == (200, 300) and loaded.mime_type == "image/jpeg"
    assert loaded.notes == ("applied the EXIF orientation (6)",)
    with hosted(server) as client:
        result = client.describe(path)
    upright = Image.open(io.BytesIO(server.requests[0].form["image_file"][2]))
    assert upright.size == (200, 300) and (result.width, result.height) == (200, 300)
    assert result.warnings == ("applied the EXIF orientation (6)",)


def test_other_formats_are_re_encoded_as_png(tmp_path) -> None:
    path = tmp_path / "anim.gif"
    Image.new("P", (40, 30)).save(path, format="GIF")
    loaded = load_image(path)
    assert loaded.mime_type == "image/png" and loaded.notes == ("re-encoded GIF as PNG",)
    assert Image.open(io.BytesIO(loaded.data)).size == (40, 30)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"not an image"), "not an image captionkit can read (unknown format)"),
        (lambda p: None, "no such file"),
        (lambda p: p.mkdir(), "is a directory, not an image"),
    ],
)
def test_bad_images_are_refused_before_sending(server, tmp_path, make, message) -> None:
    path = tmp_path / "x.png"
    make(path)
    with hosted(server) as client, pytest.raises(errors.ConfigurationError) as caught:
        client.describe(path)
    assert str(caught.value) == f"{path}: {message}" and server.requests == []


def test_images_over_the_limit_are_refused_before_sending(server, tmp_path) -> None:
    path = png(tmp_path / "big.png", (64, 64))
    with pytest.raises(errors.ConfigurationError, match=r"big.png: [\d,]+ bytes is over the 100 bytes limit for describing; downscale it first"):
        load_image(path, max_bytes=100)
    noisy = Image.frombytes("RGB", (2000, 2000), random.Random(0).randbytes(2000 * 2000 * 3))
    big = tmp_path / "noise.png"
    noisy.save(big, format="PNG", compress_level=0)
    with hosted(server) as client, pytest.raises(errors.ConfigurationError, match=r"noise.png: 11\.\d MB is over the 10 MB limit"):
        client.describe(big)
    assert server.requests == []


# ------------------------------------------------------------------ async, batches, one-call API


def test_async_client_gives_the_same_results_as_the_sync_one(server, tmp_path) -> None:
    image = png(tmp_path / "a.png")
    server.push(Step.caption(fenced(BOXED)), Step.caption(fenced(BOXED)))
    with chat(server) as client:
        sync_result = client.describe(image)

    async def main() -> Any:
        async with AsyncDescribeClient("openai-compatible", base_url=server.chat_url, model="fake-vlm",
                                       retry=FAST_RETRY) as client:
            return await client.describe(image)

    async_result = anyio.run(main)
    assert async_result.text == sync_result.text
    assert [c.code for c in async_result.changes] == [c.code for c in sync_result.changes]
    assert server.requests[0].json == server.requests[1].json


def test_describe_many_keeps_order_and_isolates_failures(server, tmp_path) -> None:
    good = [png(tmp_path / f"{i}.png", (64 + i, 64)) for i in range(4)]
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    items = [good[0], {"id": "second", "image": good[1]}, bad, good[2], good[3]]
    results = anyio.run(lambda: describe_many(items, backend="openai-compatible", base_url=server.chat_url,
                                              model="m", retry=FAST_RETRY, concurrency=3))
    assert [r.id for r in results] == [str(good[0]), "second", str(bad), str(good[2]), str(good[3])]
    assert [r.ok for r in results] == [True, True, False, True, True]
    assert isinstance(results[2].error, errors.ConfigurationError)
    assert [r.result.width for r in results if r.ok] == [64, 65, 66, 67]
    record = results[2].to_dict()
    assert record["ok"] is False and record["error"]["type"] == "ConfigurationError"
    assert len(server.requests) == 4


def test_one_call_describe_and_a_pil_image(server) -> None:
    result = describe(Image.new("RGB", (120, 80)), backend="ideogram-4-v1", api_key="k", base_url=server.url,
                      retry=FAST_RETRY)
    assert result.image == "<image>" and result.aspect_ratio == "3:2"
    assert server.requests[0].form["image_file"][2][:4] == b"\x89PNG"
    record = json.loads(json.dumps(result.to_dict()))
    assert record["caption"] == result.caption.to_dict() and record["width"] == 120
