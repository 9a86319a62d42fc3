"""Starting points for ``captionkit new --template``: complete, valid captions to edit.

Each template is a function of the output frame, so its boxes keep their
shape on any size (a round object stays round). They follow the prompting
guide's conventions: a short high-level description, 30-60 word element
descriptions, text elements whose ``desc`` describes the lettering only.

>>> sorted(TEMPLATES)
['poster', 'product', 'scene']
>>> template("poster").build().style_description.medium
'graphic_design'
"""

from __future__ import annotations

from collections.abc import Callable

from captionkit.builder import CaptionBuilder
from captionkit.layout import PRESETS, Frame

__all__ = ["DEFAULT_FRAMES", "TEMPLATES", "template"]


def poster(frame: Frame) -> CaptionBuilder:
    """A flat graphic event poster: title, hero shape, date line and call to action.

    >>> poster(Frame(1024, 1536)).element_count
    4
    """
    sun = frame.circle((500, 470), diameter_px=0.46 * frame.short_side)
    return (
        CaptionBuilder()
        .describe(
            "A flat graphic poster for an outdoor jazz night, with a large coral sun over layered "
            "teal hills, a bold stacked title at the top and the date along the bottom."
        )
        .style(
            aesthetics="bold, minimal, mid-century modern",
            lighting="flat, even illumination with no shadows",
            medium="graphic_design",
            art_style="flat vector shapes with hard edges and a subtle paper grain, geometric sans-serif type",
            palette=["#F4EBDD", "#FF6F59", "#1E6F6B", "#0F3D3E", "#F2B134"],
        )
        .background("A plain warm cream paper field filling the whole poster from edge to edge.")
        .text(
            "JAZZ\nUNDER\nTHE SUN",
            "Very large heavy geometric sans-serif capitals in deep teal, set in three tightly stacked "
            "centred lines across the top of the poster, the lowest line slightly overlapping the top "
            "edge of the coral circle below it.",
            box=[40, 100, 300, 900],
            palette=["#0F3D3E"],
        )
        .obj(
            "A perfect flat coral circle standing for a setting sun, its lower third hidden behind the "
            "hills, with two thin concentric rings in golden yellow around it, filled with one flat "
            "colour.",
            box=sun,
            palette=["#FF6F59", "#F2B134"],
        )
        .obj(
            "Three layered bands of rolling hills in teal, dark teal and pale sage, each band a smooth "
            "flat shape with gently rounded crests, stacked from the middle of the poster down to the "
            "bottom edge and spanning its full width.",
            box=[560, 0, 1000, 1000],
            palette=["#1E6F6B", "#0F3D3E", "#A8C3A0"],
        )
        .text(
            "SAT 14 JUNE · 8 PM",
            "A single line of medium-weight geometric sans-serif capitals in warm cream with wide letter "
            "spacing, centred near the bottom of the poster on the darkest hill band, about a third the "
            "height of the title letters.",
            box=[880, 150, 940, 850],
            palette=["#F4EBDD"],
        )
    )


def product(frame: Frame) -> CaptionBuilder:
    """A studio product shot: the product on a pedestal, with its printed label.

    >>> product(Frame(1024, 1024)).build().style_description.photo
    '100mm macro lens, f/8, eye-level, centred product'
    """
    bottle = frame.anchor(
        "center", width_px=0.26 * frame.short_side, height_px=0.56 * frame.short_side
    )
    bottle = type(bottle)(bottle.top - 60, bottle.left, bottle.bottom - 60, bottle.right)
    label = bottle.inset(bottle.height * 0.38, bottle.width * 0.08)
    return (
        CaptionBuilder()
        .describe(
            "A studio product photograph of an amber glass perfume bottle with a white label, standing "
            "on a round travertine pedestal against a seamless sage backdrop."
        )
        .photo("100mm macro lens, f/8, eye-level, centred product")
        .aesthetics("clean, premium, minimal, editorial")
        .lighting("large softbox from the upper left, white bounce card on the right, soft contact shadow")
        .palette("#B7C4B1", "#E9E2D5", "#A8692A", "#F7F5F0", "#2B2B2B")
        .background(
            "A seamless matte sage-green paper backdrop curving smoothly from the floor into the wall, "
            "evenly lit with a slightly brighter area behind the product."
        )
        .obj(
            "A round pedestal of pale travertine stone with a flat polished top and straight sides, its "
            "surface showing fine natural pits and faint horizontal veins, standing in the lower middle of "
            "the frame with the bottle centred on its top.",
            box=[720, 250, 920, 750],
            palette=["#E9E2D5", "#CFC6B6"],
        )
        .obj(
            "A rectangular perfume bottle of thick amber glass with bevelled vertical edges, filled with "
            "golden liquid and capped with a tall cylindrical brushed-brass cap, standing upright on the "
            "pedestal with a crisp white paper label on its front face.",
            box=bottle,
            palette=["#A8692A", "#D9A441", "#B08D57"],
        )
        .text(
            "NORA\nEau de Parfum",
            "Two centred lines printed in black on the white label: a large thin high-contrast serif "
            "word in capitals above a much smaller light italic serif line, both with generous letter "
            "spacing.",
            box=label,
            palette=["#2B2B2B", "#F7F5F0"],
        )
    )


