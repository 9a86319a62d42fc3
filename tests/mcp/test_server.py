"""The MCP server in-process, through the SDK's own client: every tool, resource, prompt and error path."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

import captionkit
from captionkit.compat import CaptionVerifier
from captionkit.strategies import caption_dicts, caption_texts, json_values, mutants

from .conftest import connect, error_text

WALL = '{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}'
CLOCK = {
    "high_level_description": "A round wall clock on a white wall.",
    "compositional_deconstruction": {
        "background": "A plain white plaster wall in soft daylight.",
        "elements": [{"type": "obj", "bbox": [200, 300, 800, 700], "desc": "A round black wall clock."}],
    },
}
TOOLS = {"new_caption", "verify", "fix", "format", "preview", "tokens", "expand", "describe"}


def assert_clean(text: str) -> None:
    assert CaptionVerifier().verify_raw(text) == []


def one_line(text: str, tool: str) -> None:
    assert "\n" not in text and text.strip() == text
    assert text.startswith(f"{tool}: "), text


# ---------------------------------------------------------------- listing


def test_every_tool_is_listed_with_input_and_output_schemas(mcp_session) -> None:
    tools = {t.name: t for t in mcp_session.list_tools().tools}
    assert set(tools) == TOOLS  # no render: no model is configured
    for tool in tools.values():
        assert tool.description, tool.name
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema is not None and tool.output_schema["type"] == "object", tool.name
    assert tools["verify"].input_schema["required"] == ["caption"]
    assert tools["verify"].input_schema["properties"]["caption"]["type"] == "string"
    assert set(tools["expand"].input_schema["properties"]["backend"]["anyOf"][0]["enum"]) >= {
        "ideogram-4-v1", "openai-compatible"}
    assert "diagnostics" in tools["verify"].output_schema["properties"]


def test_resources_schema_rules_and_examples(mcp_session) -> None:
    uris = {str(r.uri) for r in mcp_session.list_resources().resources}
    assert uris == {"caption://schema", "caption://rules", "caption://examples"}
    templates = {t.uri_template for t in mcp_session.list_resource_templates().resource_templates}
    assert templates == {"caption://rules/{code}", "caption://examples/{name}", "caption://templates/{name}"}

    schema = json.loads(mcp_session.read_resource("caption://schema").contents[0].text)
    from captionkit.schema import caption_schema

    assert schema == caption_schema()

    rules = json.loads(mcp_session.read_resource("caption://rules").contents[0].text)
    from captionkit.rules import RULES

    assert [r["code"] for r in rules] == list(RULES)
    doc = mcp_session.read_resource("caption://rules/CK201").contents[0].text
    assert doc == RULES["CK201"].doc()

    listing = json.loads(mcp_session.read_resource("caption://examples").contents[0].text)
    names = {row["name"] for row in listing}
    assert {"espresso", "night_market", "tides_poster", "poster", "product", "scene"} <= names
    for row in listing:
        text = mcp_session.read_resource(row["uri"]).contents[0].text
        assert_clean(text)


@pytest.mark.parametrize(
    ("uri", "cause"),
    [
        ("caption://rules/CK999", "unknown rule 'CK999'"),
        ("caption://examples/nope", "no example 'nope'"),
        ("caption://templates/flyer", "no template 'flyer'"),
        ("caption://nothing", "Unknown resource"),
    ],
)
def test_unknown_resources_are_protocol_errors_naming_the_cause(mcp_session, uri, cause) -> None:
    from mcp import MCPError

    with pytest.raises(MCPError, match=cause):
        mcp_session.read_resource(uri)


def test_caption_rules_prompt_teaches_the_contract(mcp_session) -> None:
    prompts = {p.name: p for p in mcp_session.list_prompts().prompts}
    assert set(prompts) == {"caption_rules"}
    assert [a.name for a in prompts["caption_rules"].arguments] == ["goal"]
    text = mcp_session.get_prompt("caption_rules", {"goal": "a jazz poster"}).messages[0].content.text
    assert '"type", "bbox", "text", "desc", "color_palette"' in text
    assert "CK301" in text and "[y_min, x_min, y_max, x_max]" in text
    assert text.endswith("YOUR TASK\na jazz poster")
    plain = mcp_session.get_prompt("caption_rules").messages[0].content.text
    assert "YOUR TASK" not in plain


# ---------------------------------------------------------------- tools


@pytest.mark.parametrize("template", ["poster", "product", "scene"])
def test_new_caption_from_templates_verifies(mcp_session, template) -> None:
    result = mcp_session.call("new_caption", {"template": template, "size": "1536x1024"})
    data = result.structured_content
    assert not result.is_error
    assert_clean(data["text"])
    assert json.loads(data["text"]) == data["caption"]
    assert all(d["severity"] != "error" for d in data["diagnostics"])


def test_new_caption_from_a_spec_normalises_colours(mcp_session) -> None:
    spec = {
        "high_level_description": "A blue mug on a desk.",
        "style_description": {"aesthetics": "calm", "lighting": "soft window light", "photo": "50mm",
                              "color_palette": ["navy", "#fff"]},
        "background": "A pale oak desk against a white wall.",
        "elements": [
            {"type": "obj", "desc": "A blue ceramic mug.", "bbox": [400, 300, 800, 600], "color_palette": ["rgb(0,0,255)"]},
            {"type": "text", "text": "MONDAY", "desc": "White capitals printed on the mug."},
        ],
    }
    data = mcp_session.call("new_caption", {"spec": spec}).structured_content
    assert_clean(data["text"])
    caption = data["caption"]
    assert caption["style_description"]["color_palette"] == ["#000080", "#FFFFFF"]
    assert caption["style_description"]["medium"] == "photograph"
    assert caption["compositional_deconstruction"]["elements"][0]["color_palette"] == ["#0000FF"]
    assert caption["compositional_deconstruction"]["elements"][1]["text"] == "MONDAY"


@pytest.mark.parametrize(
    ("arguments", "cause"),
    [
        ({"template": "poster", "spec": {"background": "b"}}, "give either template or spec"),
        ({"template": "flyer"}, "argument template"),
        ({"size": "huge"}, "size 'huge': expected WIDTHxHEIGHT (e.g. 1536x1024), W:H (e.g. 16:9) or a frame name"),
        ({"size": "1000x1024"}, "width must be divisible by 16"),
        ({"spec": {"background": "b", "elements": [{"type": "text", "desc": "d"}]}}, "a text element needs 'text'"),
        ({"spec": {"background": "b", "elements": [{"type": "obj", "text": "t", "desc": "d"}]}}, "an obj element has no 'text'"),
        ({"spec": {"background": "b", "elements": [{"type": "obj", "desc": "d", "bbox": [0, 0, 2000, 10]}]}},
         "not a valid caption: /compositional_deconstruction/elements/0/bbox"),
        ({"spec": {"background": "b", "elements": [{"type": "obj", "desc": "d", "color_palette": ["notacolour"]}]}},
         "color_palette/0"),
        ({"spec": {"background": "b", "colour": "x"}}, "argument spec.colour: Extra inputs are not permitted"),
        ({"spec": {"elements": []}}, "argument spec.background: Field required"),
    ],
)
def test_new_caption_errors(mcp_session, arguments, cause) -> None:
    text = error_text(mcp_session.call("new_caption", arguments))
    one_line(text, "new_caption")
    assert cause in text


def test_verify_reports_codes_paths_and_severities(mcp_session) -> None:
    messy = '{"compositional_deconstruction":{"elements":[{"desc":"A clock.","type":"obj","bbox":[0,0,1200,5]}],"background":"A wall."}}'
    data = mcp_session.call("verify", {"caption": messy}).structured_content
    assert data["ok"] is False and data["errors"] == 3
    found = {(d["code"], d["pointer"]) for d in data["diagnostics"]}
    assert ("CK203", "/compositional_deconstruction") in found
    assert ("CK205", "/compositional_deconstruction/elements/0") in found
    assert ("CK303", "/compositional_deconstruction/elements/0/bbox") in found
    fixable = {d["code"]: d["fix"] for d in data["diagnostics"]}
    assert fixable["CK203"].startswith("safe: ")


def test_verify_accepts_an_object_as_its_json_text(mcp_session) -> None:
    assert mcp_session.call("verify", {"caption": CLOCK}).structured_content["ok"] is True
    # the object is serialised in the order given, so an out-of-order object is reported as such
    reordered = {"compositional_deconstruction": {"elements": [], "background": "b"}}
    codes = [d["code"] for d in mcp_session.call("verify", {"caption": reordered}).structured_content["diagnostics"]]
    assert "CK203" in codes


def test_verify_options_select_ignore_size_and_lints(mcp_session) -> None:
    messy = '{"compositional_deconstruction":{"elements":[],"background":"b"}}'
    only = mcp_session.call("verify", {"caption": messy, "select": ["CK4"]}).structured_content
    assert {d["code"] for d in only["diagnostics"]} == {"CK406"}
    ignored = mcp_session.call("verify", {"caption": messy, "ignore": ["CK2"]}).structured_content
    assert "CK203" not in {d["code"] for d in ignored["diagnostics"]}
    round_thing = {"compositional_deconstruction": {"background": "A wall.", "elements": [
        {"type": "obj", "bbox": [100, 100, 900, 900], "desc": "A round clock face."}]}}
    wide = mcp_session.call("verify", {"caption": round_thing, "size": "2048x512"}).structured_content
    assert "CK610" in {d["code"] for d in wide["diagnostics"]}
    no_lints = mcp_session.call("verify", {"caption": round_thing, "size": "2048x512", "lints": False}).structured_content
    assert not any(d["code"].startswith("CK6") for d in no_lints["diagnostics"])


@pytest.mark.parametrize("size", ["banner", "Banner", "4:1", "1600x400", "1600 × 400"])
def test_sizes_are_read_by_the_one_size_parser(mcp_session, size) -> None:
    # the tools used to read only WxH and layout preset names: "4:1" was refused, "banner" had its own table
    round_thing = {"compositional_deconstruction": {"background": "A wall.", "elements": [
        {"type": "obj", "bbox": [100, 100, 900, 900], "desc": "A round clock face."}]}}
    from captionkit import verify

    got = mcp_session.call("verify", {"caption": round_thing, "size": size}).structured_content
    expected = verify(json.dumps(round_thing, separators=(",", ":")), frame=(1600, 400))
    assert [d["code"] for d in got["diagnostics"]] == expected.codes() and "CK610" in expected.codes()
    made = mcp_session.call("new_caption", {"template": "poster", "size": size})
    assert not made.is_error, made.content


def test_fix_reports_changes_and_the_fixed_text(mcp_session) -> None:
    messy = 'Sure! ```json\n{"aspect_ratio":"3:2","compositional_deconstruction":{"elements":[{"desc":"A clock.","type":"obj","color_palette":["#fff"]}],"background":"A wall."}}\n```'
    safe = mcp_session.call("fix", {"caption": messy}).structured_content
    assert safe["ok"] is False  # aspect_ratio is a foreign key: only the unsafe fixes move it
    assert {c["code"] for c in safe["changes"]} >= {"CK005", "CK203", "CK205", "CK312"}
    assert all(c["safe"] for c in safe["changes"])
    unsafe = mcp_session.call("fix", {"caption": messy, "unsafe": True}).structured_content
    assert unsafe["ok"] is True and unsafe["metadata"] == {"aspect_ratio": "3:2"}
    assert_clean(unsafe["text"])
    assert any(not c["safe"] for c in unsafe["changes"])
    from captionkit.rules import RULES

    for c in safe["changes"] + unsafe["changes"]:  # each change carries its rule's applicability
        assert c["applicability"] in [f.applicability for f in RULES[c["code"]].fixes] and c["safe"] is (c["applicability"] == "safe")
    assert [c["applicability"] for c in unsafe["changes"] if c["code"] == "CK102"] == ["unsafe"]
    rows = json.loads(mcp_session.read_resource("caption://rules").contents[0].text)
    assert all(row["fixes"] == RULES[row["code"]].to_dict()["fixes"] for row in rows)


def test_fix_converts_pixel_boxes_against_the_size(mcp_session) -> None:
    caption = {"compositional_deconstruction": {"background": "A wall.", "elements": [
        {"type": "obj", "bbox": [100, 200, 300, 1000], "desc": "A clock."}]}}
    data = mcp_session.call("fix", {"caption": caption, "box_format": "pixels", "size": "2000x1000"}).structured_content
    assert json.loads(data["text"])["compositional_deconstruction"]["elements"][0]["bbox"] == [100, 100, 300, 500]


@pytest.mark.parametrize(
    ("arguments", "cause"),
    [
        ({"caption": "no json here"}, "no JSON object found"),
        ({"caption": WALL, "box_format": "pixels"}, "box_format 'pixels' needs size"),
        ({"caption": WALL, "box_format": "polar"}, "argument box_format"),
        ({}, "argument caption: Field required"),
    ],
)
def test_fix_errors(mcp_session, arguments, cause) -> None:
    text = error_text(mcp_session.call("fix", arguments))
    one_line(text, "fix")
    assert cause in text


def test_format_is_canonical_and_reports_change(mcp_session) -> None:
    loose = '{ "compositional_deconstruction" : { "elements" : [], "background" : "Café wall." } }'
    data = mcp_session.call("format", {"caption": loose}).structured_content
    assert data == {"text": '{"compositional_deconstruction":{"background":"Café wall.","elements":[]}}', "changed": True}
    again = mcp_session.call("format", {"caption": data["text"]}).structured_content
    assert again == {"text": data["text"], "changed": False}
    pretty = mcp_session.call("format", {"caption": data["text"], "pretty": True}).structured_content
    assert pretty["text"].startswith("{\n") and json.loads(pretty["text"]) == json.loads(data["text"])
    text = error_text(mcp_session.call("format", {"caption": '{"a":'}))
    one_line(text, "format")
    assert "invalid JSON" in text


def test_preview_returns_a_png_image(mcp_session) -> None:
    result = mcp_session.call("preview", {"caption": CLOCK, "size": "1536x1024", "width": 300})
    assert not result.is_error
    image_block = result.content[0]
    assert image_block.type == "image" and image_block.mime_type == "image/png"
    image = Image.open(io.BytesIO(base64.b64decode(image_block.data)))
    meta = result.structured_content
    assert image.format == "PNG" and image.size == (meta["width"], meta["height"]) and meta["width"] == 300
    assert meta["elements"] == 1 and meta["boxed"] == 1
    assert json.loads(result.content[1].text) == meta


@pytest.mark.parametrize(
    ("arguments", "cause"),
    [
        ({"caption": '{"compositional_deconstruction":{"elements":[],"background":"b"}}'}, "not a valid caption: /compositional_deconstruction: CK203"),
        ({"caption": "{"}, "not a valid caption"),
        ({"caption": WALL, "width": 10}, "argument width"),
        ({"caption": WALL, "size": "100x100"}, "must be between 256 and 2048"),
    ],
)
def test_preview_errors(mcp_session, arguments, cause) -> None:
    text = error_text(mcp_session.call("preview", arguments))
    one_line(text, "preview")
    assert cause in text


def test_tokens_counts_the_canonical_text(mcp_session) -> None:
    data = mcp_session.call("tokens", {"caption": CLOCK}).structured_content
    expected = captionkit.count_tokens(captionkit.dumps(CLOCK))
    assert data["count"] == expected.count and data["limit"] == 2048 and data["status"] == "ok"
    loose = json.dumps(CLOCK, indent=4)
    raw = mcp_session.call("tokens", {"caption": loose, "raw": True}).structured_content
    assert raw["count"] > data["count"]
    huge = {"compositional_deconstruction": {"background": "word " * 3000, "elements": []}}
    assert mcp_session.call("tokens", {"caption": huge}).structured_content["status"] == "over"


def test_unknown_tool_is_a_tool_error(mcp_session) -> None:
    assert "Unknown tool: paint" in error_text(mcp_session.call("paint", {}))


# ---------------------------------------------------------------- properties


@given(caption_texts())
def test_verify_tool_agrees_with_the_library(mcp_session, text) -> None:
    data = mcp_session.call("verify", {"caption": text}).structured_content
    report = captionkit.verify(text)
    assert data["ok"] == report.ok
    assert [(d["code"], d["pointer"]) for d in data["diagnostics"]] == [(d.code, d.pointer) for d in report]


@given(mutants())
def test_fix_and_format_tools_agree_with_the_library(mcp_session, data) -> None:
    text = json.dumps(data, ensure_ascii=False)
    fixed = mcp_session.call("fix", {"caption": text}).structured_content
    expected = captionkit.fix(text)
    assert fixed["text"] == expected.text and fixed["ok"] == expected.report.ok
    assert [c["code"] for c in fixed["changes"]] == [c.code for c in expected.changes]
    formatted = mcp_session.call("format", {"caption": fixed["text"]}).structured_content
    assert formatted["changed"] is False  # fix's output is already canonical


@given(caption_dicts(min_elements=1))
def test_new_caption_spec_round_trips_valid_captions(mcp_session, data) -> None:
    cd = data["compositional_deconstruction"]
    spec: dict[str, Any] = {"background": cd["background"], "elements": cd["elements"]}
    if "high_level_description" in data:
        spec["high_level_description"] = data["high_level_description"]
    if "style_description" in data:
        spec["style_description"] = data["style_description"]
    result = mcp_session.call("new_caption", {"spec": spec})
    if result.is_error:  # a valid caption can still be over the token budget
        assert "CK501" in error_text(result)
        return
    assert result.structured_content["text"] == captionkit.dumps(data)


ARGUMENTS = st.dictionaries(
    st.sampled_from(["caption", "template", "size", "spec", "unsafe", "box_format", "pretty", "width", "raw",
                     "lints", "select", "ignore", "idea", "aspect", "backend", "model", "image", "extra"]),
    json_values(max_leaves=8) | st.text(max_size=30) | caption_texts(),
    max_size=5,
)


@given(st.sampled_from(sorted(TOOLS)), ARGUMENTS)
def test_any_arguments_give_a_result_or_a_one_line_error(mcp_session, tool, arguments) -> None:
    result = mcp_session.call(tool, arguments)
    if result.is_error:
        one_line(error_text(result), tool)
        assert "internal error" not in error_text(result)
    else:
        assert result.structured_content is not None


def test_the_server_keeps_serving_after_errors() -> None:
    for session in connect():
        for _ in range(3):
            assert error_text(session.call("verify", {"caption": None}))
            assert error_text(session.call("expand", {"idea": "a kite"}))
        assert session.call("verify", {"caption": WALL}).structured_content["ok"] is True
