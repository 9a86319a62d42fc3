"""The compat verifier against the spec's probes and a plain reference transcription."""

import json
import os
import subprocess
import sys
import threading

import pytest
from differential import FIXED, REF, no_unhashable_type, ref
from differential import SETTINGS as _SETTINGS
from hostile import (
    HOSTILE_SETTINGS,
    any_payload,
    at_stack_depth,
    deep_payload,
    digits_payload,
    hostile_texts,
    nested,
    official_in_a_function,
    type_payload,
)
from hypothesis import given
from hypothesis import strategies as st

from captionkit import compat
from captionkit.compat import MAX_DEPTH, NON_ASCII_UNICODE_ESCAPE_RE, CaptionVerifier, official_loads
from captionkit.strategies import caption_texts, json_values, mutants

V = CaptionVerifier()


def pure(text):
    """The compat answer without the C accelerator (what a build without a compiler gives)."""
    return compat._pure_verify_raw(text)


def matches(text):
    """Both builds give the reference's answer; returns it."""
    expected = ref(text)
    assert V.verify_raw(text) == expected
    assert pure(text) == expected
    return expected


def CD(x):
    return '{"compositional_deconstruction":{"background":"b","elements":[%s]}}' % x


def SD(x):
    return '{"style_description":%s,"compositional_deconstruction":{"background":"b","elements":[]}}' % x


R1 = (
    "raw text: found 1 non-ASCII unicode escape(s) (e.g. \\u00e9) and no literal non-ASCII characters. This "
    "usually means the file was saved with ensure_ascii=True; please re-save with json.dump(..., "
    "ensure_ascii=False) so non-ASCII characters are stored as literal UTF-8. Note: this is a warning, not an "
    "error, because the escapes could have been written intentionally \u2014 we cannot tell from the file alone."
)

