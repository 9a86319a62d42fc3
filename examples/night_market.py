"""A rain-soaked cyberpunk night-market alley in Tokyo, for a 1536x1024 frame.

A dense ten-element photo caption with signs in English and Japanese.

Run it to print the canonical caption: ``python examples/night_market.py > examples/night_market.json``.
"""

from __future__ import annotations

import sys

from captionkit.builder import CaptionBuilder


def build() -> CaptionBuilder:
    """The night market caption as a builder."""
    return (
        CaptionBuilder()
        .describe(
            "A rain-soaked cyberpunk night-market alley in Tokyo seen at eye level, a glowing ramen "
            "stall on the left with a hooded customer, steam and paper lanterns, neon signs in "
            "English and Japanese and a chalk price board."
        )
        .photo("35mm lens at eye level, f/2.0, sharp focus on the stall")
        .aesthetics("cinematic, dense, rain-slicked, neon-noir")
        .lighting(
            "magenta and cyan neon signs and red paper lanterns reflecting off wet asphalt, a "
            "single fluorescent tube inside the stall"
        )
        .palette("#0B0E1A", "#FF2E88", "#19E6F0", "#E0242C", "#F6B53A", "#2A2F45", "#D9D4C7")
        .background(
            "A narrow alley between soaked concrete buildings at night, wet black asphalt full of "
            "puddles and coloured reflections, tangled power cables overhead, light rain falling, a "
            "dim street receding into mist at the far end."
        )
        .obj(
            (
                "A compact ramen stall built from dark weathered wood with a corrugated steel roof, "
                "a short noren curtain of indigo cloth hanging from its front beam, a steel counter "
                "holding two large stock pots, stacked ceramic bowls and a rack of ladles under a "
                "single fluorescent tube."
            ),
            box=[330, 40, 900, 560],
            palette=["#3B2A20", "#2B3A67", "#C9CED6"],
        )
        .obj(
            (
                "A customer in a black waterproof hooded jacket sitting on a round wooden stool at "
                "the stall counter, seen from behind and slightly to the right, hood up and "
                "glistening with rain, a clear plastic umbrella closed and leaning against the "
                "stool."
            ),
            box=[420, 300, 960, 470],
            palette=["#111318", "#5A6270"],
        )
        .obj(
            (
                "Thick white steam rising in soft billowing columns from the two stock pots on the "
                "stall counter, drifting upward past the noren curtain and catching the pink and "
                "cyan neon glow as it thins out under the roof edge."
            ),
            box=[260, 120, 520, 420],
        )
        .obj(
            (
                "A string of eight round red paper lanterns with black painted bands hanging in a "
                "gentle curve across the alley from the stall roof to the building on the right, "
                "each glowing from a bulb inside, rain beading on their ribbed paper surfaces."
            ),
            box=[120, 20, 330, 980],
            palette=["#E0242C", "#F6B53A", "#1A1A1A"],
        )
        .text(
            "NIGHT MARKET",
            (
                "Large hot-pink neon tube lettering in a rounded sans-serif, two words on one line, "
                "mounted on a black metal frame high on the right-hand building wall, glowing "
                "brightly with a soft halo on the wet wall behind."
            ),
            box=[40, 600, 200, 940],
            palette=["#FF2E88"],
        )
        .text(
            "ラーメン",
            (
                "A tall vertical neon sign in cyan, four katakana characters stacked top to bottom "
                "inside a thin rectangular frame, fixed to the right-hand wall beside a closed "
                "metal shutter, its light spilling onto the puddles below."
            ),
            box=[220, 860, 700, 960],
            palette=["#19E6F0"],
        )
        .text(
            "夜市",
            (
                "Two large brush-style kanji painted in white on a hanging red cloth banner with "
                "frayed edges, the banner swaying slightly from a bamboo pole above the alley "
                "between the lanterns and the neon sign."
            ),
            box=[260, 560, 420, 700],
            palette=["#FFFFFF", "#B0161D"],
        )
        .text(
            "OPEN 24H",
            (
                "Small white block capitals printed across the indigo noren curtain at the front of "
                "the ramen stall, evenly spaced in one line, slightly creased where the fabric "
                "folds between the curtain panels."
            ),
            box=[330, 130, 400, 450],
            palette=["#FFFFFF"],
        )
        .text(
            "醤油ラーメン ¥900\n味噌ラーメン ¥950\nEXTRA EGG ¥150",
            (
                "Hand-written chalk lettering in three left-aligned lines on a black A-frame board "
                "standing on the wet ground to the right of the stall, mixing Japanese dish names "
                "and English words with yen prices, the strokes slightly smudged by rain."
            ),
            box=[560, 580, 880, 780],
            palette=["#EDEDED", "#1C1C1C"],
        )
        .text(
            "NO PARKING",
            (
                "Faded yellow stencilled capitals painted on the asphalt near the bottom edge of "
                "the frame, partly covered by a shallow puddle that reflects the pink neon, the "
                "paint cracked and worn along the letter edges."
            ),
            box=[900, 610, 960, 760],
            palette=["#E8C547"],
        )
    )


if __name__ == "__main__":
    sys.stdout.reconfigure(encoding="utf-8")
    sys.stdout.write(build().dumps() + "\n")
