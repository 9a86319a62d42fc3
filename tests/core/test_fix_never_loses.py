"""`fix` never loses or changes content (issue 9, section 1).

Every reproducer of the issue runs through the library and through the real CLI;
the properties run every safe fix over generated damage (trailing commas, single
quotes, Python literals, wrappers, repeated keys, broken structure, hostile prose)
and check that content survives, that an ok result passes the compat verifier,
that fixing twice gives the same bytes, and that a file on disk is either
untouched or holds the ok result.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from captionkit import fix, verify
from captionkit._io import STALE_AFTER, remove_stale_temp_files, write_atomic
from captionkit._json import canonical_order, dumps, parse_lenient
from captionkit.cli import app
from captionkit.compat import CaptionVerifier
from captionkit.boxes import BoxConventionError
from captionkit.fixes import FixResult, extract_json
from captionkit.rules import rule
from captionkit.strategies import caption_dicts, json_values, mutants

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

# How many examples each property tries; CK_FIX_EXAMPLES raises it for a long one-off run.
_N = int(os.environ.get("CK_FIX_EXAMPLES", "0")) or None
# The examples are whole captions with several serialisations each: slow to generate and large
# by design, which is what the two health checks object to.
_SLOW = [HealthCheck.too_slow, HealthCheck.data_too_large]


def _settings(examples: int) -> settings:
    return settings(max_examples=_N or examples, deadline=None, suppress_health_check=_SLOW)


# Counts of generated examples per class, for the closing note of a long run.
REACHED: Counter[str] = Counter()


def run(*args: str, input: str | None = None):
    return runner.invoke(app, list(args), input=input)


# ----------------------------------------------------------------------------- an independent oracle

_HEX3 = re.compile(r"#[0-9a-fA-F]{3}")
_HEX6 = re.compile(r"#[0-9a-fA-F]{6}")


def _colour(value: Any) -> Any:
    if isinstance(value, str):
        v = value.strip()
        if _HEX6.fullmatch(v):
            return v.upper()
        if _HEX3.fullmatch(v):
            return "#" + "".join(c * 2 for c in v[1:]).upper()
    return json.dumps(value, sort_keys=True)


def content(value: Any) -> tuple[Counter, Counter]:
    """The multiset of every string (keys, text, desc, prose) and the set of colours per palette.

    Removing a repeated colour is the one documented removal of a safe fix, so a palette
    counts as a set; everything else counts with multiplicity.
    """
    strings: Counter = Counter()
    palettes: Counter = Counter()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                strings[("key", k)] += 1
                if k == "color_palette" and isinstance(v, list):
                    palettes[frozenset(_colour(c) for c in v)] += 1
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str):
            strings[("str", node)] += 1

    walk(value)
    return strings, palettes


# ----------------------------------------------------------------------------- damage

# Prose that breaks naive repairs: commas and brackets that look like trailing commas, quotes,
# backslashes, Python words, comment markers, fences and escapes written out literally.
_HOSTILE = [", ]", ", }", "{a, }", "[1, 2, ]", "'", '"', "\\", "True", "None,", "// c", "# x", "\\/",
            "}{", "```", "\u2028", "é", "\\u00e9", "\\x41", ":", "':", "a, b,", ",,", "null", "NaN"]


hostile_prose = st.lists(st.sampled_from(_HOSTILE) | st.text(min_size=1, max_size=6), min_size=1,
                         max_size=5).map(" ".join).filter(str.strip)


_BOOLS = st.booleans()
_MUTANTS = mutants(max_elements=3)
_CAPTIONS = caption_dicts(max_elements=3)
_WS = st.sampled_from(["", "", " ", "\n  ", "\t"])
_PROSE_KEYS = {"high_level_description", "aesthetics", "lighting", "photo", "art_style", "background", "text",
               "desc"}


@st.composite
def hostile_captions(draw: st.DrawFn) -> dict[str, Any]:
    """Caption data (valid or with realistic mistakes) whose prose is sometimes hostile."""
    data = draw(_MUTANTS if draw(_BOOLS) else _CAPTIONS)

    def spice(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (draw(hostile_prose) if k in _PROSE_KEYS and isinstance(v, str) and draw(_BOOLS)
                        else spice(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [spice(v) for v in node]
        return node

    return spice(data)


class Pairs(list):
    """An object written with repeated keys: a list of (key, value) pairs."""


def _single(s: str) -> str:
    out = []
    for ch in s:
        if ch == "\\":
            out.append("\\\\")
        elif ch == "'":
            out.append("\\'")
        elif ch in "\n\t\r\b\f":
            out.append({"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return "'" + "".join(out) + "'"


def write(draw: st.DrawFn, value: Any, *, trailing: bool, quotes: str, python: bool) -> str:
    """Serialise ``value`` the way loose writers do: optional trailing commas, single quotes,
    Python constants, random whitespace. Strings are always written exactly."""
    ws = lambda: draw(_WS)  # noqa: E731
    if isinstance(value, (dict, Pairs)):
        items = value.items() if isinstance(value, dict) else value
        parts = [f"{ws()}{write(draw, k, trailing=trailing, quotes=quotes, python=python)}{ws()}:{ws()}"
                 f"{write(draw, v, trailing=trailing, quotes=quotes, python=python)}" for k, v in items]
        tail = "," if parts and trailing and draw(_BOOLS) else ""
        return "{" + ",".join(parts) + tail + ws() + "}"
    if isinstance(value, list):
        parts = [ws() + write(draw, v, trailing=trailing, quotes=quotes, python=python) for v in value]
        tail = "," if parts and trailing and draw(_BOOLS) else ""
        return "[" + ",".join(parts) + tail + ws() + "]"
    if isinstance(value, str):
        single = quotes == "single" or (quotes == "mixed" and draw(_BOOLS))
        return _single(value) if single else json.dumps(value, ensure_ascii=draw(_BOOLS))
    if (value is None or isinstance(value, bool)) and python and draw(_BOOLS):
        return repr(value)
    return json.dumps(value)


def _objects(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        found.append(value)
        for v in value.values():
            found.extend(_objects(v))
    elif isinstance(value, list):
        for v in value:
            found.extend(_objects(v))
    return found


def _with_repeat(value: Any, target: dict[str, Any], key: str, earlier: Any) -> Any:
    if value is target:
        pairs = Pairs()
        for k, v in value.items():
            if k == key:
                pairs.append((k, earlier))
            pairs.append((k, _with_repeat(v, target, key, earlier)))
        return pairs
    if isinstance(value, dict):
        return {k: _with_repeat(v, target, key, earlier) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_repeat(v, target, key, earlier) for v in value]
    return value


_WRAPS = ["plain", "whitespace", "bom", "fence", "prose", "trigger", "encoded"]


def wrap(kind: str, text: str) -> str:
    return {
        "plain": text,
        "whitespace": "\n  " + text + "\n\n",
        "bom": "\ufeff" + text,
        "fence": "Here is your caption:\n```json\n" + text + "\n```\nEnjoy!",
        "prose": "Sure! " + text + " Hope it helps.",
        "trigger": "mystyle, " + text,
        "encoded": json.dumps(text),
    }[kind]


DAMAGE = ("json", "trailing_commas", "single_quotes", "python_literal", "wrapped")


@st.composite
def damaged(draw: st.DrawFn, kinds: tuple[str, ...] = DAMAGE) -> tuple[str, str, Any]:
    """(damage class, text, the data the text stands for)."""
    data = draw(hostile_captions())
    kind = draw(st.sampled_from(kinds))
    if kind == "json":
        text = json.dumps(data, ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 2])))
    elif kind == "python_literal":
        text = repr(data)
    else:
        text = write(draw, data, trailing=kind != "single_quotes" or draw(st.booleans()),
                     quotes="double" if kind == "trailing_commas" else "mixed" if kind == "wrapped" else "single",
                     python=kind != "trailing_commas")
    if kind == "wrapped":
        text = wrap(draw(st.sampled_from(_WRAPS)), text)
    return kind, text, data


def check_safe_fix(text: str, data: Any) -> FixResult:
    """The promises of a safe fix, for any input standing for ``data``."""
    r = fix(text)
    if r.text is None:
        assert r.problem and "\n" not in r.problem and r.changes == []
        return r
    assert r.problem is None
    assert content(json.loads(r.text)) == content(data), "a safe fix changed or lost content"
    assert all(c.safe for c in r.changes)
    if r.ok:
        assert CaptionVerifier().verify_raw(r.text) == []
    again = fix(r.text)
    assert again.text == r.text and again.changes == [], "fixing twice must give the same bytes"
    return r


# ----------------------------------------------------------------------------- properties


@pytest.mark.parametrize("damage", DAMAGE)
def test_safe_fixes_keep_every_piece_of_content(damage):
    _safe_fixes_keep_content(damage)


@_settings(40)
@given(st.data())
def _safe_fixes_keep_content(damage, draw):
    kind, text, data = draw.draw(damaged((damage,)))
    REACHED[f"damage: {kind}"] += 1
    r = check_safe_fix(text, data)
    # loose writing that reads one way only (Python's repr included) is repaired, never refused
    assert r.text is not None, r.problem
    if kind in ("trailing_commas", "single_quotes", "python_literal") and r.text is not None and text != r.text:
        assert r.changes


@_settings(80)
@given(hostile_captions(), st.data())
def test_repeated_keys_are_reported_and_left_alone(data, draw):
    objects = _objects(data)
    target = draw.draw(st.sampled_from(objects))
    assume(target)
    key = draw.draw(st.sampled_from(sorted(target)))
    earlier = draw.draw(st.sampled_from(["an earlier value", 7, None, [1, 2]]))
    text = write(draw.draw, _with_repeat(data, target, key, earlier), trailing=draw.draw(st.booleans()),
                 quotes="double", python=False)
    REACHED["repeated keys"] += 1
    safe = fix(text)
    assert safe.text is None and safe.problem.startswith("CK407") and "\n" not in safe.problem
    try:
        json.loads(text)
    except ValueError:
        pass  # trailing commas: the verifier sees invalid JSON first
    else:
        assert "CK407" in safe.report.codes()
    risky = fix(text, unsafe=True)
    assert risky.text is not None
    assert any(c.code == "CK407" and not c.safe for c in risky.changes)
    assert earlier in [v for vs in risky.metadata["dropped_duplicates"].values() for v in vs]


def _break(draw: st.DrawFn, text: str) -> str:
    """Insert, delete or replace structural characters anywhere (inside strings too)."""
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        ch = draw(st.sampled_from(list(",:{}[]\"' ")))
        if op == "insert":
            text = text[:i] + ch + text[i:]
        elif i < len(text):
            text = text[:i] + (ch if op == "replace" else "") + text[i + 1 :]
    return text


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[^"]+|"')


def string_leaves(value: Any) -> Counter:
    """Every string value (not key) in ``value``, colours hex-normalised too."""
    found: Counter = Counter()
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            found[node] += 1
            if _colour(node).startswith("#"):
                found[_colour(node)] += 1
    return found


def string_values(text: str) -> Counter:
    """The string tokens of ``text`` that are not keys, scanned left to right."""
    found: Counter = Counter()
    tokens = [m.group() for m in _TOKENS.finditer(text)]
    for i, tok in enumerate(tokens):
        if tok[0] != '"' and "'" in tok:
            raise ValueError("a single quote outside strings: the quoting is the lenient reader's to decide")
        if len(tok) > 1 and tok[0] == '"' and not (i + 1 < len(tokens) and tokens[i + 1].lstrip().startswith(":")):
            found[json.loads(tok)] += 1  # raises where the scan went out of step
    return found


@_settings(150)
@given(hostile_captions(), st.data())
def test_broken_structure_is_repaired_whole_or_refused(data, draw):
    original = json.dumps(data, ensure_ascii=False)
    text = _break(draw.draw, original)
    REACHED["broken structure"] += 1
    r = fix(text)
    if r.text is None:
        assert r.problem and "\n" not in r.problem
        return
    # never a piece: every string value written in the text is still there (read by a plain
    # scan for string tokens, which is right whenever the quotes pair up from the start)
    start, end = text.find("{"), text.rfind("}")
    try:
        written = string_values(text[start : end + 1]) if '"' not in text[:start] + text[end + 1 :] else None
    except ValueError:
        written = None  # quotes that do not pair up from the start: the scan cannot tell
    if written is not None:
        REACHED["broken structure, repaired, token scan"] += 1
        result = string_leaves(json.loads(r.text))
        for v, n in written.items():
            # a repeated colour may go (the documented removal); every other string stays, each time
            kept = result[_colour(v)] > 0 if isinstance(_colour(v), str) and _colour(v).startswith("#") else result[v] >= n
            assert kept, f"the fix kept only a piece of {text!r}: {v!r} is missing"
    try:
        meant = json.loads(text)
    except ValueError:
        meant = extract_json(text)[0]
    assert content(json.loads(r.text)) == content(meant)
    if r.ok:
        assert CaptionVerifier().verify_raw(r.text) == []
    assert fix(r.text).text == r.text


_PY_SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
               | st.binary(max_size=3) | st.complex_numbers() | st.frozensets(st.integers(), max_size=2))
_PY_KEYS = st.sampled_from(["compositional_deconstruction", "background", "elements", "bbox", "desc", "type",
                            "color_palette"]) | st.text(max_size=4)
python_values = st.recursive(
    _PY_SCALARS,
    lambda children: (st.lists(children, max_size=4) | st.tuples(children, children)
                      | st.dictionaries(_PY_KEYS, children, max_size=4) | st.sets(st.integers(), max_size=3)),
    max_leaves=20,
)


def _answer(source, **kwargs) -> None:
    """fix() gives a result, or, for boxes that cannot be in the declared convention, the one-line
    BoxConventionError that names the box and the reason (the CLI turns it into exit 2)."""
    try:
        result = fix(source, **kwargs)
    except BoxConventionError as exc:
        assert kwargs.get("box_format") and str(exc) and "\n" not in str(exc)
        return
    _check_answer(result)


def _check_answer(r: FixResult) -> None:
    assert isinstance(r, FixResult)
    if r.text is None:
        assert isinstance(r.problem, str) and r.problem and "\n" not in r.problem
    else:
        r.text.encode("utf-8")  # always storable


@_settings(150)
@given(json_values(max_leaves=40), st.booleans(), st.sampled_from([None, "xyxy", "xywh", "unit", "pixels"]))
def test_fix_answers_every_json_value(value, unsafe, box_format):
    REACHED["never raises: JSON values"] += 1
    for source in (value, json.dumps(value), json.dumps(value, indent=1) + ",", repr(value)):
        if isinstance(source, (str, dict)):
            _answer(source, unsafe=unsafe, box_format=box_format, frame=(300, 200))


@_settings(200)
@given(python_values, st.booleans())
def test_fix_answers_python_literals_with_sets_bytes_and_complex(value, unsafe):
    REACHED["never raises: Python literals"] += 1
    _check_answer(fix(repr(value), unsafe=unsafe))
    _check_answer(fix({"compositional_deconstruction": {"background": "b", "elements": [value]}}, unsafe=unsafe))


@_settings(300)
@given(st.text(alphabet=st.sampled_from(list("{}[],:\"'\\ \n aeflnrstuTFN0123456789.-+#/`")), max_size=80),
       st.booleans())
def test_fix_answers_any_text(text, unsafe):
    REACHED["never raises: text"] += 1
    _check_answer(fix(text, unsafe=unsafe))


@_settings(200)
@given(st.lists(st.one_of(st.integers(min_value=-(10**400), max_value=10**400), st.floats(),
                          st.integers(0, 1000).map(float), st.booleans()), min_size=4, max_size=4),
       st.booleans(), st.sampled_from([None, "xyxy", "xywh", "unit", "pixels"]))
def test_fix_answers_every_bbox(bbox, unsafe, box_format):
    REACHED["never raises: bbox numbers"] += 1
    caption = {"compositional_deconstruction": {"background": "b", "elements": [
        {"type": "obj", "bbox": bbox, "desc": "d"}]}}
    for source in (caption, json.dumps(caption)):
        _answer(source, unsafe=unsafe, box_format=box_format, frame=(1536, 1024))


@_settings(150)
@given(json_values(max_leaves=30), st.data())
def test_lenient_parsing_reads_loose_writing_exactly(value, draw):
    REACHED["lenient parse round trip"] += 1
    text = write(draw.draw, value, trailing=True, quotes="mixed", python=True)
    assert dumps(parse_lenient(text).value) == dumps(value)


@_settings(200)
@given(json_values(max_leaves=30).filter(lambda v: "nan" not in repr(v) and "inf" not in repr(v)))
def test_lenient_parsing_reads_python_repr_exactly(value):
    # repr writes \xa0, \x07, \U000e0041 and both quote styles: each means one character
    REACHED["lenient parse of Python repr"] += 1
    assert dumps(parse_lenient(repr(value)).value) == dumps(value)


@pytest.mark.parametrize("escape", ["\\/", "\\a", "\\101", "\\N{BULLET}", "\\\n"])
def test_escapes_that_languages_read_differently_are_refused(escape):
    source = "{'compositional_deconstruction': {'background': 'x" + escape + "y', 'elements': []}}"
    r = fix(source)
    assert r.text is None and "read differently" in r.problem


@_settings(200)
@given(json_values(max_leaves=30))
def test_the_canonical_serializer_is_the_stdlib_form(value):
    # orjson writes NaN as null and floats in its own notation; dumps must not
    REACHED["dumps equals json.dumps"] += 1
    assert dumps(value) == json.dumps(canonical_order(value), separators=(",", ":"), ensure_ascii=False)


@_settings(30)
@given(damaged(), st.sampled_from(["", "--unsafe-fixes"]))
def test_a_file_is_untouched_or_holds_the_ok_result(case, flag):
    kind, text, _ = case
    REACHED["CLI file on disk"] += 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "caption.json"
        path.write_bytes(text.encode("utf-8"))
        r = run("fix", str(path), *([flag] if flag else []))
        assert r.exit_code in (0, 1) and "Traceback" not in r.output
        after = path.read_bytes()
        read_back = text.replace("\r\n", "\n").replace("\r", "\n")
        expected = fix(read_back, unsafe=bool(flag))
        if after != text.encode("utf-8"):
            assert expected.ok and after == (expected.text + "\n").encode("utf-8")
        else:
            assert r.exit_code == 0 or not expected.ok
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["caption.json"]


# ----------------------------------------------------------------------------- the reproducers

TRAILING = ('{"high_level_description":"A poster.","compositional_deconstruction":{"background":"A wall.",'
            '"elements":[{"type":"obj","desc":"A lamp."},]}}')
PRICES = '{"compositional_deconstruction":{"background":"Prices: 1, 2, ]","elements":[],}}'
MENU = "{'compositional_deconstruction': {'background': 'menu {a, }', 'elements': []}}"
REPEATED = '{"compositional_deconstruction":{"background":"A wall.","background":"A door.","elements":[]}}'
HUGE_BOX = ('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","bbox":[1.0,2,3,'
            + "9" * 400 + '],"desc":"d"}]}}')
PY_SET = "{'compositional_deconstruction': {'background': 'b', 'elements': [{1, 2}]}}"
PY_BYTES = "{'compositional_deconstruction': {'background': b'wall', 'elements': []}}"
PY_COMPLEX = "{'compositional_deconstruction': {'background': 'b', 'elements': [], 'x': 1j}}"


def test_trailing_comma_gives_the_whole_caption_never_a_fragment(tmp_path):
    r = fix(TRAILING)
    assert r.ok and r.text == TRAILING.replace("},]", "}]")
    assert [(c.code, c.safe) for c in r.changes] == [("CK002", True)]
    p = tmp_path / "poster.json"
    p.write_text(TRAILING)
    out = run("fix", str(p))
    assert out.exit_code == 0
    assert p.read_text() == TRAILING.replace("},]", "}]") + "\n"


def test_a_caption_that_does_not_parse_even_leniently_is_refused_not_cut(tmp_path):
    broken = TRAILING.replace("},]", "},,]")  # a double comma: no reading keeps every piece
    r = fix(broken)
    assert r.text is None and r.data is None and r.changes == []
    assert r.problem.startswith("no complete JSON object")
    for unsafe in (False, True):
        assert fix(broken, unsafe=unsafe).text is None
    p = tmp_path / "poster.json"
    p.write_text(broken)
    out = run("fix", str(p))
    assert out.exit_code == 1 and p.read_text() == broken
    assert f"{p}: left unchanged: no complete JSON object" in out.stderr
    assert extract_json(broken) is None


@pytest.mark.parametrize(("source", "background"), [(PRICES, "Prices: 1, 2, ]"), (MENU, "menu {a, }")])
def test_lenient_parsing_never_edits_inside_strings(tmp_path, source, background):
    r = fix(source)
    assert r.ok and r.data["compositional_deconstruction"]["background"] == background
    assert all(c.safe for c in r.changes) and r.changes[0].code == "CK002"
    p = tmp_path / "menu.json"
    p.write_text(source)
    assert run("fix", str(p)).exit_code == 0
    assert json.loads(p.read_text())["compositional_deconstruction"]["background"] == background


def test_repeated_keys_safe_mode_reports_and_leaves_the_text(tmp_path):
    r = fix(REPEATED)
    assert r.text is None and not r.ok and r.changes == []
    assert r.problem.startswith("CK407: key 'background' appears 2 times in /compositional_deconstruction")
    assert "CK407" in r.report.codes() and "CK408" not in r.report.codes()
    p = tmp_path / "wall.json"
    p.write_text(REPEATED)
    out = run("fix", str(p))
    assert out.exit_code == 1 and p.read_text() == REPEATED
    assert [line for line in out.stderr.splitlines() if "left unchanged" in line] == [
        f"{p}: left unchanged: {r.problem}"]
    # fmt does not choose either
    out = run("fmt", str(p))
    assert out.exit_code == 2 and "CK407" in out.stderr and p.read_text() == REPEATED


def test_repeated_keys_unsafe_mode_keeps_the_last_value_and_says_what_it_dropped(tmp_path):
    r = fix(REPEATED, unsafe=True)
    assert r.ok and r.data["compositional_deconstruction"]["background"] == "A door."
    assert [(c.code, c.safe) for c in r.changes] == [("CK407", False)]
    assert '"A wall."' in r.changes[0].message
    assert r.metadata == {"dropped_duplicates": {"/compositional_deconstruction/background": ["A wall."]}}
    p = tmp_path / "wall.json"
    p.write_text(REPEATED)
    out = run("fix", "--unsafe-fixes", str(p))
    assert out.exit_code == 0 and "CK407 [unsafe]" in out.stderr
    assert json.loads(p.read_text())["compositional_deconstruction"]["background"] == "A door."


def test_rule_texts_agree_with_what_fixes_do():
    ck002, ck407, ck408 = rule("CK002"), rule("CK407"), rule("CK408")
    assert ck002.fix is not None and ck002.fix.safe and "never edited" in ck002.fix.description
    # a CK002 finding offers that fix only where a lenient reading exists
    assert [d.fix for d in verify(PRICES)] == [ck002.fix] and fix(PRICES).ok
    assert [d.fix for d in verify("just some words")] == [None] and fix("just some words").text is None
    assert ck407.fix is not None and not ck407.fix.safe  # choosing a value is never a safe fix
    assert "Fix: available (unsafe)\n  unsafe: " in ck407.doc()
    assert ck408.fix is not None and ck408.fix.safe
    # CK408 says "run captionkit fmt", which refuses repeated keys: it is not offered for them
    codes = verify(REPEATED, lints=False, tokens=False).codes()
    assert "CK407" in codes and "CK408" not in codes


@pytest.mark.parametrize("unsafe", [False, True])
def test_huge_int_beside_an_integral_float_in_a_bbox(tmp_path, unsafe):
    r = fix(HUGE_BOX, unsafe=unsafe)
    assert r.text is not None
    box = r.data["compositional_deconstruction"]["elements"][0]["bbox"]
    assert box[:3] == [1, 2, 3] and all(type(v) is int for v in box)
    assert r.ok is unsafe  # out of range: clamping is an unsafe fix
    p = tmp_path / "box.json"
    p.write_text(HUGE_BOX)
    out = run("fix", str(p), *(["--unsafe-fixes"] if unsafe else []))
    assert out.exit_code == (0 if unsafe else 1) and "Traceback" not in out.output
    assert (p.read_text() == HUGE_BOX) is not unsafe


@pytest.mark.parametrize("source", [PY_SET, PY_BYTES, PY_COMPLEX])
@pytest.mark.parametrize("unsafe", [False, True])
def test_python_literals_json_cannot_hold_get_a_one_line_answer(tmp_path, source, unsafe):
    r = fix(source, unsafe=unsafe)
    assert r.text is None and r.problem and "\n" not in r.problem
    p = tmp_path / "literal.json"
    p.write_text(source)
    out = run("fix", str(p), *(["--unsafe-fixes"] if unsafe else []))
    assert out.exit_code == 1 and "Traceback" not in out.output and p.read_text() == source
    assert len([line for line in out.stderr.splitlines() if "left unchanged" in line]) == 1


@pytest.mark.parametrize(("value", "kind"), [({1, 2}, "set"), (b"x", "bytes"), (1j, "complex"), ((1, 2), "tuple")])
def test_data_json_cannot_hold_is_refused_naming_the_place(value, kind):
    data = {"compositional_deconstruction": {"background": "b", "elements": [{"type": "obj", "desc": value}]}}
    r = fix(data)
    assert r.text is None
    assert r.problem == (f"the data holds a {kind} at /compositional_deconstruction/elements/0/desc, "
                         "which JSON cannot represent")


def test_data_that_contains_itself_is_refused():
    elements: list[Any] = []
    data = {"compositional_deconstruction": {"background": "b", "elements": elements}}
    elements.append(data)
    r = fix(data)
    assert r.problem == "the data contains itself at /compositional_deconstruction/elements/0, which JSON cannot represent"
    shared = {"type": "obj", "desc": "d"}  # the same object twice is fine: JSON writes it twice
    r = fix({"compositional_deconstruction": {"background": "b", "elements": [shared, shared]}})
    assert r.ok and r.text.count('"desc":"d"') == 2


def test_a_lone_surrogate_is_never_written_out():
    r = fix('{"compositional_deconstruction":{"background":"\\ud800","elements":[]}}')
    assert r.text is None and "lone surrogate" in r.problem and "/compositional_deconstruction/background" in r.problem


def test_nan_in_a_box_stays_nan():
    r = fix('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","bbox":[NaN,1,2,3],"desc":"d"}]}}')
    box = r.data["compositional_deconstruction"]["elements"][0]["bbox"]
    assert math.isnan(box[0]) and "[NaN,1,2,3]" in r.text


def test_errors_left_for_unsafe_fixes_leave_the_file_untouched(tmp_path):
    source = ('{"compositional_deconstruction":{"elements":[{"desc":"d","type":"obj","bbox":[900,0,100,10]}],'
              '"background":"b"}}')
    p = tmp_path / "box.json"
    p.write_text(source)
    out = run("fix", str(p))
    assert out.exit_code == 1 and p.read_text() == source and "left unchanged: 1 error(s) remain" in out.stderr
    out = run("fix", "--stdout", str(p))  # the partial repair is still there to see
    assert out.stdout.startswith('{"compositional_deconstruction":{"background":"b"')


# ----------------------------------------------------------------------------- temporary files


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


SHUFFLED = '{"compositional_deconstruction":{"elements":[],"background":"A wall."}}'
FIXED = '{"compositional_deconstruction":{"background":"A wall.","elements":[]}}\n'


@pytest.mark.skipif(os.name != "posix", reason="kill -9 is a POSIX signal")
def test_kill_9_during_an_in_place_fix_and_the_next_run_cleans_up(tmp_path):
    work = tmp_path / "captions"
    work.mkdir()
    target = work / "wall.json"
    target.write_text(SHUFFLED)
    ready = tmp_path / "ready"
    # a real CLI process whose write stalls after the data is in the temporary file
    stall = textwrap.dedent(f"""
        import os, sys, time
        def stall(fd):
            open({str(ready)!r}, "w").close()
            time.sleep(300)
        os.fsync = stall
        from captionkit.cli import main
        sys.argv = ["captionkit", "fix", {str(target)!r}]
        main()
    """)
    proc = subprocess.Popen([sys.executable, "-c", stall], env=_env(), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None, "the writer ended before the write"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    leftovers = sorted(p.name for p in work.iterdir() if p.name != "wall.json")
    assert len(leftovers) == 1 and re.fullmatch(r"\.wall\.json\.[0-9a-f]{8}\.%d\.\w{8}\.tmp" % proc.pid, leftovers[0])
    assert target.read_text() == SHUFFLED  # never a partial file
    out = subprocess.run([sys.executable, "-m", "captionkit", "fix", str(target)], capture_output=True, text=True,
                         env=_env())
    assert out.returncode == 0, out.stderr
    assert f"removed {leftovers[0]}, left by an interrupted write" in out.stderr
    assert sorted(p.name for p in work.iterdir()) == ["wall.json"]
    assert target.read_text() == FIXED


def test_only_stale_temp_files_of_the_target_are_removed(tmp_path):
    target = tmp_path / "a.json"
    target.write_text(FIXED)
    from captionkit import _io

    tag = _io._TAG
    alive = tmp_path / f".a.json.{tag}.{os.getpid()}.abcdefgh.tmp"  # a concurrent writer: this process
    other_target = tmp_path / f".b.json.{tag}.999999999.abcdefgh.tmp"  # another file's
    foreign = tmp_path / f".a.json.00000000.999999999.abcdefgh.tmp"  # another host: cannot ask, not old
    legacy_new = tmp_path / ".a.json.k3j4h5g6.tmp"  # an older writer's name, recent
    legacy_old = tmp_path / ".a.json.zz99yy88.tmp"  # an older writer's name, old
    foreign_old = tmp_path / f".a.json.11111111.999999999.abcdefgh.tmp"
    unrelated = tmp_path / ".a.json.notes.tmp"
    for p in (alive, other_target, foreign, legacy_new, legacy_old, foreign_old, unrelated):
        p.write_text("x")
    old = time.time() - STALE_AFTER - 60
    for p in (legacy_old, foreign_old):
        os.utime(p, (old, old))
    removed = remove_stale_temp_files(target)
    assert sorted(removed) == sorted([legacy_old, foreign_old])
    # a dead writer on this host: removed at once, by the next write of the same target
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / f".a.json.{tag}.{int(dead.stdout)}.abcdefgh.tmp"
    gone.write_text("x")
    write_atomic(target, "new\n")
    assert not gone.exists() and target.read_text() == "new\n"
    assert all(p.exists() for p in (alive, other_target, foreign, legacy_new, unrelated))


def test_a_long_target_name_still_gets_a_temp_file_and_its_cleanup(tmp_path):
    target = tmp_path / ("x" * 240 + ".json")
    write_atomic(target, "data")
    assert target.read_text() == "data" and sorted(tmp_path.iterdir()) == [target]


def test_fmt_also_removes_what_a_killed_write_left(tmp_path):
    from captionkit import _io

    target = tmp_path / "a.json"
    target.write_text(SHUFFLED)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    gone = tmp_path / f".a.json.{_io._TAG}.{int(dead.stdout)}.abcdefgh.tmp"
    gone.write_text("x")
    out = run("fmt", str(target))
    assert out.exit_code == 0 and not gone.exists() and f"removed {gone.name}" in out.stderr
    assert sorted(tmp_path.iterdir()) == [target]


def test_jsonl_lines_are_replaced_only_by_whole_valid_captions(tmp_path):
    partial = ('{"compositional_deconstruction":{"elements":[{"type":"obj","bbox":[900,0,100,10],"desc":"d"}],'
               '"background":"b"}}')
    lines = [TRAILING, REPEATED, PY_SET, partial, SHUFFLED]
    p = tmp_path / "batch.jsonl"
    p.write_text("\n".join(lines) + "\n")
    out = run("fix", str(p))
    assert out.exit_code == 1 and "Traceback" not in out.output
    after = p.read_text().split("\n")
    assert after == [TRAILING.replace("},]", "}]"), REPEATED, PY_SET, partial, FIXED.strip(), ""]
    assert sum("left unchanged" in line for line in out.stderr.splitlines()) == 3


def test_the_content_guard_refuses_a_safe_fix_that_would_lose_content(monkeypatch):
    # a deliberately broken safe fix: it drops the first colour and calls that safe
    from captionkit import fixes

    def lossy(self, palette, path, limit):
        self.note("CK312", "normalised a colour", path, "safe")
        return palette[1:]

    monkeypatch.setattr(fixes._Fixer, "palette", lossy)
    source = ('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"d",'
              '"color_palette":["#111111","#222222"]}]}}')
    r = fix(source)
    assert r.text is None and r.changes == []
    assert r.problem.startswith("internal check failed: the safe fixes would change the content at "
                                "/compositional_deconstruction/elements/0/color_palette")
    # an unsafe change is the caller's choice: the guard does not stand in its way
    monkeypatch.setattr(fixes._Fixer, "palette",
                        lambda self, palette, path, limit: (self.note("CK311", "truncated", path), palette[1:])[1])
    assert fix(source, unsafe=True).text is not None


def test_an_unexpected_error_costs_neither_the_file_nor_the_run(tmp_path, monkeypatch):
    from captionkit import fixes

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(fixes, "fix", broken)
    p = tmp_path / "a.json"
    p.write_text(SHUFFLED)
    out = run("fix", str(p))
    assert out.exit_code == 2 and p.read_text() == SHUFFLED
    assert out.stderr.splitlines() == [f"error: {p}: internal error (RuntimeError: boom); left unchanged"]


def test_a_fence_inside_a_string_is_prose_not_the_caption():
    # the fence holds JSON encoded as a string, but the fence itself stands inside a caption string
    source = "{'compositional_deconstruction': {'background': 'see ```\"{\\\"a\\\":1}\"```', 'elements': [],}}"
    r = fix(source)
    assert r.ok and r.data["compositional_deconstruction"]["background"] == 'see ```"{"a":1}"```'
    encoded = 'Here:\n```json\n' + json.dumps(json.dumps(json.loads(FIXED))) + '\n```'
    assert fix(encoded).text == FIXED.strip()