PROBES = [
    ("[]", ["root: expected a JSON object (dict), got list"]),
    ('{"aspect_ratio":"16:9","high_level_description":7}', [
        "root: unknown keys ['aspect_ratio'] (not in schema)",
        "high_level_description: expected a string, got int",
        "root: 'compositional_deconstruction' must exist"]),
    ('{"compositional_deconstruction":{"background":null}}',
     ["compositional_deconstruction.background: expected a string, got NoneType"]),
    ('{"compositional_deconstruction":{"elements":"x","background":"b","foo":1}}', [
        "compositional_deconstruction: key order is ('elements', 'background'), expected ('background', 'elements')",
        "compositional_deconstruction: keys ['foo'] are not allowed in this context",
        "compositional_deconstruction.elements: expected a list"]),
    (SD('{"photo":"p","art_style":"a","zz":1}'), [
        "style_description: unknown keys ['zz'] (not in schema)",
        "style_description: contains both 'photo' and 'art_style'; expected exactly one"]),
    (SD('{"aesthetics":"a","lighting":"l","art_style":"s","medium":"m","color_palette":"#FFFFFF"}'), [
        "style_description: key order is ('aesthetics', 'lighting', 'art_style', 'medium', 'color_palette'), "
        "expected ('aesthetics', 'lighting', 'medium', 'art_style', 'color_palette')",
        "style_description.color_palette: expected a list"]),
    (SD('{"aesthetics":"a","lighting":"l","photo":"p","medium":"m","color_palette":["#fff","#FFFFFF",123,null,"#12345G"]}'), [
        "style_description.color_palette[0]: '#fff' is not a valid #RRGGBB hex color",
        "style_description.color_palette[2]: '123' is not a valid #RRGGBB hex color",
        "style_description.color_palette[3]: 'None' is not a valid #RRGGBB hex color",
        "style_description.color_palette[4]: '#12345G' is not a valid #RRGGBB hex color"]),
    (SD('{"aesthetics":"a","lighting":"l","photo":"p","medium":"m","color_palette":[%s]}'
        % ",".join(['"#000000"'] * 16 + ['"bad"'])),
     ["style_description.color_palette: too many colors (17), expected at most 16"]),
    (CD('"obj"'), ["elements[0]: expected a dict"]),
    (CD('{"desc":"d","foo":1}'), ["elements[0]: unknown keys ['foo'] (not in schema)", "elements[0]: 'type' must exist"]),
    (CD('{"type":"image","desc":"d"}'), [f"elements[0]: 'type' must be one of {FIXED}"]),
    (CD('{"type":"text","text":"T","bbox":[1,2,3,4],"desc":"d"}'),
     ["elements[0]: key order is ('type', 'text', 'bbox', 'desc'), expected ('type', 'bbox', 'text', 'desc')"]),
    (CD('{"type":"obj","desc":"d","color_palette":[%s]}' % ",".join(['"#000000"'] * 6)),
     ["elements[0].color_palette: too many colors (6), expected at most 5"]),
    (CD('{"type":"obj","bbox":{"y":1},"desc":"d"}'), ["elements[0].bbox: expected [ymin, xmin, ymax, xmax]"]),
    (CD('{"type":"obj","bbox":[0,0,1000,1000.0],"desc":"d"}'), ["elements[0].bbox: all values must be int"]),
    (CD('{"type":"obj","bbox":[900,-1,100,1001],"desc":"d"}'), [
        "elements[0].bbox: values must be in [0, 1000], got [900, -1, 100, 1001]",
        "elements[0].bbox: ymin (900) > ymax (100)"]),
    (CD('{"type":"obj","bbox":[10,600,20,500],"desc":"d"}'), ["elements[0].bbox: xmin (600) > xmax (500)"]),
    (CD('{"type":"obj","desc":"d","color_palette":[1.5,true,["#FFF"],1e400]}'), [
        "elements[0].color_palette[0]: '1.5' is not a valid #RRGGBB hex color",
        "elements[0].color_palette[1]: 'True' is not a valid #RRGGBB hex color",
        "elements[0].color_palette[2]: '['#FFF']' is not a valid #RRGGBB hex color",
        "elements[0].color_palette[3]: 'inf' is not a valid #RRGGBB hex color"]),
    (CD('{"type":"obj","bbox":[500,500,500,500],"desc":"d"}'), []),
    ('{"it\'s":1,"compositional_deconstruction":{"background":"b","elements":[]}}',
     ["root: unknown keys [\"it's\"] (not in schema)"]),
    ("", ["invalid JSON: Expecting value: line 1 column 1 (char 0)"]),
    ('{"a":1,}', ["invalid JSON: Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"]),
    ('{"high_level_description":"caf\\u00e9"', [R1, "invalid JSON: Expecting ',' delimiter: line 1 column 38 (char 37)"]),
    ('{"high_level_description":"caf\\u00e9 café","compositional_deconstruction":{"background":"b","elements":[]}}', []),
    # quirks (B7)
    (CD('{"type":"obj","bbox":[true,0,false,1],"desc":"d"}'), ["elements[0].bbox: ymin (True) > ymax (False)"]),
    (CD('{"type":"obj","bbox":[true,true,true,true],"desc":"d"}'), []),
    (CD('{"type":"obj","desc":"x","type":"text"}'),
     ["elements[0]: key order is ('type', 'desc'), expected ('type', 'text', 'desc')"]),
    (CD('{"type":"obj","text":"t","desc":"d","foo":1}'), [
        "elements[0]: unknown keys ['foo'] (not in schema)",
        "elements[0]: keys ['text', 'foo'] are not allowed in this context"]),
    ("\ufeff{}", ["invalid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"]),
    (SD('{"photo":"p","medium":"m"}'),
     ["style_description: key order is ('photo', 'medium'), expected ('aesthetics', 'lighting', 'photo', 'medium')"]),
    (CD('{"type":"obj"}'), ["elements[0]: key order is ('type',), expected ('type', 'desc')"]),
    # huge integers: exact, not orjson floats
    (CD('{"type":"obj","bbox":[12345678901234567890123,0,1,1],"desc":"d"}'), [
        "elements[0].bbox: values must be in [0, 1000], got [12345678901234567890123, 0, 1, 1]",
        "elements[0].bbox: ymin (12345678901234567890123) > ymax (1)"]),
    ('{"high_level_description":123456789012345678901234567890}', [
        "high_level_description: expected a string, got int", "root: 'compositional_deconstruction' must exist"]),
    ("[NaN]", ["root: expected a JSON object (dict), got list"]),
    ("1e400", ["root: expected a JSON object (dict), got float"]),
    ('"\\ud800"', [R1.replace("\\u00e9", "\\ud800"), "root: expected a JSON object (dict), got str"]),
]


@pytest.mark.parametrize(("text", "expected"), PROBES)
def test_spec_probes(text, expected):
    assert V.verify_raw(text) == expected
    assert ref(text) == expected  # the reference agrees with the spec too


def test_ensure_ascii_example_from_spec():
    text = '{"high_level_description":"\\u00e9\\u00E9\\u00e9\\ud83d\\ude00 \\\\u0100"}'
    (first, *_rest) = V.verify_raw(text)
    assert "found 6 non-ASCII unicode escape(s) (e.g. \\u00E9, \\u00e9, \\u0100, ...)" in first
    assert CaptionVerifier.check_ensure_ascii_false(text, max_examples=10)[0].count("\\u") == 5