def scene(frame: Frame) -> CaptionBuilder:
    """A street photograph: a cyclist passing a café with a painted sign.

    >>> [e.type for e in scene(Frame(1536, 1024)).build().compositional_deconstruction.elements]
    ['obj', 'obj', 'text', 'obj']
    """
    return (
        CaptionBuilder()
        .describe(
            "A candid street photograph of a young woman riding a green city bicycle past a small corner "
            "café with a hand-painted sign, on a quiet cobbled street in the morning."
        )
        .photo("35mm lens, f/4, eye-level, off-centre framing")
        .aesthetics("candid, natural, documentary")
        .lighting("soft overcast daylight, neutral white balance, gentle shadows")
        .palette("#8C8C84", "#2F5D50", "#C9B79C", "#1F1F1F", "#D8D4CC")
        .background(
            "A quiet cobbled street lined with pale stone buildings under an overcast sky, the stones "
            "still damp with small shallow puddles, and a row of shuttered shop fronts fading into the "
            "distance."
        )
        .obj(
            "A corner café front with a dark green wooden frame, large clean windows showing small round "
            "tables inside, a striped cream awning above the door and two empty bistro chairs beside a "
            "potted olive tree on the pavement.",
            box=[120, 520, 760, 1000],
            palette=["#2F5D50", "#C9B79C"],
        )
        .obj(
            "A young woman with light brown skin and a short black bob, wearing a mustard wool coat, dark "
            "jeans and white sneakers, riding a green step-through city bicycle with a wicker front basket "
            "holding a paper bag of bread, looking ahead with a calm expression.",
            box=[300, 180, 900, 520],
            palette=["#D4A017", "#2F5D50", "#1F1F1F"],
        )
        .text(
            "Café Lumière",
            "Elegant hand-painted cream script lettering with a thin gold outline on the dark green fascia "
            "board above the café windows, centred over the door and running most of the fascia's width.",
            box=[140, 560, 220, 960],
            palette=["#F4EBDD", "#C9A227"],
        )
        .obj(
            "A round black cast-iron bollard with a domed top, a thin brass band near the crown and a few "
            "small scuffs of bare metal on its base, standing alone at the kerb edge in the lower left "
            "foreground.",
            box=[700, 40, 960, 120],
            palette=["#1F1F1F", "#B08D57"],
        )
    )


TEMPLATES: dict[str, Callable[[Frame], CaptionBuilder]] = {
    "poster": poster,
    "product": product,
    "scene": scene,
}
"""Template name -> function of the frame returning a ready builder."""

DEFAULT_FRAMES: dict[str, Frame] = {
    "poster": PRESETS["portrait"],
    "product": PRESETS["square"],
    "scene": PRESETS["landscape"],
}
"""The frame each template is designed for."""


def template(name: str, frame: Frame | str | tuple[int, int] | None = None) -> CaptionBuilder:
    """The builder for a named template, laid out for ``frame`` (default: the template's own).

    Raises:
        ValueError: An unknown template name or a bad frame.

    >>> template("scene", "1920x1088").element_count
    4
    >>> template("flyer")
    Traceback (most recent call last):
    ...
    ValueError: unknown template 'flyer'; choose one of poster, product, scene
    """
    if name not in TEMPLATES:
        raise ValueError(f"unknown template {name!r}; choose one of {', '.join(TEMPLATES)}")
    return TEMPLATES[name](DEFAULT_FRAMES[name] if frame is None else Frame.of(frame))
