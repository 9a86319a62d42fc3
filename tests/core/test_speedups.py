"""The optional C locator: what it proves clean, where it points, and when it declines."""

import json

import pytest
from differential import SETTINGS as _SETTINGS
from differential import FIXED, no_unhashable_type, ref
from hostile import HOSTILE_SETTINGS, any_payload, deep_payload, digits_payload, hostile_texts, official_in_a_function
from hypothesis import given
from hypothesis import strategies as st

from captionkit import _accel, compat
from captionkit._json import dumps, storable
from captionkit._fastcheck import located_findings
from captionkit.strategies import caption_texts, mutants


# (that the extension is built where a compiler is: tests/core/test_spec.py)
if _accel.speedups is None:
    pytest.skip("the C accelerator is not built, or is switched off (CAPTIONKIT_NO_EXTENSIONS)",
                allow_module_level=True)
speedups = _accel.speedups
locate = speedups.locate


@_SETTINGS
@given(caption_texts(max_elements=6))
def test_canonical_valid_captions_are_proven_clean(text):
    assert locate(text) is True


@_SETTINGS
@given(mutants(max_elements=5).filter(no_unhashable_type), st.sampled_from(["compact", "ascii", "root_reversed"]))
def test_what_it_proves_and_points_at_agrees_with_the_reference(data, layout):
    if layout == "root_reversed" and isinstance(data, dict):
        data = dict(reversed(list(data.items())))
    text = json.dumps(data, ensure_ascii=(layout == "ascii"), separators=(",", ":"))
    found = locate(text)
    expected = [m for m in ref(text) if not m.startswith("raw text:")]
    if found is True or found is False:
        assert expected == []
        assert found is (text == dumps(json.loads(text)) == storable(text))  # True only for the canonical form
    elif found is not None:
        got = located_findings(text, found)
        assert got is None or got == expected
        assert expected != []  # it only points at something when there is something


def test_spans_point_at_the_suspect_values():
    text = (
        '{"aspect_ratio":"3:2","high_level_description":7,'
        '"style_description":{"aesthetics":"a","lighting":"l","photo":"p","medium":"m","color_palette":["#abcdef"]},'
        '"compositional_deconstruction":{"background":"b","elements":['
        '{"type":"obj","desc":"fine"},{"type":"obj","bbox":[9,0,1,5],"desc":"d"},{"desc":"d","type":"text","text":"t"}]}}'
    )
    unknown, hld, style, elements, repeats = locate(text)
    assert repeats is False
    assert [text[a:b] for a, b in unknown] == ['"aspect_ratio"']
    assert text[hld[0]:hld[1]] == "7"
    assert text[style[0]:style[1]].startswith('{"aesthetics"') and text[style[0]:style[1]].endswith('"]}')
    assert [(i, text[a:b]) for i, a, b in elements] == [
        (1, '{"type":"obj","bbox":[9,0,1,5],"desc":"d"}'),
        (2, '{"desc":"d","type":"text","text":"t"}'),
    ]
    assert compat.CaptionVerifier().verify_raw(text) == ref(text) == [
        "root: unknown keys ['aspect_ratio'] (not in schema)",
        "high_level_description: expected a string, got int",
        "style_description.color_palette[0]: '#abcdef' is not a valid #RRGGBB hex color",
        "elements[1].bbox: ymin (9) > ymax (1)",
        "elements[2]: key order is ('desc', 'type', 'text'), expected ('type', 'text', 'desc')",
    ]


GOOD = '"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"d"}]}'


@pytest.mark.parametrize(
    "text",
    [
        "{" + GOOD + "}x",
        "{}",
        '{"high_level_description":"h"}',
        '{"x":NaN,' + GOOD + "}",
        '{"x":' + "[" * 300 + "]" * 300 + "," + GOOD + "}",
        '{"x":' + "1" * 641 + "," + GOOD + "}",  # beyond the lowest digit limit CPython allows
        '{"x":' + "[" * 201 + "]" * 201 + "," + GOOD + "}",
        '{"high_level_description":"a","high_level_description":"b",' + GOOD + "}",
        '{"compositional_deconstruction":{"elements":[],"background":"b"}}',
        '{"compositional_deconstruction":{"background":"b\x01","elements":[]}}',
        '{"compositional_deconstruction":{"background":"b\\x","elements":[]}}',
    ],
)
def test_declines_what_only_the_full_check_may_decide(text):
    assert locate(text) is None
    try:
        expected = ref(text)
    except (ValueError, RecursionError):
        return  # the official verifier crashes; compat's documented answer is tested elsewhere
    assert compat.CaptionVerifier().verify_raw(text) == expected