def test_ensure_ascii_suppressed_by_bom():
    assert V.check_ensure_ascii_false("\ufeff\\u00e9") == []


def test_regex_matches_spec_pattern_text():
    assert NON_ASCII_UNICODE_ESCAPE_RE.pattern == (
        r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})"
    )
    assert NON_ASCII_UNICODE_ESCAPE_RE.findall("\\u007f \\u0080 \\uFFFF \\ud83d") == ["\\u0080", "\\uFFFF", "\\ud83d"]


def test_constants_match_official():
    assert V.element_types == frozenset({"obj", "text"})
    assert V.element_key_order_text == ("type", "bbox", "text", "desc", "color_palette")
    assert (V.bbox_min, V.bbox_max, V.style_description_palette_max, V.element_palette_max) == (0, 1000, 16, 5)
    assert V._element_key_order({"type": "text", "text": "t", "desc": "d"}) == ("type", "text", "desc")
    with pytest.raises(ValueError):
        V._style_description_key_order({"photo": "p", "art_style": "a"})
    with pytest.raises(ValueError):
        V._element_key_order({"desc": "d"})


def test_live_types_follow_the_process_hash_seed():
    # The official message renders frozenset({'obj', 'text'}) in the process's own order.
    code = (
        "from captionkit.compat import CaptionVerifier;"
        "t='{\"compositional_deconstruction\":{\"background\":\"b\",\"elements\":[{\"type\":\"x\",\"desc\":\"d\"}]}}';"
        "print(CaptionVerifier(live_types=True).verify_raw(t)[0]);print(repr(frozenset({'obj','text'})))"
    )
    seen = set()
    for seed in range(6):
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        message, rendering = out.stdout.splitlines()
        assert message == f"elements[0]: 'type' must be one of {rendering}"
        seen.add(rendering)
    assert len(seen) == 2  # both orders occurred, so the check above could fail


# -- documented divergences: warnings instead of crashes
def test_unhashable_type_is_a_warning_and_loop_continues():
    text = CD('{"type":["obj"],"desc":"d"},{"type":{"a":1},"desc":"d"},{"type":"obj","bbox":[2,0,1,0],"desc":"d"}')
    assert V.verify_raw(text) == [
        f"elements[0]: 'type' must be one of {FIXED}",
        f"elements[1]: 'type' must be one of {FIXED}",
        "elements[2].bbox: ymin (2) > ymax (1)",
    ]
    with pytest.raises(TypeError):
        REF.verify_raw(text)


def test_integer_digit_limit_is_invalid_json():
    out = V.verify_raw('{"a":' + "9" * 5000 + "}")
    assert len(out) == 1 and out[0].startswith("invalid JSON: Exceeds the limit (4300 digits)")


def test_deep_nesting_is_invalid_json():
    out = V.verify_raw("[" * 100000 + "]" * 100000)
    assert len(out) == 1 and out[0].startswith("invalid JSON: maximum recursion depth exceeded")


def test_verify_file_not_utf8(tmp_path):
    p = tmp_path / "latin1.json"
    p.write_bytes('{"high_level_description":"café"}'.encode("latin-1"))
    out = V.verify_file(p)
    assert len(out) == 1 and out[0].startswith("invalid JSON: 'utf-8' codec can't decode byte 0xe9")


def test_verify_file_universal_newlines(tmp_path):
    p = tmp_path / "crlf.json"
    p.write_bytes(b'{\r\n"a":1,\r\n}')
    assert V.verify_file(p) == REF.verify_file(p)
    assert V.verify_file(p) == ["invalid JSON: Expecting property name enclosed in double quotes: line 3 column 1 (char 9)"]


def test_verify_python_values():
    # tuples are not lists; dict insertion order is the key order
    cap = {"compositional_deconstruction": {"background": "b", "elements": [
        {"type": "obj", "bbox": (1, 2, 3, 4), "desc": "d", "color_palette": ("#FFFFFF",)}]}}
    assert V.verify(cap) == REF.verify(cap) == [
        "elements[0].bbox: expected [ymin, xmin, ymax, xmax]",
        "elements[0].color_palette: expected a list",
    ]


# -- differential properties against the reference transcription


