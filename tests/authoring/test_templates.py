"""Templates scaffold clean captions on every preset size, with shapes that survive the aspect."""

from __future__ import annotations

import pytest

from captionkit.compat import CaptionVerifier
from captionkit.layout import PRESETS
from captionkit.templates import DEFAULT_FRAMES, TEMPLATES, template
from captionkit.verifier import verify


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@pytest.mark.parametrize("size", sorted(PRESETS))
def test_templates_are_clean_on_every_preset(name, size):
    caption = template(name, PRESETS[size]).build()
    text = caption.dumps()
    assert CaptionVerifier().verify_raw(text) == []
    assert [d.code for d in verify(text)] == []  # lints included


def test_poster_sun_is_round_on_any_frame():
    for frame in PRESETS.values():
        sun = template("poster", frame).build().compositional_deconstruction.elements[1].bbox
        assert frame.pixel_aspect(sun) == pytest.approx(1.0, abs=0.02)


def test_default_frames_cover_every_template():
    assert set(DEFAULT_FRAMES) == set(TEMPLATES)
