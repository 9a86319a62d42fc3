"""Models, canonical JSON, loads/dumps round trips."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from captionkit import Caption, dumps, loads
from captionkit.diagnostics import CaptionError
from captionkit.models import ArtStyle, BBox, Composition, ObjElement, PhotoStyle, TextElement
from captionkit.strategies import caption_dicts, caption_texts

SPEC_EXAMPLE = (
    '{"high_level_description":"A flat vector concert poster showing a large orange sun rising over stylised navy '
    'waves, with a bold stacked title across the top.","style_description":{"aesthetics":"bold, minimal, retro",'
    '"lighting":"flat, even illumination with no shadows","medium":"graphic_design","art_style":"flat vector shapes, '
    'hard edges, geometric sans-serif typography","color_palette":["#0B1D3A","#F26B1D","#F5E6C8","#1F4E79"]},'
    '"compositional_deconstruction":{"background":"A solid deep navy field filling the whole poster.","elements":'
    '[{"type":"text","bbox":[60,100,300,900],"text":"SUMMER\\nTIDES","desc":"Huge cream capitals.",'
    '"color_palette":["#F5E6C8"]}]}}'
)


def test_roundtrip_spec_example_is_byte_identical():
    cap = loads(SPEC_EXAMPLE)
    assert isinstance(cap.style_description, ArtStyle)
    assert cap.compositional_deconstruction.elements[0].text == "SUMMER\nTIDES"
    assert dumps(cap) == SPEC_EXAMPLE
    assert dumps(cap) == json.dumps(json.loads(SPEC_EXAMPLE), separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(caption_texts(max_elements=8))
def test_loads_dumps_roundtrip_is_byte_identical(text):
    assert dumps(loads(text)) == text


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(caption_dicts(max_elements=6))
def test_dumps_equals_stdlib_canonical_form(data):
    assert dumps(data) == json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    assert Caption.model_validate(data).to_dict() == data


def test_optional_keys_are_omitted_not_null():
    cap = Caption(compositional_deconstruction=Composition(background="b", elements=[ObjElement(desc="d")]))
    assert dumps(cap) == '{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"d"}]}}'


def test_field_order_is_canonical_whatever_the_input_order():
    el = TextElement(desc="d", text="T", bbox=[1, 2, 3, 4], color_palette=["#000000"])
    assert list(el.to_dict() if hasattr(el, "to_dict") else el.model_dump(mode="json", exclude_none=True)) == [
        "type", "bbox", "text", "desc", "color_palette"]
    ps = PhotoStyle(medium="photograph", photo="35mm", lighting="l", aesthetics="a")
    assert list(ps.model_dump(exclude_none=True)) == ["aesthetics", "lighting", "photo", "medium"]


def test_bbox_named_access_and_validation():
    b = BBox.of([100, 200, 300, 600])
    assert (b.top, b.left, b.bottom, b.right) == (100, 200, 300, 600)
    assert list(b) == [100, 200, 300, 600] and b.width == 400 and b.height == 200
    for bad in ([300, 0, 100, 10], [0, 600, 10, 500], [0, 0, 1001, 10], [0, 0, 1.0, 1], [True, 0, 1, 1], [1, 2, 3]):
        with pytest.raises(ValueError):
            BBox.of(bad)


def test_models_are_frozen():
    b = BBox.of([1, 2, 3, 4])
    with pytest.raises(ValueError):
        b.top = 0


def test_palette_limits_and_format():
    with pytest.raises(ValueError):
        ObjElement(desc="d", color_palette=["#000000"] * 6)
    with pytest.raises(ValueError):
        ObjElement(desc="d", color_palette=["#fff"])
    with pytest.raises(ValueError):
        ArtStyle(aesthetics="a", lighting="l", medium="m", art_style="s", color_palette=["#000000"] * 17)


def test_loads_rejects_with_all_diagnostics():
    with pytest.raises(CaptionError) as info:
        loads('{"compositional_deconstruction":{"elements":[{"type":"obj","bbox":[5,0,1,1],"desc":"d"}],"background":"b"}}')
    assert info.value.report.codes()[:2] == ["CK203", "CK304"]
    assert str(info.value).startswith("invalid caption: /compositional_deconstruction: CK203")


def test_loads_rejects_what_the_verifier_lets_through():
    # the verifier accepts a numeric desc; the typed model does not
    with pytest.raises(CaptionError) as info:
        loads('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":5}]}}')
    assert "CK401" in info.value.report.codes()
    assert "/compositional_deconstruction/elements/0/desc" in str(info.value)


def test_dumps_pretty_and_lone_surrogates():
    data = {"compositional_deconstruction": {"background": "a\ud800b", "elements": []}}
    # orjson refuses lone surrogates; the stdlib form is used instead
    assert dumps(data) == json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    assert dumps(data, pretty=True).startswith('{\n  "compositional_deconstruction": {')


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(caption_dicts(max_elements=6), st.lists(st.text(), max_size=3))
def test_canonical_clean_is_the_stdlib_canonical_form_of_clean_data(data, prose):
    # any prose (control characters, "f/2.0", "null", lone surrogates), any key order of the input
    from captionkit._json import canonical_clean, canonical_order

    for element, text in zip(data["compositional_deconstruction"]["elements"], prose):
        element["desc"] = text
    shuffled = dict(reversed(list(data.items())))
    expected = json.dumps(canonical_order(data), separators=(",", ":"), ensure_ascii=False)
    assert canonical_clean(shuffled) == expected == dumps(data)
