"""Aspect parsing and snapping; the prompt-file format; our packaged prompt."""

from __future__ import annotations

import json
import math
import re

import pytest

import captionkit
from captionkit.compat import CaptionVerifier
from captionkit.magic import HOSTED_BUCKETS, PromptFile, load_prompt, parse_aspect, resolve_aspect


@pytest.mark.parametrize(
    ("value", "bucket"),
    [
        ("7:4", "16x9"),
        ("1344x768", "16x9"),
        ("1920x1088", "16x9"),
        ("30:17", "16x9"),
        ("6:1", "4x1"),
        ("1:9", "1x4"),
        ("1536x1024", "3x2"),
        ("1024x1536", "2x3"),
        ("1:1", "1x1"),
        ("16:10", "16x10"),
    ],
)
def test_snapping_picks_the_nearest_bucket_on_a_log_scale(value: str, bucket: str) -> None:
    aspect = resolve_aspect(value, snap=True)
    assert aspect.wire == bucket
    w, h = parse_aspect(value)
    best = min(HOSTED_BUCKETS, key=lambda b: abs(math.log(w / h) - math.log(int(b.split("x")[0]) / int(b.split("x")[1]))))
    assert best == bucket


def test_snap_error_is_reported_and_warned_above_three_percent() -> None:
    close = resolve_aspect("7:4", snap=True)
    assert close.ratio == "16:9" and 0.015 < close.error < 0.017 and close.warning is None
    far = resolve_aspect("6:1", snap=True)
    assert far.ratio == "4:1" and far.warning is not None and "6:1" in far.warning


def test_llm_backends_get_the_reduced_ratio_unchanged() -> None:
    assert resolve_aspect("1920x1088", snap=False).wire == "30:17"
    assert resolve_aspect("auto", snap=False).wire == "auto"
    assert resolve_aspect("Auto", snap=True).wire == "AUTO"


def test_frame_objects_are_accepted() -> None:
    from captionkit.layout import Frame

    assert resolve_aspect(Frame(1536, 1024), snap=True).wire == "3x2"


@pytest.mark.parametrize("bad", ["", "wide", "3:0", "-3:2", "3.5:2", "3:2:1", None, 1.5])
def test_bad_aspects_raise_a_one_line_error(bad: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_aspect(bad)
    assert "\n" not in str(info.value) and "aspect ratio" in str(info.value)


def test_prompt_format_edge_cases() -> None:
    text = "preamble is ignored\n[META]\nversion: 7\n[SYSTEM]\nBe brief.\n\n[ USER ]\nnot a marker\n"
    prompt = PromptFile.from_text(text, name="t")
    assert prompt.system == "Be brief.\n\n[ USER ]\nnot a marker"  # a marker has no space
    assert prompt.version == "7" and prompt.id.startswith("t@7#")
    # no [USER]: the default aspect line, then the idea after a blank line
    assert prompt.user_message("idea", "4:3") == "TARGET IMAGE ASPECT RATIO: 4:3 (width:height).\n\nidea"
    # a [USER] without {{original_prompt}}: the idea is appended after a blank line
    appended = PromptFile.from_text("[SYSTEM]\nS\n[USER]\nRatio {{aspect_ratio}}.")
    assert appended.user_message("a kite", "1:1") == "Ratio 1:1.\n\na kite"
    # the idea is substituted last, so braces in it are left alone
    tricky = PromptFile.from_text("[SYSTEM]\nS\n[USER]\n{{aspect_ratio}} / {{original_prompt}}")
    assert tricky.user_message("say {{aspect_ratio}}", "2:1") == "2:1 / say {{aspect_ratio}}"
    with pytest.raises(ValueError, match=r"no \[SYSTEM\] section"):
        PromptFile.from_text("[USER]\nhi", name="broken")


def test_a_prompt_file_on_disk_is_loaded_and_hashed(tmp_path) -> None:
    path = tmp_path / "v1.txt"
    path.write_text("[SYSTEM]\nOfficial-style prompt.\n[USER]\nTARGET: {{aspect_ratio}}\nUser idea: {{original_prompt}}\n")
    prompt = load_prompt(path)
    assert prompt.name == "v1" and len(prompt.sha256) == 64
    assert prompt.user_message("x", "3:2", strip_bboxes=False, style=False) == "TARGET: 3:2\nUser idea: x"
    with pytest.raises(ValueError, match="not found"):
        load_prompt(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="unknown prompt"):
        load_prompt("no-such-prompt")


def _examples(prompt: PromptFile) -> list[dict]:
    return [json.loads(line) for line in prompt.system.splitlines() if line.startswith("{")]


def test_packaged_prompt_examples_pass_both_verifiers_and_are_canonical() -> None:
    prompt = load_prompt()
    examples = _examples(prompt)
    assert len(examples) == 2
    for example in examples:
        assert list(example)[0] == "aspect_ratio"
        example.pop("aspect_ratio")
        text = captionkit.dumps(example)
        assert captionkit.verify(text).ok, captionkit.verify(text)
        assert CaptionVerifier().verify_raw(text) == []
        assert list(example) == list(captionkit.loads(text).to_dict())  # already canonical order
        # descs within the prompt's own 30-60 word rule, summary within 50
        assert len(example["high_level_description"].split()) <= 50
        for element in example["compositional_deconstruction"]["elements"]:
            assert 30 <= len(element["desc"].split()) <= 60
    assert any("\n" in e["text"] for ex in examples for e in ex["compositional_deconstruction"]["elements"] if e["type"] == "text")
    assert any(not "".join(json.dumps(ex, ensure_ascii=False)).isascii() for ex in examples)


def test_packaged_prompt_covers_the_contract() -> None:
    prompt = load_prompt()
    system = prompt.system
    for needle in [
        '"aspect_ratio"', "high_level_description", '"photo"', '"art_style"', "color_palette",
        "transparent background", "\\n", "uppercase", "English", "single line", "H / W", "16",
    ]:
        assert needle in system or needle in prompt.sections["boxes_keep"], needle
    assert prompt.version == "1.0.0"
    with_boxes = prompt.user_message("idea", "16:9", strip_bboxes=False, style=True)
    assert "bbox" in with_boxes and "style_description" in with_boxes
    without = prompt.user_message("idea", "16:9")
    assert 'Do not include "bbox"' in without
    assert re.search(r"\n\nUser idea: idea$", without)
    assert "style_description" in prompt.user_message("idea", "1:1", style=False)
    assert "Do not include a style_description" in prompt.user_message("idea", "1:1", style=False)
