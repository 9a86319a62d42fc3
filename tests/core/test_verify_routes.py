"""verify() takes the compat proof for canonical clean text; the route never changes the report."""

from __future__ import annotations

import json

import pytest

from hypothesis import given
from hypothesis import strategies as st

from captionkit import verifier
from captionkit.strategies import caption_dicts, caption_texts, mutants


def _report(text: str, **kwargs) -> list[tuple]:
    return [(d.code, d.path, d.message, d.severity, d.official) for d in verifier.verify(text, **kwargs)]


def _slow_report(text: str, **kwargs) -> list[tuple]:
    """The report by the full parse and walk alone (every proof switched off)."""
    proof = verifier._prove
    verifier._prove = lambda text: (None, None)
    try:
        return _report(text, **kwargs)
    finally:
        verifier._prove = proof


_ENDINGS = st.sampled_from(["", "\n", "\r\n", "\n\n", " ", "\t\n"])


@given(caption_texts(max_elements=5), _ENDINGS, st.booleans())
def test_canonical_texts_same_report_either_route(text, ending, lints):
    text += ending
    assert _report(text, lints=lints) == _slow_report(text, lints=lints)


@given(mutants(), st.sampled_from(["compact", "canonical-order", "pretty"]), _ENDINGS)
def test_faulty_texts_same_report_either_route(data, layout, ending):
    if layout == "compact":
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    elif layout == "pretty":
        text = json.dumps(data, ensure_ascii=False, indent=2)
    else:
        from captionkit._json import canonical_order

        text = json.dumps(canonical_order(data), ensure_ascii=False, separators=(",", ":"))
    text += ending
    assert _report(text) == _slow_report(text)


@given(caption_dicts(max_elements=4), st.text(max_size=5))
def test_damaged_canonical_text_same_report(data, junk):
    from captionkit import dumps

    text = dumps(data)
    cut = len(text) // 2
    damaged = text[:cut] + junk + text[cut:]
    assert _report(damaged) == _slow_report(damaged)


def test_proof_is_taken_for_canonical_text_with_a_final_newline():
    text = '{"compositional_deconstruction":{"background":"A wall.","elements":[]}}'
    assert verifier.proven_canonical_and_clean(text + "\n")
    assert not verifier.proven_canonical_and_clean(text.replace("A wall.", "A wall.\\u00e9") + "x")


@given(caption_texts(max_elements=5), _ENDINGS, st.sampled_from(["compact", "pretty", "as-is"]))
def test_loads_remembers_exactly_the_text_dumps_would_write(text, ending, layout):
    import captionkit
    from captionkit import _json

    if layout == "compact":
        text = json.dumps(json.loads(text), ensure_ascii=False, separators=(",", ":"))
    elif layout == "pretty":
        text = json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    caption = captionkit.loads(text + ending)
    computed = _json.dumps(caption.to_dict())
    assert captionkit.dumps(caption) == computed
    assert caption.dumps() == computed
    assert captionkit.dumps(caption, pretty=True) == json.dumps(caption.to_dict(), ensure_ascii=False, indent=2)
    twin = caption.model_copy()  # an equal caption built another way writes the same text
    assert captionkit.dumps(twin) == computed


@pytest.mark.parametrize("depth", [990, 992, 993, 994, 995, 1000])
@pytest.mark.parametrize("where", ["unknown key", "shadowed duplicate"])
def test_verify_agrees_with_compat_at_the_depth_edge(depth, where):
    from captionkit.compat import CaptionVerifier

    deep = "[" * depth + "]" * depth
    if where == "unknown key":
        text = '{"compositional_deconstruction":{"background":"b","elements":[]},"x":' + deep + "}"
    else:
        text = '{"compositional_deconstruction":' + deep + ',"compositional_deconstruction":{"background":"b","elements":[]}}'
    official = CaptionVerifier().verify_raw(text)
    report = verifier.verify(text, lints=False, tokens=False)
    assert [d.official for d in report if d.official is not None] == official


# -- captionkit's own strict checks: bulk looks equal the plain form; the proof of silence is sound ----

from strict_reference import reference_strict  # noqa: E402

from captionkit.strategies import json_values  # noqa: E402


class _Str(str):
    pass


class _List(list):
    pass


_ODD_PROSE = st.sampled_from(["", "  \n", "ok", 5, None, ["x"], _Str(""), _Str("fine"), "\u3000", True])
_ODD_PALETTE = st.lists(st.sampled_from(["#ABCDEF", "#abcdef", "#000000", "ß", "SS", 7, None, _Str("#ABCDEF")]),
                        max_size=5) | st.sampled_from([None, "#ABCDEF", _List(["#A", "#A"]), {"a": 1}])
_ODD_BOX = st.sampled_from([[0, 0, 10, 10], [0, 0, 0, 10], [5, 1, 9, 1], [True, 0, 1, 1], [0, False, 0, 1],
                            _List([0, 0, 0, 1]), (0, 0, 0, 1), [0, 0, 1], [0.0, 0, 0, 1], "box", None])


@st.composite
def _odd_captions(draw):
    data = draw(caption_dicts(max_elements=4))
    for _ in range(draw(st.integers(0, 6))):
        where = draw(st.sampled_from(["hld", "style", "palette", "background", "element", "root", "shape"]))
        cd = data["compositional_deconstruction"]
        if where == "hld":
            data["high_level_description"] = draw(_ODD_PROSE)
        elif where == "style" and isinstance(data.get("style_description"), dict):
            data["style_description"][draw(st.sampled_from(["aesthetics", "medium", "photo", "art_style"]))] = draw(
                _ODD_PROSE)
        elif where == "palette" and isinstance(data.get("style_description"), dict):
            data["style_description"]["color_palette"] = draw(_ODD_PALETTE)
        elif where == "background" and isinstance(cd, dict):
            cd["background"] = draw(_ODD_PROSE)
        elif where == "element" and isinstance(cd, dict) and isinstance(cd.get("elements"), list) and cd["elements"]:
            el = draw(st.sampled_from(cd["elements"]))
            if isinstance(el, dict):
                key = draw(st.sampled_from(["text", "desc", "bbox", "color_palette", "type"]))
                el[key] = draw({"bbox": _ODD_BOX, "color_palette": _ODD_PALETTE,
                                "type": st.sampled_from(["text", "obj", ["text"]])}.get(key, _ODD_PROSE))
        elif where == "root":
            data = dict(reversed(list(data.items())))
        elif isinstance(cd, dict):
            cd["elements"] = draw(st.sampled_from([[], "none", [1, "x", None], cd["elements"]]))
    return data


@given(st.one_of(_odd_captions(), json_values(), mutants()))
def test_strict_equals_its_plain_form(value):
    def rows(diagnostics):
        return [(d.code, d.path, d.message, d.severity) for d in diagnostics]

    assert rows(verifier._strict(value)) == rows(reference_strict(value))


@given(_odd_captions(), st.sampled_from(["canonical", "pretty", "reversed"]))
def test_the_proof_of_silence_holds_on_every_proven_text(data, layout):
    try:
        if layout == "canonical":
            from captionkit import dumps

            text = dumps(data)
        else:
            text = json.dumps(data if layout == "pretty" else dict(reversed(list(data.items()))),
                              ensure_ascii=False, indent=2 if layout == "pretty" else None)
    except (TypeError, ValueError):
        return  # not JSON text (a str subclass is JSON; a tuple becomes a list: both fine)
    form = verifier.clean_form(text)
    if form is None:
        return
    value = json.loads(text)
    if verifier._strict_finds_nothing(value, form):
        assert list(reference_strict(value)) == []
    assert _report(text) == _slow_report(text)
