"""Every layout a caption is written in takes the fast routes, and they answer as the slow ones do.

The C locator reads minified, pretty-printed (any indent), ASCII-escaped and
reordered text. It proves a text clean (``True`` only for the canonical form,
``False`` for any other) or points at suspect values; it never decides a
finding itself. These properties run the same generated captions, valid and
faulty, in each layout through the fast route and through the reference
transcription of the official verifier (and, for ``verify()``, through the
full parse and walk), and require the same answer.
"""

from __future__ import annotations

import json
import re

import pytest
from differential import SETTINGS, ref
from hypothesis import given
from hypothesis import strategies as st

from captionkit import _accel, compat, verifier
from captionkit._fastcheck import located_findings
from captionkit._json import canonical_order, dumps, storable
from captionkit.strategies import caption_dicts, mutants

_needs_c = pytest.mark.skipif(_accel.speedups is None, reason="the C accelerator is not built or is switched off")


def _reversed_root(data):
    return dict(reversed(list(data.items()))) if isinstance(data, dict) else data


def _escape_slashes(text: str) -> str:
    return text.replace("/", "\\/")  # "/" only ever stands inside strings in JSON text


def _upper_escapes(text: str) -> str:
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(), text)


LAYOUTS = {
    "canonical": dumps,
    "compact as given": lambda d: json.dumps(d, ensure_ascii=False, separators=(",", ":")),
    "pretty indent 2": lambda d: json.dumps(d, ensure_ascii=False, indent=2),
    "pretty indent 4": lambda d: json.dumps(d, ensure_ascii=False, indent=4),
    "pretty tabs, CRLF": lambda d: json.dumps(d, ensure_ascii=False, indent="\t").replace("\n", "\r\n"),
    "default separators": lambda d: json.dumps(d, ensure_ascii=False),
    "ASCII-escaped": lambda d: json.dumps(d, separators=(",", ":")),
    "ASCII-escaped, pretty": lambda d: json.dumps(d, indent=2),
    "ASCII-escaped, upper-case hex": lambda d: _upper_escapes(json.dumps(d, separators=(",", ":"))),
    "root reversed": lambda d: json.dumps(_reversed_root(d), ensure_ascii=False, separators=(",", ":")),
    "slashes escaped": lambda d: _escape_slashes(json.dumps(d, ensure_ascii=False, separators=(",", ":"))),
    "final newline": lambda d: dumps(d) + "\n",
    "surrounded by white space": lambda d: " \n" + json.dumps(d, ensure_ascii=False) + "\n\n",
}

_captions = st.one_of(caption_dicts(max_elements=5), mutants(max_elements=4))
_layouts = st.sampled_from(sorted(LAYOUTS))


def _structural(warnings: list[str]) -> list[str]:
    return [w for w in warnings if not w.startswith("raw text:")]


@_needs_c
@SETTINGS
@given(_captions, _layouts)
def test_the_locator_proves_or_points_in_every_layout(data, layout):
    text = LAYOUTS[layout](data)
    try:
        expected = ref(text)
    except (TypeError, ValueError, RecursionError):
        return  # the official verifier crashes on this value (an unhashable type)
    found = _accel.speedups.locate(text)
    if found is True or found is False:
        assert _structural(expected) == []
        # True exactly for the canonical form: the text dumps() writes for what it holds
        assert found is (text == dumps(json.loads(text)) == storable(text))
    elif found is not None:
        assert _structural(expected) != []  # it points only where there is something
        assert located_findings(text, found) in (None, _structural(expected))
    assert compat.CaptionVerifier().verify_raw(text) == expected
    assert compat._pure_verify_raw(text) == expected