@_SETTINGS
@given(json_values().filter(no_unhashable_type))
def test_matches_reference_on_any_json(value):
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False), json.dumps(value, indent=1)):
        matches(text)
    assert V.verify(value) == [m.replace("frozenset({'obj', 'text'})", FIXED) for m in REF.verify(value)]


@_SETTINGS
@given(mutants(max_elements=5).filter(no_unhashable_type))
def test_matches_reference_on_mutants(data):
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    matches(text)


@_SETTINGS
@given(
    st.text(max_size=60)
    | st.text(alphabet='{}[]":,0123456789.eE-tfnulrsa\\u ', max_size=60)
    | caption_texts(max_elements=2).flatmap(
        lambda t: st.integers(0, len(t)).map(lambda i: t[:i] + "\ud800" + t[i:]))  # literal lone surrogates
)
def test_never_raises_on_any_text(text):
    try:
        expected = ref(text)
    except (TypeError, ValueError, RecursionError):
        expected = None
    got = V.verify_raw(text)
    assert isinstance(got, list) and all(isinstance(m, str) for m in got)
    assert pure(text) == got
    if expected is not None:
        assert got == expected


@_SETTINGS
@given(caption_texts(max_elements=6))
def test_valid_captions_pass(text):
    assert V.verify_raw(text) == [] == pure(text)


@pytest.mark.parametrize(
    "element",
    [
        '{"type":"obj","desc":"d","color_palette":["#ABCDEF,#123456"]}',
        '{"type":"obj","desc":"d","color_palette":["#ABCDEF",""]}',
        '{"type":"obj","desc":"d","color_palette":["#ABCDEF#","12345"]}',
        '{"type":"obj","bbox":[0,2,1,true],"desc":"d"}',
        '{"type":"obj","bbox":[0,0,1,1,2],"desc":"d"}',
        '{"type":"obj","bbox":"abcd","desc":"d"}',
        '{"type":"obj","bbox":null,"desc":"d"}',
        '{"type":"obj","desc":"d","color_palette":null}',
        '{"type":"text","desc":"d"}',
        '{"type":"obj","bbox":[5,0,4,1],"desc":"d"}',
    ],
)
def test_fast_paths_never_hide_a_finding(element):
    # valid neighbours on both sides so the bulk check sees a mixed list
    good = '{"type":"obj","bbox":[1,2,3,4],"desc":"d","color_palette":["#000000"]}'
    text = CD(f"{good},{element},{good}")
    assert matches(text) != []


@_SETTINGS
@given(caption_texts(max_elements=6))
def test_canonical_fast_path_takes_valid_canonical_captions(text):
    from captionkit._fastcheck import is_canonical_and_valid

    assert is_canonical_and_valid(text)


@_SETTINGS
@given(mutants(max_elements=5).filter(no_unhashable_type))
def test_canonical_fast_path_never_accepts_a_faulty_caption(data):
    from captionkit._fastcheck import is_canonical_and_valid

    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    if is_canonical_and_valid(text):
        assert REF.verify(json.loads(text)) == []


def test_palette_before_a_structural_fault_is_still_checked():
    text = CD('{"type":"obj","desc":"d","color_palette":["#1b1b2f"]},{"type":"obj","desc":"d","bbox":[1.0,1,2,2]}')
    assert V.verify_raw(text) == ref(text) == [
        "elements[0].color_palette[0]: '#1b1b2f' is not a valid #RRGGBB hex color",
        "elements[1]: key order is ('type', 'desc', 'bbox'), expected ('type', 'bbox', 'desc')",
        "elements[1].bbox: all values must be int",
    ]


def test_literal_lone_surrogate_in_text():
    text = '{"compositional_deconstruction":{"background":"\ud800","elements":[]}}'
    assert V.verify_raw(text) == ref(text) == []


def test_canonical_fast_path_reports_value_level_findings_exactly():
    from captionkit._fastcheck import canonical_findings

    text = ('{"style_description":{"aesthetics":"a","lighting":"l","photo":"p","medium":"m","color_palette":["#abcdef"]},'
            '"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","bbox":[9,8,1,2],"desc":"d",'
            '"color_palette":["#FFFFFF","#fff000"]}]}}')
    expected = ref(text)
    assert len(expected) == 4
    assert canonical_findings(text) == expected == V.verify_raw(text)
    # not canonical (key order) -> the fast path declines and the full walk decides
    assert canonical_findings(text.replace('"bbox":[9,8,1,2],"desc":"d"', '"desc":"d","bbox":[9,8,1,2]')) is None


def _root_shuffled(data):
    return dict(reversed(list(data.items()))) if isinstance(data, dict) else data


