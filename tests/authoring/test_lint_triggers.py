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
            line = draw(st.sampled_from(["OPEN", "Café", "夜市", "ab", "\u212aelvin", "STRASSE", "ǅ"]))
            element["text"] = draw(st.sampled_from([line, f"{line}\nx", f" {line.lower()} \n{line}"]))
            element["desc"] = draw(st.sampled_from([f"the word {line.upper()}", element["desc"], "strasse sign"]))
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
