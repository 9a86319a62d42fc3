"""verify() and the builder on data that is not JSON: diagnostics or a CaptionError, never a bare exception."""

from __future__ import annotations

import collections
import json

from hypothesis import given
from hypothesis import strategies as st

from captionkit import CaptionBuilder, CaptionError, verify

NOT_JSON = st.one_of(
    st.binary(max_size=8),
    st.text(max_size=8).map(collections.UserString),
    st.frozensets(st.integers(), max_size=3),
    st.sets(st.integers(), max_size=3),
    st.complex_numbers(allow_nan=False),
    st.builds(object),
)

BASE = {
    "style_description": {"aesthetics": "calm", "lighting": "soft", "medium": "photo", "photo": "35mm"},
    "compositional_deconstruction": {
        "background": "a field",
        "elements": [{"type": "obj", "bbox": [100, 400, 300, 600], "desc": "a kite"}],
    },
}
PLACES = [
    ("compositional_deconstruction", "elements", 0, "desc"),
    ("compositional_deconstruction", "background"),
    ("style_description", "lighting"),
    ("compositional_deconstruction", "elements", 0, "extra"),
    ("style_description", "new_key"),
]


@given(NOT_JSON, st.sampled_from(PLACES))
def test_verify_reports_values_json_cannot_write(value, place) -> None:
    data = json.loads(json.dumps(BASE))
    target = data
    for key in place[:-1]:
        target = target[key]
    target[place[-1]] = value
    report = verify(data)
    assert len(list(report)) > 0, "a value JSON cannot write must be reported"


@given(NOT_JSON)
def test_builder_refuses_prose_json_cannot_write(value) -> None:
    base = CaptionBuilder().style(aesthetics="calm", lighting="soft", medium="photo", photo="35mm").background("a")
    try:
        base.obj(value, box=[100, 400, 300, 600]).build()
    except CaptionError as exc:
        assert "desc" in str(exc) and "\n" not in str(exc)
    else:
        raise AssertionError("built a caption from a value JSON cannot write")
