"""Public hypothesis strategies for Ideogram 4 captions (needs ``captionkit[testing]``).

* :func:`captions` — valid :class:`~captionkit.models.Caption` models.
* :func:`caption_dicts` — valid caption data in canonical key order.
* :func:`caption_texts` — canonical caption JSON text.
* :func:`mutants` — near-valid caption data: one or more realistic mistakes applied.
* :func:`json_values` — any JSON value (for "never raises" properties).

>>> from hypothesis import given
>>> @given(caption_texts(max_elements=3))
... def test(text):
...     from captionkit.compat import CaptionVerifier
...     assert CaptionVerifier().verify_raw(text) == []
>>> test()
"""

from __future__ import annotations

from typing import Any

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "captionkit.strategies needs hypothesis: pip install 'captionkit[testing]'"
    ) from exc

from captionkit._json import dumps
from captionkit.models import Caption

__all__ = ["bboxes", "caption_dicts", "caption_texts", "captions", "colors", "json_values", "mutants"]

_WORDS = (
    "neon", "ramen", "stall", "lantern", "rain", "alley", "glass", "copper", "steam", "hooded",
    "figure", "wooden", "sign", "red", "paper", "cup", "marble", "window", "café", "über",
    "夜市", "ラーメン", "очень", "أحمر", "🌧", "street", "light", "tall", "narrow", "bright",
)


def colors() -> st.SearchStrategy[str]:
    """Valid palette colours (uppercase ``#RRGGBB``)."""
    return st.integers(0, 0xFFFFFF).map(lambda v: f"#{v:06X}")


@st.composite
def bboxes(draw: st.DrawFn) -> list[int]:
    """Valid boxes ``[y_min, x_min, y_max, x_max]`` (edges ordered, 0-1000)."""
    y0, y1 = sorted((draw(st.integers(0, 1000)), draw(st.integers(0, 1000))))
    x0, x1 = sorted((draw(st.integers(0, 1000)), draw(st.integers(0, 1000))))
    return [y0, x0, y1, x1]


def _prose(max_words: int = 12) -> st.SearchStrategy[str]:
    words = st.lists(st.sampled_from(_WORDS) | st.text(min_size=1, max_size=8).filter(str.strip),
                     min_size=1, max_size=max_words)
    return words.map(" ".join).filter(lambda s: s.strip() != "")


def _palette(max_size: int) -> st.SearchStrategy[list[str]]:
    return st.lists(colors(), max_size=max_size, unique=True)


@st.composite
def _style(draw: st.DrawFn, allow_palette: bool) -> dict[str, Any]:
    photo = draw(st.booleans())
    sd: dict[str, Any] = {"aesthetics": draw(_prose(6)), "lighting": draw(_prose(6))}
    if photo:
        sd["photo"] = draw(_prose(6))
        sd["medium"] = "photograph"
    else:
        sd["medium"] = draw(st.sampled_from(["illustration", "3d_render", "painting", "graphic_design"]))
        sd["art_style"] = draw(_prose(6))
    if allow_palette and draw(st.booleans()):
        sd["color_palette"] = draw(_palette(16))
    return sd


@st.composite
def _element(draw: st.DrawFn, allow_bbox: bool, allow_palette: bool) -> dict[str, Any]:
    kind = draw(st.sampled_from(["obj", "text"]))
    el: dict[str, Any] = {"type": kind}
    if allow_bbox and draw(st.booleans()):
        el["bbox"] = draw(bboxes())
    if kind == "text":
        el["text"] = draw(st.lists(_prose(3), min_size=1, max_size=3).map("\n".join))
    el["desc"] = draw(_prose(20))
    if allow_palette and draw(st.booleans()):
        el["color_palette"] = draw(_palette(5))
    return el


@st.composite
def caption_dicts(
    draw: st.DrawFn,
    *,
    min_elements: int = 0,
    max_elements: int = 16,
    allow_style: bool = True,
    allow_bbox: bool = True,
    allow_palette: bool = True,
) -> dict[str, Any]:
    """Valid caption data, keys in canonical order."""
    data: dict[str, Any] = {}
    if draw(st.booleans()):
        data["high_level_description"] = draw(_prose(20))
    if allow_style and draw(st.booleans()):
        data["style_description"] = draw(_style(allow_palette))
    data["compositional_deconstruction"] = {
        "background": draw(_prose(15)),
        "elements": draw(st.lists(_element(allow_bbox, allow_palette), min_size=min_elements, max_size=max_elements)),
    }
    return data


def captions(**kwargs: Any) -> st.SearchStrategy[Any]:
    """Valid :class:`~captionkit.models.Caption` models (same options as :func:`caption_dicts`)."""
    return caption_dicts(**kwargs).map(Caption.model_validate)


def caption_texts(**kwargs: Any) -> st.SearchStrategy[str]:
    """Canonical caption JSON text (same options as :func:`caption_dicts`)."""
    return caption_dicts(**kwargs).map(dumps)