@_SETTINGS
@given(mutants(max_elements=5).filter(no_unhashable_type), st.sampled_from(["compact", "indent", "root_reversed", "ascii"]))
def test_every_route_matches_reference(data, layout):
    # each layout steers the text onto a different fast route: canonical, re-parsed, split at the root
    if layout == "indent":
        text = json.dumps(data, ensure_ascii=False, indent=2)
    elif layout == "root_reversed":
        text = json.dumps(_root_shuffled(data), ensure_ascii=False, separators=(",", ":"))
    elif layout == "ascii":
        text = json.dumps(data, separators=(",", ":"))
    else:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    matches(text)


@pytest.mark.parametrize(
    "text",
    [
        # duplicate keys: json.loads keeps the first position and the last value
        CD('{"type":"obj","desc":"a","type":"text"}'),
        CD('{"desc":"a","type":"obj","desc":"b"}'),
        CD('{"type":"obj","bbox":[5,0,4,1],"desc":"d","bbox":[1,1,2,2]}'),
        CD('{"type":"obj","bbox":[1,1,2,2],"desc":"d","bbox":[5,0,4,1]}'),
        CD('{"type":"obj","desc":"d","color_palette":["#abcdef"],"color_palette":["#ABCDEF"]}'),
        '{"compositional_deconstruction":{"background":"b","elements":[]},"compositional_deconstruction":{"background":"b","elements":[{"type":"x","desc":"d"}]}}',
        '{"style_description":{"aesthetics":"a","lighting":"l","photo":"p","medium":"m","photo":"q"},"compositional_deconstruction":{"background":"b","elements":[]}}',
        # unknown root keys around a canonical or a faulty composition
        '{"aspect_ratio":"1:1","compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"d"}]}}',
        '{"aspect_ratio":[1,2],"compositional_deconstruction":{"elements":[],"background":"b"},"z":null}',
        '{"aspect_ratio":1e999,"compositional_deconstruction":{"background":"b","elements":[]}}',
        '{"aspect_ratio":"\\ud800","high_level_description":5,"compositional_deconstruction":{"background":"b","elements":[{"type":"character","desc":"d"}]}}',
        '{"aspect_ratio":1,"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","bbox":[1.0,1,2,2],"desc":"d"}]}}',
        '{"x":1,"compositional_deconstruction":5}',
        '{"x":1,"compositional_deconstruction":{"background":"b","elements":[{"desc":"d","type":"obj","font":"f"}]}}',
        '{"x":1,"style_description":{"photo":"p"},"compositional_deconstruction":{"background":"b","elements":[]}}',
        # re-parsed route: key order wrong somewhere, values wrong elsewhere
        CD('{"desc":"d","type":"obj"},{"type":"obj","bbox":[5,0,4,1],"desc":"d"},{"type":"character","desc":"d"}'),
        CD('{"type":"text","desc":"d","text":"t","color_palette":["#abc"]},{"type":"obj","text":"t","desc":"d"}'),
    ],
)
def test_route_edge_cases_match_reference(text):
    matches(text)


def test_huge_integer_under_an_unknown_root_key_is_invalid_json():
    # the official verifier crashes here; compat's documented answer holds on the split route too
    text = '{"aspect_ratio":' + "9" * 5000 + ',"compositional_deconstruction":{"background":"b","elements":[]}}'
    (message,) = V.verify_raw(text)
    assert message.startswith("invalid JSON: Exceeds the limit (4300 digits)")


# -- texts json.loads cannot read: one depth rule and the digit limit, on every route (issue 9, section 3)

PY311 = sys.version_info[:2] == (3, 11)
RECURSION = "invalid JSON: maximum recursion depth exceeded while decoding a JSON {} from a unicode string"
GOOD_CD = '"compositional_deconstruction":{"background":"b","elements":[]}'


def all_routes(text):
    """compat's answer, the same from both builds, from a caller with little stack left and under a higher limit."""
    got = V.verify_raw(text)
    assert pure(text) == got
    assert at_stack_depth(60, V.verify_raw, text) == got
    assert at_stack_depth(60, pure, text) == got
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(limit + 2500)
    try:
        assert V.verify_raw(text) == got == pure(text)
    finally:
        sys.setrecursionlimit(limit)
    return got