@_needs_c
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_a_clean_caption_in_each_layout_is_proven_clean_without_a_parse(layout):
    data = {
        "high_level_description": "Ein Café/Bar, \"Zum Löwen\", at night.",
        "style_description": {"aesthetics": "warm", "lighting": "a tungsten lamp", "photo": "35mm",
                              "medium": "photograph", "color_palette": ["#112233", "#AABBCC"]},
        "compositional_deconstruction": {"background": "A wall.\tTabbed.", "elements": [
            {"type": "text", "bbox": [0, 10, 20, 1000], "text": "夜市\nOPEN", "desc": "Red neon script."},
            {"type": "obj", "desc": "A lamp \\ a shade.", "color_palette": ["#000000"]}]},
    }
    text = LAYOUTS[layout](data)
    found = _accel.speedups.locate(text)
    assert found is (text == dumps(data))
    assert _structural(ref(text)) == []


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ('{"compositional_deconstruction":{"background":"a\\nb\\u001f","elements":[]}}', True),
        ('{"compositional_deconstruction":{"background":"a\\u000a","elements":[]}}', False),  # \n is written short
        ('{"compositional_deconstruction":{"background":"a\\u001F","elements":[]}}', False),  # lower-case hex
        ('{"compositional_deconstruction":{"background":"a\\u007f","elements":[]}}', False),  # DEL is literal
        ('{"compositional_deconstruction":{"background":"a\\/b","elements":[]}}', False),
        ('{"compositional_deconstruction":{"background":"\\ud800","elements":[]}}', False),
        ('{"compositional_deconstruction":{"background":"\ud800","elements":[]}}', False),  # canonical, not storable
        ('{"compositional_deconstruction":{"background":"b","elements":[]},"high_level_description":"h"}', False),
        ('{"style_description":{"aesthetics":"a","lighting":"l","photo":"p","medium":"m"},'
         '"high_level_description":"h","compositional_deconstruction":{"background":"b","elements":[]}}', False),
        ('{"compositional_deconstruction":{"background":"b","elements":[ ]}}', False),
    ],
)
def test_canonical_means_the_text_dumps_writes(text, canonical):
    assert (text == dumps(json.loads(text)) == storable(text)) is canonical  # the premise
    form = verifier.clean_form(text)
    if _accel.speedups is not None:
        assert _accel.speedups.locate(text) is canonical
        assert form is canonical  # True, or False: clean in another form
    else:
        assert form is (True if canonical else None)  # the pure-Python proof takes canonical text only


# -- the ensure-ASCII scan -------------------------------------------------------------------------

_ESCAPE_TEXT = st.text(alphabet=st.sampled_from(list("\\u0789abcdefABCDEFxX \"") + ["é", "夜", "🌧"]), max_size=60)


@_needs_c
@SETTINGS
@given(st.one_of(_ESCAPE_TEXT, st.text(max_size=40), _captions.map(lambda d: json.dumps(d))))
def test_the_escape_scan_finds_what_the_official_regex_finds(text):
    matches = compat.NON_ASCII_UNICODE_ESCAPE_RE.findall(text)
    count, smallest = _accel.speedups.unicode_escapes(text)
    assert (count, smallest) == (len(matches), sorted(set(matches))[:4])


@SETTINGS
@given(st.one_of(_ESCAPE_TEXT, _captions.map(lambda d: json.dumps(d))), st.integers(0, 6))
def test_the_ensure_ascii_warning_is_the_official_one(text, max_examples):
    assert compat.ensure_ascii_findings(text, max_examples) == ref_ensure_ascii(text, max_examples)


def ref_ensure_ascii(text: str, max_examples: int) -> list[str]:
    from official_ref import ReferenceVerifier

    return ReferenceVerifier.check_ensure_ascii_false(text, max_examples)


# -- verify(): the proof of a clean text in any layout, against the full parse and walk -------------

def _report(text: str, **kwargs) -> list[tuple]:
    return [(d.code, d.path, d.message, d.severity, d.official, d.fix) for d in verifier.verify(text, **kwargs)]


def _slow_report(text: str, **kwargs) -> list[tuple]:
    """The report by the full parse and walk alone (every proof switched off)."""
    proof = verifier._prove
    verifier._prove = lambda text: (None, None)
    try:
        return _report(text, **kwargs)
    finally:
        verifier._prove = proof


@SETTINGS
@given(_captions, _layouts, st.booleans(), st.sampled_from([None, "1920x1088", "square"]))
def test_verify_gives_the_same_report_by_either_route_in_every_layout(data, layout, lints, frame):
    text = LAYOUTS[layout](data)
    assert _report(text, lints=lints, frame=frame) == _slow_report(text, lints=lints, frame=frame)


# -- repeated keys: the locator says where none can be, and verify() then skips the tracking parse --

_REPEATS = [
    ('{', '{"z":{"a":1,"a":2},'),  # inside an unknown root value
    ('{', '{"z":1,"z":[{"b":[],"c":{"d":0,"d":1}}],'),  # an unknown key twice, and a repeat deeper down
    ('{', '{"z":1,"\\u007a":2,'),  # the same unknown key, spelled with an escape
    ('{"type":', '{"q":1,"q":2,"type":'),  # inside an element (now suspect)
    ('{"type":', '{"q":1,"\\u0071":2,"type":'),
    ('{"type":', '{"q":{"r":1,"s":2},"type":'),  # no repeat: distinct keys only
    ('{', '{"z":{"a":1,"b":2},'),
]


@SETTINGS
@given(_captions, st.sampled_from(_REPEATS), st.sampled_from(["compact as given", "pretty indent 2"]))
def test_no_repeated_key_where_the_locator_says_none_can_be(data, insertion, layout):
    from captionkit._json import parse_tracked

    text = LAYOUTS[layout](data)
    if layout != "compact as given":
        text = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    old, new = insertion
    text = text.replace(old, new, 1)
    try:
        repeats = parse_tracked(text).duplicates
    except ValueError:
        return
    if _accel.speedups is not None:
        found = _accel.speedups.locate(text)
        if isinstance(found, tuple) and found[4] is False:
            assert repeats == ()
    assert _report(text) == _slow_report(text)