def json_values(max_leaves: int = 30) -> st.SearchStrategy[Any]:
    """Any JSON value, including NaN/Infinity floats and huge integers."""
    scalars = (
        st.none() | st.booleans() | st.integers() | st.floats()
        | st.text(max_size=10) | st.sampled_from(["obj", "text", "#FFFFFF", "#fff"])
    )
    keys = st.sampled_from(
        ["type", "bbox", "desc", "text", "color_palette", "background", "elements", "photo", "art_style",
         "medium", "aesthetics", "lighting", "high_level_description", "style_description",
         "compositional_deconstruction", "aspect_ratio"]
    ) | st.text(max_size=6)
    return st.recursive(
        scalars,
        lambda children: st.lists(children, max_size=5) | st.dictionaries(keys, children, max_size=6),
        max_leaves=max_leaves,
    )


def _shuffle_keys(draw: st.DrawFn, obj: dict[str, Any]) -> dict[str, Any]:
    keys = draw(st.permutations(list(obj)))
    return {k: obj[k] for k in keys}


_MUTATIONS = (
    "shuffle_style", "shuffle_element", "swap_cd", "lower_hex", "short_hex", "float_bbox", "reverse_bbox",
    "range_bbox", "long_palette", "bad_type", "drop_desc", "unknown_key", "aspect_ratio", "bool_bbox",
    "palette_name", "text_in_obj", "both_branches", "drop_background",
)


@st.composite
def mutants(draw: st.DrawFn, *, max_mutations: int = 3, **kwargs: Any) -> dict[str, Any]:
    """Near-valid caption data: a valid caption with 1..max_mutations realistic mistakes."""
    import copy

    data = copy.deepcopy(draw(caption_dicts(**{"min_elements": 1, **kwargs})))
    for _ in range(draw(st.integers(1, max_mutations))):
        m = draw(st.sampled_from(_MUTATIONS))
        cd = data.get("compositional_deconstruction")
        elems = cd.get("elements", []) if isinstance(cd, dict) else []
        dict_elems = [e for e in elems if isinstance(e, dict)]
        el = draw(st.sampled_from(dict_elems)) if dict_elems else None
        sd = data.get("style_description")
        if m == "shuffle_style" and isinstance(sd, dict):
            data["style_description"] = _shuffle_keys(draw, sd)
        elif m == "shuffle_element" and el is not None:
            i = elems.index(el)
            elems[i] = _shuffle_keys(draw, el)
        elif m == "swap_cd" and isinstance(cd, dict):
            data["compositional_deconstruction"] = _shuffle_keys(draw, cd)
        elif m in ("lower_hex", "short_hex", "palette_name", "long_palette"):
            target = el if el is not None and (draw(st.booleans()) or not isinstance(sd, dict)) else sd
            if isinstance(target, dict):
                pal = list(target.get("color_palette") or ["#1B1B2F"])
                if not (isinstance(pal[0], str) and len(pal[0]) == 7):  # an earlier mutation changed it
                    pal[0] = "#1B1B2F"
                if m == "lower_hex":
                    pal[0] = pal[0].lower()
                elif m == "short_hex":
                    pal[0] = "#" + pal[0][1] + pal[0][3] + pal[0][5]
                elif m == "palette_name":
                    pal[0] = draw(st.sampled_from(["navy", "red", "teal", "gold"]))
                else:
                    pal = pal + [f"#{i:06X}" for i in range(20)]
                target["color_palette"] = pal
        elif m in ("float_bbox", "reverse_bbox", "range_bbox", "bool_bbox") and el is not None:
            box = list(el.get("bbox") or [100, 100, 500, 500])
            if m == "float_bbox":
                box = [float(v) for v in box]
            elif m == "reverse_bbox":
                box = [box[2], box[3], box[0], box[1]]
            elif m == "range_bbox":
                box[draw(st.integers(0, 3))] = draw(st.sampled_from([-5, 1001, 1200]))
            else:
                box = [True, 0, False, 1]
            el["bbox"] = box
        elif m == "bad_type" and el is not None:
            el["type"] = draw(st.sampled_from(["character", "logo", "image", "bg"]))
        elif m == "drop_desc" and el is not None:
            el.pop("desc", None)
        elif m == "unknown_key" and el is not None:
            el[draw(st.sampled_from(["font", "description", "colour_palette", "z"]))] = "x"
        elif m == "aspect_ratio":
            data = {"aspect_ratio": "16:9", **data}
        elif m == "text_in_obj" and el is not None and el.get("type") == "obj":
            el["text"] = "OPEN"
        elif m == "both_branches" and isinstance(sd, dict):
            sd["photo"] = "35mm"
            sd["art_style"] = "flat"
        elif m == "drop_background" and isinstance(cd, dict):
            cd.pop("background", None)
    return data
