"""The lints' trigger-word shortcut never changes an answer: with and without it, the same diagnostics."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from captionkit.rules import content
from captionkit.strategies import caption_dicts

# Words that make the families look, spelled in ways the case-insensitive patterns still match.
_PHRASES = [
    "such as", "Various", "e.g.", "or similar", "maybe", "PERHAPS", "might be", "in the style of",
    "implied", "red or blue", "Stunning", "awe-inspiring", "bokeh", "depth of field", "f/2.8",
    "85mm lens", "50 mm lens", "Shadows", "warm", "lamp", "sky", "\u017fuch as", "\u0130mplied",
    "bo\u212aeh", "ſtunning", "ı", "f/\u0663", "x_bokeh", "bokeh\u2014", "bokehé", "—stunning—",
]
_PIECES = st.one_of(st.text(max_size=6), st.text(alphabet="abcdefor /.-", max_size=6), st.sampled_from(_PHRASES))


@st.composite
def _prose(draw: st.DrawFn) -> str:
    # sparse: most texts hold at most one phrase, so each trigger word is tested on its own
    return " ".join(draw(st.lists(_PIECES, min_size=1, max_size=3))) or "x"


@st.composite
def _linted(draw: st.DrawFn) -> dict:
    data = draw(caption_dicts(max_elements=4))
    data["high_level_description"] = draw(_prose())
    if "style_description" in data:
        data["style_description"]["lighting"] = draw(_prose())
    for element in data["compositional_deconstruction"]["elements"]:
        element["desc"] = draw(_prose())
    if data["compositional_deconstruction"]["elements"] and draw(st.booleans()):
        elements = data["compositional_deconstruction"]["elements"]
        elements.append(dict(elements[0]))  # an exact repeat (CK608)
    return data


def _all(data: dict, frame: str | None) -> list[tuple[str, tuple, str]]:
    return [(d.code, d.path, d.message) for d in content.lint(data, frame=frame)]


@given(_linted(), st.sampled_from([None, "1536x1024", "1024x1024"]))
def test_shortcut_matches_running_every_pattern(data: dict, frame: str | None) -> None:
    assert _all(data, frame) == _without_shortcut(data, frame)


def _without_shortcut(data: dict, frame: str | None) -> list[tuple[str, tuple, str]]:
    # every trigger bit set for every text: each pattern runs on each text, each element is checked
    original = content._facts
    content._facts = lambda texts: ([len(t.split()) for t in texts], [content._ALL] * len(texts))
    try:
        return _all(data, frame)
    finally:
        content._facts = original


@pytest.mark.parametrize("phrase", _PHRASES)
@pytest.mark.parametrize("where", ["high_level_description", "lighting", "desc"])
def test_each_phrase_alone(phrase: str, where: str) -> None:
    data = {
        "high_level_description": "A kite.",
        "style_description": {"aesthetics": "a", "lighting": "soft", "photo": "p", "medium": "photograph"},
        "compositional_deconstruction": {"background": "b", "elements": [{"type": "obj", "desc": "A kite."}]},
    }
    target = {"high_level_description": data, "lighting": data["style_description"],
              "desc": data["compositional_deconstruction"]["elements"][0]}[where]
    target[where] = f"A {phrase} thing."
    assert _all(data, None) == _without_shortcut(data, None)


def test_each_family_still_fires() -> None:
    desc = "A stunning red or blue kite such as a box kite, with bokeh and shadows, " + "word " * 25
    data = {
        "high_level_description": "A kite.",
        "style_description": {"aesthetics": "a", "lighting": "warm", "photo": "p", "medium": "photograph"},
        "compositional_deconstruction": {"background": "b", "elements": [
            {"type": "obj", "desc": desc}, {"type": "obj", "desc": desc}]},
    }
    codes = [d.code for d in content.lint(data)]
    assert codes.count("CK603") == 2 and codes.count("CK604") == 2 and codes.count("CK606") == 2
    assert "CK605" in codes and codes.count("CK608") == 1


# -- the facts each text gives the lints: word counts and trigger bits, in C and in Python --------

from captionkit import _accel  # noqa: E402

_needs_c = pytest.mark.skipif(_accel.speedups is None, reason="the C accelerator is not built or is switched off")
_TEXTS = st.one_of(_prose(), st.text(), st.text(alphabet=" \t\n\x1c\x85\xa0\u2028\u3000ab.K\u212a\u0130", max_size=20))


@_needs_c
@given(st.lists(_TEXTS, max_size=5))
def test_c_facts_are_the_word_counts_and_each_texts_own_trigger_bits(texts: list[str]) -> None:
    counts, masks = _accel.speedups.prose_facts(texts)
    assert counts == [len(t.split()) for t in texts]
    assert masks == [content._mask_of([t]) for t in texts]


_LONG_PIECES = st.one_of(
    st.sampled_from([w.decode() for w in content._VOCABULARY]),
    st.sampled_from(["a", "it's", "O'Neil", "x2", "3D", "\t", "\n", "\r\n", "  ", ",", "-", "\x0b", "\x7f", "_",
                     "caf\u00e9", "\u212aelvin", "\u00a0", "Sky", "WALL", "bokeh2"]),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz ", min_size=1, max_size=12),
)


@_needs_c
@given(st.lists(_LONG_PIECES, min_size=1, max_size=120), st.sampled_from([" ", "", "\n", "-"]))
def test_c_facts_on_long_texts_across_the_scan_windows(pieces: list[str], glue: str) -> None:
    # runs of letters cross the 64-character windows of the ASCII scan; a text that is not all ASCII
    # goes to the character-by-character scan: both answer the same as the reference
    text = glue.join(pieces)
    assert _accel.speedups.prose_facts([text]) == ([len(text.split())], [content._mask_of([text])])
    assert _accel.speedups.prose_facts(["x" * k + text for k in (1, 63)])[0] == [len(("x" * k + text).split())
                                                                                 for k in (1, 63)]


@given(st.lists(_TEXTS | st.sampled_from(["a \x00 or", "\x00", " \x00 ", "sky\x00wall", "\u0130 or"]), max_size=5))
def test_python_facts_are_the_word_counts_and_each_texts_own_trigger_bits(texts: list[str]) -> None:
    # the same facts as the C accelerator's (above): texts joined, split and intersected at once,
    # a text holding the joint ("\x00") or a letter that folds to ASCII alone
    counts, masks = content._py_facts(texts)
    assert counts == [len(t.split()) for t in texts]
    assert masks == [content._mask_of([t]) for t in texts]


def test_python_facts_on_every_white_space_and_every_trigger_word() -> None:
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    text = "a".join(spaces) + "".join(" " + w.decode().upper() for w in content._VOCABULARY)
    assert content._py_facts([text, "", "x"]) == ([len(text.split()), 0, 1], [content._ALL, 0, 0])
    for word in content._VOCABULARY:
        assert content._py_facts(["no", f"x-{word.decode()}-y", "no"])[1] == [0, content._mask_of([word.decode()]), 0]


@_needs_c
def test_c_facts_on_every_white_space_and_every_trigger_word() -> None:
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    text = "a".join(spaces) + "".join(" " + w.decode().upper() for w in content._VOCABULARY)
    assert _accel.speedups.prose_facts([text]) == ([len(text.split())], [content._ALL])
    for word in content._VOCABULARY:
        assert _accel.speedups.prose_facts([f"x-{word.decode()}-y"])[1] == [content._mask_of([word.decode()])]


# -- the lints equal their first, plain form (every check on every element) --------------------------

from lint_reference import reference_lint  # noqa: E402

_GRID = st.integers(0, 4).map(lambda k: k * 250)


@st.composite
def _boxes(draw: st.DrawFn) -> list[int]:
    y0, y1 = sorted((draw(_GRID), draw(_GRID)))
    x0, x1 = sorted((draw(_GRID), draw(_GRID)))
    return [y0, x0, y1, x1]


@st.composite
def _busy(draw: st.DrawFn) -> dict:
    data = draw(_linted())
    for element in data["compositional_deconstruction"]["elements"]:
        if draw(st.booleans()):
            element["bbox"] = draw(_boxes())  # a coarse grid: boxes overlap, touch, or have no area
        if element["type"] == "text" and draw(st.booleans()):
            line = draw(st.sampled_from(["OPEN", "Café", "夜市", "ab", "\u212aelvin", "STRASSE", "ǅ", "Stra\u00dfe",
                                         "\ufb01ne", "\u017fign"]))
            element["text"] = draw(st.sampled_from([line, f"{line}\nx", f" {line.lower()} \n{line}"]))
            element["desc"] = draw(st.sampled_from([f"the word {line.upper()}", element["desc"], "strasse sign",
                                                    "a kelvin fine sign"]))
        if draw(st.integers(0, 5)) == 0:
            element["desc"] = " ".join(["word"] * draw(st.integers(20, 65)))  # around the length limits
        if draw(st.integers(0, 3)) == 0:  # the shell, and shapes that must be square on the frame
            element["desc"] = draw(st.sampled_from(
                ["The sky, pale blue.", "  a Wall of brick", "ground", "A round clock face.", "Square tile, blue.",
                 "a disc", "An orb", "The skyline at dusk."]))
    if draw(st.booleans()):
        data["high_level_description"] = " ".join(["word"] * draw(st.integers(45, 55)))
    sd = data.get("style_description")
    if sd is not None and draw(st.booleans()):
        sd["lighting"] = draw(st.sampled_from(["warm", "warm lamp light", "Warm, from the low sun", "cold"]))
        if "photo" in sd:
            sd["medium"] = draw(st.sampled_from(["photograph", "illustration", "Photo print"]))
    return data


@given(_busy(), st.sampled_from([None, "1536x1024", "1024x1024", "portrait"]))
def test_lint_equals_its_plain_form(data: dict, frame: str | None) -> None:
    def rows(diagnostics):
        return [(d.code, d.path, d.message, d.severity) for d in diagnostics]

    assert rows(content.lint(data, frame=frame)) == rows(reference_lint(data, frame=frame))


# -- the facts route: verify() reads canonical clean text with the C accelerator's caption_facts --------

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import captionkit  # noqa: E402
from captionkit import verifier  # noqa: E402

_FACT_TEXTS = st.sampled_from(["line\nbreak", 'a "quoted" word', "tab\there", "back\\slash", "bell\x07 ring",
                               "\u212aelvin lamp", "caf\u00e9 \u591c\u5e02", "\x1c\x1d sep", " ", "\u3000", "",
                               "STRA\u00dfE", "\ufb01ne \u017fign"])


@st.composite
def _facts_captions(draw: st.DrawFn) -> dict:
    """Busy captions, some prose with escapes the canonical form writes, empty prose, repeated colours."""
    data = draw(_busy())
    for element in data["compositional_deconstruction"]["elements"]:
        if draw(st.integers(0, 4)) == 0:
            element["desc"] = draw(_FACT_TEXTS) + " " + element["desc"]
        if element["type"] == "text" and draw(st.integers(0, 3)) == 0:
            element["text"] = draw(_FACT_TEXTS)
        if "color_palette" in element and element["color_palette"] and draw(st.integers(0, 5)) == 0:
            element["color_palette"].append(element["color_palette"][0])
    if draw(st.integers(0, 5)) == 0:
        data["compositional_deconstruction"]["background"] = draw(_FACT_TEXTS)
    return data


def _prose_values(data: dict) -> list:
    sd = data.get("style_description") or {}
    cd = data["compositional_deconstruction"]
    values = [data.get("high_level_description"), *(sd.get(k) for k in verifier._STYLE_PROSE), cd["background"]]
    for element in cd["elements"]:
        values += [element.get("text"), element["desc"]]
    return [v for v in values if v is not None]


def _line_in_desc(text: str | None, desc: str) -> bool:
    lines = [s.strip() for s in (text or "").split("\n")]
    return any(len(line) >= 3 and line.casefold() in desc.casefold() for line in lines)


@_needs_c
@given(_facts_captions())
def test_caption_facts_are_the_values_the_rules_read(data: dict) -> None:
    facts = _accel.speedups.caption_facts(captionkit.dumps(data))
    assert facts is not None
    (hld, lighting, medium, photo, kinds, boxes, texts, descs, counts, masks, empty, repeats, flat, desc_repeats,
     suspects, overlapping) = facts
    sd = data.get("style_description") or {}
    elements = data["compositional_deconstruction"]["elements"]
    assert (hld, lighting, medium, photo) == (data.get("high_level_description"), sd.get("lighting"),
                                              sd.get("medium"), "photo" in sd)
    assert kinds == [e["type"] for e in elements]
    # the values are handed out for the suspects only
    assert boxes == [e.get("bbox") if i in suspects else None for i, e in enumerate(elements)]
    assert texts == [e.get("text") if i in suspects else None for i, e in enumerate(elements)]
    assert descs == [e["desc"] if i in suspects else None for i, e in enumerate(elements)]
    all_boxes = [e.get("bbox") for e in elements]
    all_texts = [e.get("text") for e in elements]
    all_descs = [e["desc"] for e in elements]
    linted = [hld or "", lighting or "", *all_descs]
    assert counts == [len(t.split()) for t in linted]
    assert masks == [content._mask_of([t]) for t in linted]
    assert empty == sum(not v.strip() for v in _prose_values(data))
    palettes = [p for p in [sd.get("color_palette"), *(e.get("color_palette") for e in elements)] if p is not None]
    assert repeats == sum(len(set(p)) != len(p) for p in palettes)
    assert flat == sum(b is not None and (b[0] == b[2] or b[1] == b[3]) for b in all_boxes)
    assert desc_repeats == (len(set(all_descs)) != len(all_descs))
    assert overlapping == content._overlapping_text(kinds, all_boxes)
    # every element a lint may fire on is a suspect; where both texts are ASCII, a quiet text element is not
    for i, (kind, text, desc) in enumerate(zip(kinds, all_texts, all_descs)):
        n, mask = counts[i + 2], masks[i + 2]
        shell = kind == "obj" and content._SHELL.match(desc)
        phrases = mask & content._PHRASE_BITS or not content.DESC_MIN_WORDS <= n <= content.DESC_MAX_WORDS
        text_checks = kind == "text" and (_line_in_desc(text, desc) or i in overlapping)
        if phrases or shell or text_checks:
            assert i in suspects
        if kind == "text" and not phrases and desc.isascii() and text.isascii() and "\\" not in json.dumps(text + desc):
            assert (i in suspects) == text_checks


def _rows(text: str, **kwargs) -> list[tuple]:
    return [(d.code, d.path, d.message, d.severity, d.fix) for d in verifier.verify(text, **kwargs)]


_ROOT = ("high_level_description", "style_description", "compositional_deconstruction")


def _lone_surrogates(text: str) -> bool:
    """Whether the caption's strings hold a lone surrogate (raw or escaped: json.loads reads both)."""
    found = []
    json.loads(text, object_hook=lambda o: found.extend(v for v in o.values() if isinstance(v, str)) or o,
               object_pairs_hook=None)
    return any(0xD800 <= ord(c) <= 0xDFFF for v in found for c in v) or any(0xD800 <= ord(c) <= 0xDFFF for c in text)