@SETTINGS
@given(_captions, _layouts, st.sampled_from(["", "\n", "\n\n"]))
def test_fmt_takes_the_proof_and_writes_what_the_full_route_writes(data, layout, ending):
    from captionkit import _json

    text = LAYOUTS[layout](data) + ending

    def answer():
        try:
            return _json.canonical_text(text)
        except ValueError as exc:
            return type(exc), str(exc)

    fast = answer()
    proof, _json._locate = _json._locate, None
    try:
        assert fast == answer()
    finally:
        _json._locate = proof


# -- the Python routes: a text json.dumps laid out is proven by re-laying out the decoded caption ---

from captionkit import _fastcheck  # noqa: E402

# prose that meets each way of writing a character: escapes json.dumps and msgspec write alike, and
# those they do not (DEL), text that looks like a backslash escape, a root key's name as a value
_TRICKY_PROSE = st.sampled_from([
    "Café ¥900", "夜市 🌧", "\\xe9 and \\U0001f600", "\\\\u00e9", "a\x7fb", "tab\there\nnewline", "\u2028",
    "compositional_deconstruction", "style_description", "\x1f\x00", "\"quoted\" / slash", "é" * 5,
])


@st.composite
def _tricky_captions(draw):
    data = draw(st.one_of(caption_dicts(max_elements=4), mutants(max_elements=3)))
    if isinstance(data, dict) and isinstance(data.get("compositional_deconstruction"), dict):
        for element in data["compositional_deconstruction"].get("elements") or ():
            if isinstance(element, dict) and draw(st.booleans()):
                element["desc"] = draw(_TRICKY_PROSE)
        if draw(st.booleans()):
            data["high_level_description"] = draw(_TRICKY_PROSE)
    return data


@SETTINGS
@given(st.one_of(_captions, _tricky_captions()), _layouts, st.sampled_from(["", "\n"]))
def test_the_python_routes_answer_as_the_reference_in_every_layout(data, layout, ending):
    # the build without C: typed decoding, the layout proof, the re-parse and the split at the root
    text = LAYOUTS[layout](data) + ending
    try:
        expected = ref(text)
    except (TypeError, ValueError, RecursionError):
        return  # the official verifier crashes on this value (an unhashable type)
    assert compat._pure_verify_raw(text) == expected
    assert _fastcheck.fast_findings(text) in (None, _structural(expected))


def _holds_a_lone_surrogate(value) -> bool:
    if isinstance(value, str):
        return any("\ud800" <= ch <= "\udfff" for ch in value)
    if isinstance(value, dict):
        return any(map(_holds_a_lone_surrogate, value)) or any(map(_holds_a_lone_surrogate, value.values()))
    return isinstance(value, list) and any(map(_holds_a_lone_surrogate, value))


_DUMPS_LAYOUTS = st.sampled_from([
    {"separators": (",", ":")}, {}, {"indent": 2}, {"indent": 4}, {"indent": 1}, {"indent": 3, "separators": (",", ": ")},
])


@SETTINGS
@given(st.one_of(caption_dicts(max_elements=4), _tricky_captions()), _DUMPS_LAYOUTS, st.booleans(),
       st.permutations(range(3)), st.booleans())
def test_a_caption_json_dumps_laid_out_is_proven_by_its_layout(data, layout, ascii, root_order, newline):
    # json.dumps with any indent or its default separators, root keys in any order: the typed
    # decode re-laid out is the text itself, so no second parse is needed
    keys = list(data)
    data = {keys[i]: data[keys[i]] for i in root_order if i < len(keys)} | data
    text = json.dumps(data, ensure_ascii=ascii, **layout) + "\n" * newline
    try:
        caption, proven = _fastcheck._decode_whole(_fastcheck._utf8(text), layouts=True)
    except _fastcheck._Undecided:  # a lone surrogate: no UTF-8 text holds one, the full check decides
        assert _holds_a_lone_surrogate(data)
        return
    if caption is None:  # a mutant with a key the caption does not have, or a value of another type
        return
    canonical = canonical_order(data)
    if json.dumps({key: canonical[key] for key in data}) == json.dumps(data):  # below the root, keys in order
        # (no UTF-8 text holds a lone surrogate, and ensure_ascii's escapes are left to the re-parse)
        literal = json.dumps(data, ensure_ascii=False)
        escaped = ascii and (not literal.isascii() or "\x7f" in literal)
        assert proven is not escaped or _holds_a_lone_surrogate(data)
    else:
        assert not proven
    if proven:
        assert _fastcheck.fast_findings(text) == _structural(ref(text))
    # the exact, canonical proof stays the canonical form's alone
    assert _fastcheck._decode_whole(_fastcheck._utf8(text))[1] is (text == dumps(data))
