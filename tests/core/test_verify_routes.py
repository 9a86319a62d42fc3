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
    proof = verifier.clean_form
    verifier.clean_form = lambda text: None
    try:
        return _report(text, **kwargs)
    finally:
        verifier.clean_form = proof


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