def expected_by_the_official(text):
    """What compat must answer for ``text``, from the reference run as the official verifier is.

    Where that run raises, the documented divergence: the ensure-ASCII warning, if
    any, then one ``invalid JSON`` warning naming the failure. ``None`` for an
    unhashable element type.
    """
    outcome, value = official_in_a_function(text)
    if outcome == "ok":
        return [m.replace("frozenset({'obj', 'text'})", FIXED) for m in value]
    if isinstance(value, TypeError):
        return None
    assert isinstance(value, (ValueError, RecursionError)), value
    return REF.check_ensure_ascii_false(text) + [f"invalid JSON: {value}"]


def check_against_the_official(text):
    got = all_routes(text)
    expected = expected_by_the_official(text)
    if expected is None:
        assert any("'type' must be one of" in m for m in got)
    else:
        assert got == expected
    return got


# The rule's anchor: CPython 3.11's json.loads under the official verifier called from a function.
_SCRIPT = """
import sys
sys.path.insert(0, {core!r})
from official_ref import ReferenceVerifier

def main():
    for depth in (992, 993, 994, 1000):
        try:
            ReferenceVerifier().verify_raw("[" * depth + "]" * depth)
            print(depth, "read")
        except RecursionError as exc:
            print(depth, exc)

main()
"""


@pytest.mark.skipif(not PY311, reason="the rule is anchored on CPython 3.11; later versions read deeper")
def test_the_official_verifier_in_a_function_reads_993_levels_on_cpython_311():
    core = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run([sys.executable, "-c", _SCRIPT.format(core=core)], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        "992 read",
        "993 read",
        "994 maximum recursion depth exceeded while decoding a JSON array from a unicode string",
        "1000 maximum recursion depth exceeded while decoding a JSON array from a unicode string",
    ]
    assert MAX_DEPTH == 993
    # and the in-process stand-in for that script agrees
    assert official_in_a_function("[" * 993 + "]" * 993)[0] == "ok"
    assert official_in_a_function("[" * 994 + "]" * 994)[0] == "raised"


ISSUE_DEEP = '{"compositional_deconstruction":{"background":"b","elements":[]},"x":' + "[" * 995 + "]" * 995 + "}"
ISSUE_DIGITS = ('{"compositional_deconstruction":' + "1" * 4301
                + ',"compositional_deconstruction":{"background":"b","elements":[]}}')


def test_issue_reproducer_deep_nesting_inside_a_value():
    assert all_routes(ISSUE_DEEP) == [RECURSION.format("array")]


def test_issue_reproducer_a_shadowed_integer_beyond_the_digit_limit():
    (message,) = all_routes(ISSUE_DIGITS)
    with pytest.raises(ValueError) as official:
        REF.verify_raw(ISSUE_DIGITS)
    assert message == f"invalid JSON: {official.value}"
    assert message.startswith("invalid JSON: Exceeds the limit (4300 digits) for integer string conversion")


@pytest.mark.parametrize("depth", [994, 1000, 1024, 1025, 5000])
def test_issue_reproducer_depth_994_to_1024(depth):
    assert all_routes("[" * depth + "]" * depth) == [RECURSION.format("array")]
    assert all_routes("{" + GOOD_CD + ',"x":' + nested(depth - 1, "{") + "}") == [RECURSION.format("object")]


# (where the nested value sits: "@", how many levels enclose it, the answer at 993 levels in all)
HOLES = [
    ("{" + GOOD_CD + ',"x":@}', 1, ["root: unknown keys ['x'] (not in schema)"]),
    ('{"x":@,' + GOOD_CD + "}", 1, ["root: unknown keys ['x'] (not in schema)"]),
    ('{"compositional_deconstruction":@,' + GOOD_CD + "}", 1, []),  # a shadowed duplicate
    ('{"high_level_description":@,' + GOOD_CD + "}", 1, ["high_level_description: expected a string, got list"]),
    ('{"style_description":{"aesthetics":@,"lighting":"l","photo":"p","medium":"m"},' + GOOD_CD + "}", 2, []),
    ('{"compositional_deconstruction":{"background":"b","elements":[@]}}', 3, ["elements[0]: expected a dict"]),
    ('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","bbox":@,"desc":"d"}]}}', 4,
     ["elements[0].bbox: expected [ymin, xmin, ymax, xmax]"]),
    ("[@]", 1, ["root: expected a JSON object (dict), got list"]),
]


