"""build() checks the text it will emit once, by the fast routes; the result is the full path's.

A valid caption takes one check of its canonical text (the C locator proves it
clean at once where built) and keeps that text for ``dumps()``; anything that
route does not pass goes down the full path, which words every diagnostic.
These properties build the same states both ways and require the same caption,
the same text, or the same error.
"""

from __future__ import annotations

import json
from collections import UserString

import pytest
from hypothesis import given
from hypothesis import strategies as st

from captionkit import builder as builder_module
from captionkit.builder import CaptionBuilder
from captionkit.diagnostics import CaptionError
from captionkit.strategies import caption_dicts


def _outcome(b: CaptionBuilder) -> tuple:
    try:
        caption = b.build()
    except CaptionError as exc:
        return ("error", str(exc), [(d.code, d.path, d.message, d.severity, d.official) for d in exc.report])
    except Exception as exc:  # whatever the full path does with a value it cannot take, the fast one does too
        return ("raised", type(exc), str(exc))
    return ("ok", caption, caption.dumps(), caption.dumps(pretty=True), caption.to_dict())


def _full_path(b: CaptionBuilder) -> tuple:
    fast = builder_module._proven_caption
    builder_module._proven_caption = lambda data: None
    try:
        return _outcome(b)
    finally:
        builder_module._proven_caption = fast


class _Str(str):
    pass


# a value for a prose field, a colour or a box that the checks may refuse
_ODD_PROSE = st.sampled_from(["", "   ", "caf\\u00e9", "x\ud800y", 7, None, ["a"], _Str("sub"), "\u2028", "ok"])
_ODD_COLOUR = st.sampled_from(["#abc", "navy", "#ABCDEF", "notacolour", (1, 2, 3), "#GGGGGG", 5])
_ODD_BOX = st.sampled_from([[0, 0, 10, 10], [10, 0, 0, 10], [0, 0, 0, 10], (0, 0, 10, 10), [True, 0, 1, 1],
                            [0, 0, 2000, 10], [0, 0, 10], "box", [0.5, 0, 1, 1]])


@st.composite
def _states(draw: st.DrawFn) -> CaptionBuilder:
    b = CaptionBuilder.from_caption(draw(caption_dicts(max_elements=4)))
    for _ in range(draw(st.integers(0, 3))):
        step = draw(st.sampled_from(["describe", "background", "obj", "text", "palette", "no_style", "art", "photo"]))
        if step == "describe":
            b = b.describe(draw(_ODD_PROSE))
        elif step == "background":
            b = b.background(draw(_ODD_PROSE))
        elif step == "obj":
            b = b.obj(draw(_ODD_PROSE), box=draw(st.none() | _ODD_BOX),
                      palette=draw(st.none() | st.lists(_ODD_COLOUR, max_size=6)))
        elif step == "text":
            b = b.text(draw(_ODD_PROSE), draw(_ODD_PROSE), box=draw(st.none() | _ODD_BOX))
        elif step == "palette":
            b = b.palette(*draw(st.lists(_ODD_COLOUR, max_size=18)))
        elif step == "no_style":
            b = b.no_style()
        elif step == "art":
            b = b.art(draw(_ODD_PROSE))
        else:
            b = b.photo(draw(_ODD_PROSE))
    return b


@given(_states())
def test_build_gives_the_full_paths_answer(b):
    assert _outcome(b) == _full_path(b)


@given(caption_dicts(max_elements=6))
def test_a_valid_caption_keeps_the_text_it_was_checked_as(data):
    caption = CaptionBuilder.from_caption(data).build()
    text = caption.dumps()
    assert text == json.dumps(caption.to_dict(), ensure_ascii=False, separators=(",", ":"))
    assert _outcome(CaptionBuilder.from_caption(data)) == _full_path(CaptionBuilder.from_caption(data))


@pytest.mark.parametrize("prose", [_Str("A lamp."), UserString("A lamp.")])
def test_values_that_only_look_like_strings_take_the_full_path(prose):
    b = CaptionBuilder().background("A wall.").obj(prose)
    assert _outcome(b) == _full_path(b)
