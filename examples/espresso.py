"""An espresso cup and a chalkboard price sign on a café counter.

A photo caption whose text element keeps literal non-ASCII characters (é, €).

Run it to print the canonical caption: ``python examples/espresso.py > examples/espresso.json``.
"""

from __future__ import annotations

import sys

from captionkit.builder import CaptionBuilder


def build() -> CaptionBuilder:
    """The espresso caption as a builder."""
    return (
        CaptionBuilder()
        .describe(
            "A white espresso cup on a marble café counter next to a small chalkboard price sign, "
            "photographed from a low three-quarter angle."
        )
        .photo("50mm lens, f/2.8")
        .aesthetics("clean, calm, editorial")
        .lighting("soft daylight from a window on the left, gentle falloff")
        .palette("#F4F1EC", "#2B2B2B", "#C8A27A", "#6E7F6A")
        .background(
            "A pale grey marble counter running through a quiet café interior with wooden shelves "
            "along the back wall and a bright window far behind."
        )
        .obj(
            (
                "A white glazed ceramic espresso cup on a matching saucer, filled with dark coffee "
                "under a layer of light brown crema, a small polished steel spoon resting on the "
                "saucer rim beside the handle."
            ),
            box=[540, 180, 840, 520],
        )
        .obj(
            (
                "A small A-frame chalkboard sign with a thin natural pine frame and brass hinges, "
                "standing upright on the counter to the right of the cup, its black slate surface "
                "lightly smudged with old chalk dust."
            ),
            box=[200, 600, 620, 900],
        )
        .text(
            "ESPRESSO\n2,50 €",
            (
                "White hand-lettered chalk writing in two centred lines on the chalkboard sign, a "
                "tall condensed capital word above a smaller thinner price line, the strokes "
                "slightly uneven and dusty like real chalk on slate."
            ),
            box=[260, 640, 560, 860],
        )
    )


if __name__ == "__main__":
    sys.stdout.reconfigure(encoding="utf-8")
    sys.stdout.write(build().dumps() + "\n")