_LAYOUTS = {
    "canonical": captionkit.dumps,
    "indent 2": lambda d: json.dumps(d, ensure_ascii=False, indent=2),
    "ASCII-escaped": lambda d: json.dumps(d),
    "other root order": lambda d: json.dumps(dict(reversed(list(d.items()))), ensure_ascii=False),
    "tab indent and CRLF": lambda d: json.dumps(d, ensure_ascii=False, indent="\t").replace("\n", "\r\n"),
    "slashes escaped": lambda d: json.dumps(d, ensure_ascii=False).replace("/", "\\/"),
}


@_needs_c
@given(_facts_captions(), st.sampled_from([None, "1536x1024", "portrait"]), st.booleans(), st.booleans(),
       st.sampled_from(["", "\n"]), st.sampled_from(sorted(_LAYOUTS)))
def test_verify_reports_the_same_with_and_without_the_facts_route(data, frame, lints, tokens, ending, layout) -> None:
    text = _LAYOUTS[layout](data) + ending
    taken = []
    facts = verifier._caption_facts
    verifier._caption_facts = lambda core: taken.append(facts(core)) or taken[-1]
    try:
        fast = _rows(text, frame=frame, lints=lints, tokens=tokens)
    finally:
        verifier._caption_facts = facts
    verifier._caption_facts = None
    try:
        slow = _rows(text, frame=frame, lints=lints, tokens=tokens)
    finally:
        verifier._caption_facts = facts
    assert fast == slow
    # the route is tried for the texts the locator proves clean, in any layout but another root order
    # (or one with a surrogate, which the C accelerator leaves to the parsing route)
    form = verifier.clean_form(text)
    if form is False and _lone_surrogates(text):
        return
    value = json.loads(text)
    in_order = [k for k in value if k in _ROOT] == [k for k in _ROOT if k in value]
    assert bool(taken) == (lints and (form is True or (form is False and in_order)))


