"""A flat vector concert poster for a 1024x1536 frame.

An art-style caption whose sun is a true circle: the layout helper makes it square
in pixels on this frame.

Run it to print the canonical caption: ``python examples/tides_poster.py > examples/tides_poster.json``.
"""

from __future__ import annotations

import sys

from captionkit.builder import CaptionBuilder
from captionkit.layout import Frame

FRAME = Frame.parse("1024x1536")
"""The output size the layout was made for."""


def build() -> CaptionBuilder:
    """The tides poster caption as a builder."""
    return (
        CaptionBuilder()
        .describe(
            "A flat vector concert poster showing a large orange sun rising over stylised navy "
            "waves, with a bold stacked title across the top."
        )
        .art("flat vector shapes, hard edges, geometric sans-serif typography")
        .aesthetics("bold, minimal, retro")
        .lighting("flat, even illumination")
        .medium("graphic_design")
        .palette("#0B1D3A", "#F26B1D", "#F5E6C8", "#1F4E79")
        .background("A solid deep navy field filling the whole poster.")
        .obj(
            (
                "A perfect circle of saturated orange representing a rising sun, its lower edge "
                "partly hidden behind the wave bands, with three thin concentric rings in pale "
                "cream drawn around it at even spacing."
            ),
            # square in pixels on this frame: x-span 300 and y-span 200 are both 307 px
            box=FRAME.circle((500, 520), diameter_px=307.2),
        )
        .obj(
            (
                "Five horizontal bands of stylised waves in alternating navy and steel blue, each "
                "band a row of smooth scalloped curves, stacked from the middle of the poster down "
                "to the bottom edge."
            ),
            box=[580, 0, 1000, 1000],
        )
        .text(
            "SUMMER\nTIDES",
            (
                "Huge heavy geometric sans-serif capitals in cream, set in two tightly stacked "
                "lines with very little line spacing, centred across the top of the poster and "
                "spanning most of its width above the sun."
            ),
            box=[60, 100, 300, 900],
            palette=["#F5E6C8"],
        )
    )


if __name__ == "__main__":
    sys.stdout.reconfigure(encoding="utf-8")
    sys.stdout.write(build().dumps() + "\n")