@pytest.mark.parametrize(("template", "enclosing", "at_993"), HOLES)
def test_993_levels_are_read_and_994_are_the_documented_warning_wherever_they_are(template, enclosing, at_993):
    inside = MAX_DEPTH - enclosing
    assert all_routes(template.replace("@", nested(inside))) == at_993
    for kinds in ("[", "{", "[[{", "{["):
        # the warning names the value that opens level 994
        kind = "array" if kinds[inside % len(kinds)] == "[" else "object"
        assert all_routes(template.replace("@", nested(inside + 1, kinds))) == [RECURSION.format(kind)]
        assert all_routes(template.replace("@", nested(inside + 300, kinds))) == [RECURSION.format(kind)]
    if PY311:
        for levels in (inside - 1, inside, inside + 1):
            check_against_the_official(template.replace("@", nested(levels, "[{")))


def test_a_palette_entry_993_levels_deep_is_worded_like_the_official():
    text = CD('{"type":"obj","desc":"d","color_palette":[%s]}' % nested(MAX_DEPTH - 5))
    (message,) = all_routes(text)
    assert message == "elements[0].color_palette[0]: '" + nested(MAX_DEPTH - 5) + "' is not a valid #RRGGBB hex color"
    if PY311:
        assert check_against_the_official(text) == [message]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # json.loads reads in text order: an earlier syntax error or long integer wins
        ("[1 " + "[" * 1000, ["invalid JSON: Expecting ',' delimiter: line 1 column 4 (char 3)"]),
        ('{"a" ' + "[" * 1000, ["invalid JSON: Expecting ':' delimiter: line 1 column 6 (char 5)"]),
        ('{"a":1,' + "[" * 1000, ["invalid JSON: Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"]),
        ("[]" + "[" * 1000, ["invalid JSON: Extra data: line 1 column 3 (char 2)"]),
        ('["\x01",' + "[" * 1000, ["invalid JSON: Invalid control character at: line 1 column 3 (char 2)"]),
        ('["' + "[" * 1000, ["invalid JSON: Unterminated string starting at: line 1 column 2 (char 1)"]),
        ("\ufeff" + "[" * 1000, ["invalid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"]),
        ('["\\u00e9",' + "[" * 1000, [R1, RECURSION.format("array")]),
        # brackets inside strings do not nest
        ('["' + "[" * 2000 + '"]', ["root: expected a JSON object (dict), got list"]),
        # the deep value comes first: a later syntax error is never reached
        ("[" * 994 + "]" * 993 + "x", [RECURSION.format("array")]),
        ("[" * 994 + "1" * 5000, [RECURSION.format("array")]),
    ],
)
def test_the_first_failure_in_text_order_is_reported(text, expected):
    assert all_routes(text) == expected


def test_official_loads_raises_what_json_loads_raises():
    assert official_loads('{"a":[1]}') == {"a": [1]}
    with pytest.raises(json.JSONDecodeError):
        official_loads("[1,]")
    with pytest.raises(ValueError, match="Exceeds the limit"):
        official_loads("[" + "1" * 4301 + "]")
    with pytest.raises(RecursionError, match="decoding a JSON object"):
        official_loads("[" * 993 + "{}" + "]" * 993)
    # the caller's stack never matters: 993 levels are read with only a few frames to spare
    value = at_stack_depth(20, official_loads, "[" * 992 + "7" + "]" * 992)
    for _ in range(992):
        (value,) = value
    assert value == 7


def test_integer_digit_limit_follows_the_process_setting():
    text = '{"x":' + "1" * 641 + "," + GOOD_CD + "}"
    before = sys.get_int_max_str_digits()
    try:
        sys.set_int_max_str_digits(640)
        (message,) = all_routes(text)
        assert message.startswith("invalid JSON: Exceeds the limit (640 digits)")
        sys.set_int_max_str_digits(0)  # unlimited: json.loads reads any integer
        assert all_routes(text.replace("1" * 641, "1" * 9000)) == ["root: unknown keys ['x'] (not in schema)"]
    finally:
        sys.set_int_max_str_digits(before)


def test_plainly_readable_finds_every_long_digit_run():
    limit = sys.get_int_max_str_digits()
    for length in (limit - 1, limit, limit + 1, 3 * limit):
        for offset in range(0, 2 * limit, 997):
            text = "a" * offset + "7" * length + "b" * 100
            assert compat.plainly_readable(text) is (length <= limit), (length, offset)


# -- live_types is a value, not shared state


_THREADS = """
import threading
from captionkit.compat import CaptionVerifier

t = '{"compositional_deconstruction":{"background":"b","elements":[{"type":"x","desc":"d"}]}}'
fixed, live = CaptionVerifier(), CaptionVerifier(live_types=True)
rendering = repr(frozenset({"obj", "text"}))
wrong = []

def run(verifier, expected):
    for _ in range(3000):
        (message,) = verifier.verify_raw(t)
        (again,) = verifier.verify({"compositional_deconstruction": {"background": "b", "elements": [{"type": 1}]}})
        if not message.endswith(expected) or not again.endswith(expected):
            wrong.append(message)

threads = [threading.Thread(target=run, args=(fixed, "frozenset({'text', 'obj'})")),
           threading.Thread(target=run, args=(live, rendering))]
for th in threads: th.start()
for th in threads: th.join()
print(rendering, len(wrong))
"""