@_needs_c
def test_the_facts_route_is_taken_for_a_clean_caption_and_reads_no_dict() -> None:
    text = captionkit.dumps(captionkit.loads((Path(__file__).resolve().parents[2] / "examples" / "night_market.json").read_text(encoding="utf-8")))
    report, checked = verifier.check(text)
    assert report.ok and checked.proven == text  # not parsed yet: the lints read the facts
    assert checked.value == json.loads(text) and checked.proven is None


@_needs_c
@given(st.one_of(st.text(max_size=200), _facts_captions().map(captionkit.dumps)), st.integers(0, 400),
       st.text(max_size=4))
def test_caption_facts_reads_any_text_safely(text: str, at: int, junk: str) -> None:
    damaged = text[:at] + junk + text[at:]
    facts = _accel.speedups.caption_facts(damaged)
    assert facts is None or (len(facts) == 16 and len(facts[4]) == len(facts[7]) == len(facts[8]) - 2
                             and set(facts[14]) <= set(range(len(facts[4]))))


@_needs_c
@given(_facts_captions(), st.sampled_from(sorted(_LAYOUTS)), st.sampled_from(["", "\n", "\n\n", "  "]))
def test_canonical_of_clean_is_the_canonical_text(data, layout, ending) -> None:
    text = _LAYOUTS[layout](data) + ending
    if verifier.clean_form(text) is None:
        return  # (not a clean caption: the function is only asked about clean ones)
    canonical = _accel.speedups.canonical_of_clean(text)
    value = json.loads(text)
    in_order = [k for k in value if k in _ROOT] == [k for k in _ROOT if k in value]
    if in_order and not _lone_surrogates(text):
        assert canonical == captionkit.dumps(value)
    else:
        assert canonical is None


@_needs_c
@given(st.text(max_size=300))
def test_canonical_of_clean_reads_any_text_safely(text: str) -> None:
    out = _accel.speedups.canonical_of_clean(text)
    assert out is None or len(out) <= len(text)