@pytest.mark.parametrize(
    "value",
    ["1.5e3", "-0", "true", "null", '"\\ud800"', '{"a":[1,{"b":null}],"a":2}', "[ 1 , 2 ]", '"\\u00e9\\n"', "1" * 640, "[" * 199 + "]" * 199],
)
def test_unknown_values_of_every_json_kind_are_skipped_exactly(value):
    text = '{"z":' + value + "," + GOOD + "}"
    found = locate(text)
    assert found is not None and found is not True
    got = compat.CaptionVerifier().verify_raw(text)
    assert got == ref(text)
    assert got[-1:] == ["root: unknown keys ['z'] (not in schema)"]  # after the escape warning, if any


@pytest.mark.parametrize("width", ["latin-1 é", "bmp ラーメン", "astral 🍜"])
def test_every_string_width(width):
    # CPython stores a str in 1, 2 or 4 bytes per character; each has its own scanner
    text = '{"compositional_deconstruction":{"background":"%s","elements":[{"type":"text","text":"%s","desc":"d"}]}}' % (
        width, width)
    assert locate(text) is True
    faulty = text.replace('"desc":"d"}', '"desc":"d","color_palette":["#fff"]}')
    (index, start, end), = locate(faulty)[3]
    assert locate(faulty)[4] is False
    assert (index, faulty[start:end]) == (0, '{"type":"text","text":"%s","desc":"d","color_palette":["#fff"]}' % width)
    bad = text.replace('"type":"text","text"', '"type":"text","txt"')
    assert compat.CaptionVerifier().verify_raw(bad) == ref(bad) != []


def test_a_known_key_spelled_with_an_escape_goes_to_the_full_check():
    text = '{"\\u0068igh_level_description":5,' + GOOD + "}"
    found = locate(text)  # to the C scanner it is an unknown key name
    assert located_findings(text, found) is None
    assert compat.CaptionVerifier().verify_raw(text) == ref(text) == ["high_level_description: expected a string, got int"]


_EDIT_CHARS = st.sampled_from(list('{}[]":,\\ u0123456789aAfF#-.eE\ntrn') + ["\x01", "\ud800", "é", "ラ", "🍜"])


@_SETTINGS
@given(caption_texts(max_elements=3), st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from("idr"), _EDIT_CHARS),
                                            min_size=1, max_size=3))
def test_character_edits_of_canonical_text(text, edits):
    # byte-level damage: truncated escapes, stray whitespace, broken numbers and literals
    for where, how, char in edits:
        i = where % (len(text) + 1)
        if how == "i":
            text = text[:i] + char + text[i:]
        elif how == "d":
            text = text[:i] + text[i + 1:]
        else:
            text = text[:i] + char + text[i + 1:]
    try:
        expected = ref(text)
    except (TypeError, ValueError, RecursionError):
        return  # the official verifier crashes on this text
    found = locate(text)
    if found is True or found is False:
        assert [m for m in expected if not m.startswith("raw text:")] == []
    assert compat.CaptionVerifier().verify_raw(text) == expected


@HOSTILE_SETTINGS
@given(st.one_of(hostile_texts(deep_payload), hostile_texts(digits_payload), hostile_texts(any_payload)))
def test_it_answers_only_for_texts_json_loads_reads(text):
    # deep nesting, long integers and duplicate keys anywhere: where the locator answers, the
    # official verifier reads the text (no crash), and the located findings are its own
    found = locate(text)
    if found is None:
        return
    outcome, official = official_in_a_function(text)
    if outcome == "raised" and isinstance(official, TypeError):
        return  # an unhashable element type: the official crash compat documents
    assert outcome == "ok", official
    expected = [m.replace("frozenset({'obj', 'text'})", FIXED) for m in official if not m.startswith("raw text:")]
    if found is True or found is False:
        assert expected == []
    else:
        assert located_findings(text, found) in (None, expected)