def test_live_and_fixed_verifiers_run_in_parallel_threads():
    for seed in range(20):
        env = {**os.environ, "PYTHONHASHSEED": str(seed)}
        out = subprocess.run([sys.executable, "-c", "print(repr(frozenset({'obj', 'text'})))"], env=env,
                             capture_output=True, text=True, check=True)
        if out.stdout.strip() != FIXED:
            break  # a process whose live rendering differs from the fixed one
    else:
        pytest.fail("no hash seed gave the other rendering")
    out = subprocess.run([sys.executable, "-c", _THREADS], env=env, capture_output=True, text=True, check=True)
    rendering, wrong = out.stdout.split(") ")
    assert rendering + ")" == "frozenset({'obj', 'text'})" and wrong.strip() == "0"


def test_live_rendering_in_this_process_even_from_two_threads():
    live = CaptionVerifier(live_types=True)
    text = CD('{"type":"x","desc":"d"}')
    results = []
    threads = [threading.Thread(target=lambda v=v: results.append((v, [v.verify_raw(text) for _ in range(200)])))
               for v in (live, V)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for verifier, answers in results:
        rendering = repr(frozenset({"obj", "text"})) if verifier is live else FIXED
        assert answers == [[f"elements[0]: 'type' must be one of {rendering}"]] * 200


# -- substitutions render with str(), as the official f-strings do


class Loud(list):
    def __str__(self):
        return "LOUD" + super().__str__()


def test_a_list_subclass_bbox_prints_through_its_str():
    cap = {"compositional_deconstruction": {"background": "b", "elements": [
        {"type": "obj", "bbox": Loud([900, -1, 100, 1001]), "desc": "d"}]}}
    assert V.verify(cap) == REF.verify(cap) == [
        "elements[0].bbox: values must be in [0, 1000], got LOUD[900, -1, 100, 1001]",
        "elements[0].bbox: ymin (900) > ymax (100)",
    ]
    cap["compositional_deconstruction"]["elements"][0]["color_palette"] = [Loud(["#FFF"])]
    assert V.verify(cap)[-1] == REF.verify(cap)[-1] == "elements[0].color_palette[0]: 'LOUD['#FFF']' is not a valid #RRGGBB hex color"


# -- generated hostile texts: deep nesting, long integers, duplicate keys, in every place


@pytest.mark.skipif(not PY311, reason="the oracle runs json.loads as CPython 3.11 does")
@HOSTILE_SETTINGS
@given(hostile_texts(deep_payload))
def test_deep_nesting_anywhere_follows_the_official_rule(text):
    check_against_the_official(text)


@HOSTILE_SETTINGS
@given(hostile_texts(digits_payload))
def test_long_integers_anywhere_follow_the_official(text):
    got = all_routes(text)
    try:
        expected = ref(text)
    except TypeError:
        return
    except ValueError as exc:  # the official verifier crashes: the documented warning
        expected = REF.check_ensure_ascii_false(text) + [f"invalid JSON: {exc}"]
    assert got == expected


@HOSTILE_SETTINGS
@given(st.one_of(hostile_texts(any_payload), hostile_texts(type_payload)))
def test_duplicate_keys_and_every_json_kind_anywhere_match_the_official(text):
    got = all_routes(text)
    try:
        expected = ref(text)
    except TypeError:  # an unhashable element type: the documented warning instead of the crash
        assert any("'type' must be one of" in m for m in got)
        return
    assert got == expected


@HOSTILE_SETTINGS
@given(st.one_of(hostile_texts(deep_payload), hostile_texts(digits_payload), hostile_texts(any_payload))
       .flatmap(lambda t: st.tuples(st.just(t), st.integers(0, len(t)), st.integers(0, 3))))
def test_never_raises_on_damaged_hostile_text(case):
    text, cut, how = case
    text = (text[:cut], text[:cut] + text[cut + 1:], text[cut:] + text[:cut], text[:cut] + "\\" + text[cut:])[how]
    got = all_routes(text)
    assert isinstance(got, list) and all(isinstance(m, str) for m in got)
    if PY311:
        check_against_the_official(text)
