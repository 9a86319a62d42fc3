"""The one structural walk shared by the compat verifier and the diagnostics API.

The walk follows the official verifier's check order and early returns exactly
and records, for every finding, a tuple ``(code, path, message)``: ``code`` is
captionkit's rule code, ``path`` the location as a tuple of keys and indices,
and ``message`` the official warning text, byte for byte.

``fast=True`` is used when the value came from orjson rather than
``json.loads``. orjson turns integers beyond 64 bits into floats, so wherever
the walk would *look at* a float (its type name or its text reaches a message,
or it decides between two bbox messages) it raises :class:`NeedExactParse` and
the caller re-parses with the standard library.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable
from itertools import chain
from typing import Any, TypeVar

from captionkit import _spec

Finding = tuple[str, tuple[Any, ...], str]

# The root order is not checked by the verifier, but it is the canonical one.
# The schema, as the walk names it; every value comes from captionkit._spec.
ROOT_KEY_ORDER = _spec.ROOT_KEY_ORDER
TOP_LEVEL_KNOWN_KEYS = _spec.TOP_LEVEL_KNOWN_KEYS
STYLE_KEY_ORDER_PHOTO = _spec.STYLE_KEY_ORDER["photo"]
STYLE_KEY_ORDER_NON_PHOTO = _spec.STYLE_KEY_ORDER["art_style"]
COMPOSITION_KEY_ORDER = _spec.COMPOSITION_KEY_ORDER
ELEMENT_KEY_ORDER_OBJ = _spec.ELEMENT_KEY_ORDER["obj"]
ELEMENT_KEY_ORDER_TEXT = _spec.ELEMENT_KEY_ORDER["text"]
STYLE_KNOWN_KEYS = _spec.STYLE_KNOWN_KEYS
ELEMENT_KNOWN_KEYS = _spec.ELEMENT_KNOWN_KEYS
ELEMENT_TYPES = _spec.ELEMENT_TYPES
BBOX_MIN = _spec.BBOX_MIN
BBOX_MAX = _spec.BBOX_MAX
STYLE_PALETTE_MAX = _spec.STYLE_PALETTE_MAX
ELEMENT_PALETTE_MAX = _spec.ELEMENT_PALETTE_MAX

# repr(frozenset({"obj", "text"})) under PYTHONHASHSEED=0 on CPython 3.11; fixed so
# that output never changes between runs. The walk takes the rendering as an
# argument (compat.CaptionVerifier(live_types=True) passes the live one).
ELEMENT_TYPES_REPR = "frozenset({'text', 'obj'})"

_HEX = frozenset(_spec.HEX_DIGITS)

# Precomputed expected tuples, keyed by which optional keys are present.
_STYLE_EXPECTED = {
    ("photo", False): STYLE_KEY_ORDER_PHOTO[:4],
    ("photo", True): STYLE_KEY_ORDER_PHOTO,
    ("art_style", False): STYLE_KEY_ORDER_NON_PHOTO[:4],
    ("art_style", True): STYLE_KEY_ORDER_NON_PHOTO,
}
_ELEMENT_EXPECTED = {
    (t, has_bbox, has_palette): tuple(
        k
        for k in (ELEMENT_KEY_ORDER_OBJ if t == "obj" else ELEMENT_KEY_ORDER_TEXT)
        if (k != "bbox" or has_bbox) and (k != "color_palette" or has_palette)
    )
    for t in ("obj", "text")
    for has_bbox in (False, True)
    for has_palette in (False, True)
}


# Fast paths: key tuples that are exactly canonical, mapped to the element type
# they require (elements) or to True (style). A caption whose objects all hit
# these tables, with well-formed boxes and palettes, has no findings at all.
_CANONICAL_STYLE_KEYS = frozenset(_STYLE_EXPECTED.values())
_MISSING = object()
_HEX_TEXT = b"#,0123456789ABCDEF"


def hex_entries_ok(entries: list[Any]) -> bool:
    """True when every entry is an uppercase ``#RRGGBB`` string (a few C-level passes over one join)."""
    n = len(entries)
    if not n:
        return True
    try:
        joined = ",".join(entries).encode("utf-8")
    except (TypeError, UnicodeError):
        return False
    # Commas exactly at 8k+7 (the n-1 separators, none inside an entry) cut the text into
    # 7-character entries; each starts with the only '#' it holds, the rest are hex digits.
    return (
        len(joined) == 8 * n - 1
        and not joined.translate(None, _HEX_TEXT)
        and joined.count(b",") == n - 1
        and joined.count(b"#") == n
        and joined[7::8] == b"," * (n - 1)
        and joined[::8] == b"#" * n
    )


def _palette_ok(palette: Any, limit: int) -> bool:
    return type(palette) is list and len(palette) <= limit and hex_entries_ok(palette)


_LIST_ONLY = {list}
# canonical element key tuple -> (type it requires, has bbox, has color_palette)
_ELEMENT_SPECS = {
    expected: (t, has_bbox, has_palette) for (t, has_bbox, has_palette), expected in _ELEMENT_EXPECTED.items()
}


def _first_doubtful(elements: list[Any]) -> int:
    """Index of the first element that may have findings; ``len(elements)`` when none may.

    One tight pass with no per-element allocation beyond the key tuple; all
    palettes are checked together at the end with one join and one regex, so
    the answer is never past the first element whose palette is unchecked.
    ``type(x) is int`` excludes booleans and orjson's floats for huge integers,
    which the per-element walk handles exactly.
    """
    get_spec = _ELEMENT_SPECS.get
    palettes: list[Any] = []
    first_palette = -1
    for index, elem in enumerate(elements):
        if type(elem) is not dict:
            return first_palette if first_palette >= 0 else index
        spec = get_spec(tuple(elem))
        if spec is None or spec[0] != elem["type"]:
            return first_palette if first_palette >= 0 else index
        if spec[1]:
            bbox = elem["bbox"]
            if not (
                type(bbox) is list and len(bbox) == 4
                and type(bbox[0]) is int and type(bbox[1]) is int
                and type(bbox[2]) is int and type(bbox[3]) is int
                and BBOX_MIN <= bbox[0] <= bbox[2] <= BBOX_MAX and BBOX_MIN <= bbox[1] <= bbox[3] <= BBOX_MAX
            ):
                return first_palette if first_palette >= 0 else index
        if spec[2]:
            if first_palette < 0:
                first_palette = index
            palettes.append(elem["color_palette"])
    if not palettes:
        return len(elements)
    if set(map(type, palettes)) != _LIST_ONLY or max(map(len, palettes)) > ELEMENT_PALETTE_MAX:
        return first_palette
    return len(elements) if hex_entries_ok(list(chain.from_iterable(palettes))) else first_palette


def _style_ok(sd: Any) -> bool:
    return (
        type(sd) is dict
        and tuple(sd) in _CANONICAL_STYLE_KEYS
        and ("color_palette" not in sd or _palette_ok(sd["color_palette"], STYLE_PALETTE_MAX))
    )


_T = TypeVar("_T")


def with_room(fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)``, in a fresh thread when the caller's stack is too deep for it.

    ``json.loads`` and ``str()`` of nested lists recurse in C, counted against
    the recursion limit together with the caller's own frames: the same text
    can parse at the top of a script and fail under a deep caller. A fresh
    thread starts with an empty stack, so the answer never depends on who
    calls. Exceptions are raised in the caller, including a ``RecursionError``
    that a fresh stack could not avoid either.

    >>> with_room(sum, [1, 2, 3])
    6
    """
    try:
        return fn(*args)
    except RecursionError:
        pass
    result: list[Any] = []
    done = _thread.allocate_lock()
    done.acquire()

    def run() -> None:
        try:
            result.append((True, fn(*args)))
        except BaseException as exc:  # handed to the caller below
            result.append((False, exc))
        finally:
            done.release()

    _thread.start_new_thread(run, ())
    done.acquire()
    ok, value = result[0]
    if ok:
        return value
    raise value


def _text_of(value: Any) -> str:
    """``str(value)`` as an f-string renders it; deep nesting gets a fresh stack (see :func:`with_room`)."""
    if type(value) is str:
        return value
    return with_room(format, value, "")


class NeedExactParse(Exception):
    """Raised in fast mode when a float would influence the output."""


def is_hex_color(value: object) -> bool:
    """True when ``value`` is an uppercase ``#RRGGBB`` string, as the verifier demands."""
    return isinstance(value, str) and len(value) == 7 and value[0] == "#" and _HEX.issuperset(value[1:])


def style_expected(sd: dict[str, Any]) -> tuple[str, ...]:
    """Expected key tuple for a style object (raises ValueError when ambiguous, like the official)."""
    has_photo = "photo" in sd
    if has_photo == ("art_style" in sd):
        raise ValueError
    return _STYLE_EXPECTED[("photo" if has_photo else "art_style", "color_palette" in sd)]


def element_expected(elem: dict[str, Any]) -> tuple[str, ...]:
    """Expected key tuple for an element (raises ValueError when ``type`` is missing or unknown)."""
    t = elem.get("type")
    if t.__class__ is not str or t not in ELEMENT_TYPES:
        raise ValueError
    return _ELEMENT_EXPECTED[(t, "bbox" in elem, "color_palette" in elem)]


def _type_name(value: object, fast: bool) -> str:
    if fast and value.__class__ is float:
        raise NeedExactParse
    return type(value).__name__


def _order(
    obj: dict[str, Any], expected: tuple[str, ...], path: tuple[Any, ...], label: str, code: str,
    out: list[Finding],
) -> None:
    keys = tuple(obj)
    if keys == expected:
        return
    present = tuple([k for k in keys if k in expected])
    if present != expected:
        out.append((code, path, f"{label}: key order is {present!r}, expected {expected!r}"))
    extra = [k for k in keys if k not in expected]
    if extra:
        out.append(
            (_NOT_ALLOWED[code], path, f"{label}: keys {extra!r} are not allowed in this context")
        )


_NOT_ALLOWED = {"CK201": "CK202", "CK203": "CK204", "CK205": "CK206"}


def _unknown(
    obj: dict[str, Any], known: frozenset[str], path: tuple[Any, ...], label: str, code: str, out: list[Finding]
) -> None:
    if known.issuperset(obj):
        return
    unknown = [k for k in obj if k not in known]
    out.append((code, path, f"{label}: unknown keys {unknown!r} (not in schema)"))


def _palette(
    palette: Any, path: tuple[Any, ...], label: str, limit: int, fast: bool, out: list[Finding]
) -> None:
    if not isinstance(palette, list):
        out.append(("CK310", path, f"{label}: expected a list"))
        return
    if len(palette) > limit:
        out.append(
            ("CK311", path, f"{label}: too many colors ({len(palette)}), expected at most {limit}")
        )
        return
    for j, value in enumerate(palette):
        if not is_hex_color(value):
            if fast and not isinstance(value, (str, int, type(None))):
                raise NeedExactParse  # floats, or containers that may hold them
            out.append(
                ("CK312", (*path, j), f"{label}[{j}]: '{_text_of(value)}' is not a valid #RRGGBB hex color")
            )


def check_palette(palette: list[Any], path: tuple[Any, ...], label: str, limit: int, out: list[Finding]) -> None:
    """The official palette check on an exactly parsed list (used by the canonical fast path)."""
    _palette(palette, path, label, limit, False, out)


def check_key_order(obj: dict[str, Any], expected: tuple[str, ...], label: str, out: list[Finding]) -> None:
    """The official key-order and not-allowed checks for an object labelled ``label``."""
    _order(obj, expected, (), label, "CK201", out)


def check_unknown_keys(obj: dict[str, Any], known: frozenset[str], label: str, out: list[Finding]) -> None:
    """The official unknown-keys check for an object labelled ``label``."""
    _unknown(obj, known, (), label, "CK102", out)


def check_bbox(bbox: list[Any], i: int, out: list[Finding]) -> None:
    """The official bbox check of element ``i`` on an exactly parsed list."""
    _bbox(bbox, i, False, out)


_INT_TYPES = frozenset({int, bool})  # bool is an int to the official isinstance check


def _bbox(bbox: Any, i: int, fast: bool, out: list[Finding]) -> None:
    path = ("compositional_deconstruction", "elements", i, "bbox")
    label = f"elements[{i}].bbox"
    if not isinstance(bbox, list) or len(bbox) != 4:
        out.append(("CK301", path, f"{label}: expected [ymin, xmin, ymax, xmax]"))
        return
    if not _INT_TYPES.issuperset(map(type, bbox)) and not all(isinstance(v, int) for v in bbox):
        if fast and any(v.__class__ is float for v in bbox):
            raise NeedExactParse
        out.append(("CK302", path, f"{label}: all values must be int"))
        return
    if min(bbox) < BBOX_MIN or max(bbox) > BBOX_MAX:
        # str(), as the official f-string renders it (the same as repr for a plain list)
        out.append(("CK303", path, f"{label}: values must be in [{BBOX_MIN}, {BBOX_MAX}], got {bbox}"))
    ymin, xmin, ymax, xmax = bbox
    if ymin > ymax:
        out.append(("CK304", path, f"{label}: ymin ({ymin}) > ymax ({ymax})"))
    if xmin > xmax:
        out.append(("CK305", path, f"{label}: xmin ({xmin}) > xmax ({xmax})"))


def _style(sd: Any, fast: bool, out: list[Finding]) -> None:
    if _style_ok(sd):
        return
    path = ("style_description",)
    if not isinstance(sd, dict):
        out.append(("CK110", path, "style_description: expected a dict"))
        return
    _unknown(sd, STYLE_KNOWN_KEYS, path, "style_description", "CK111", out)
    has_photo = "photo" in sd
    has_art = "art_style" in sd
    if has_photo and has_art:
        out.append(
            (
                "CK112",
                path,
                "style_description: contains both 'photo' and 'art_style'; expected exactly one",
            )
        )
        return
    if not has_photo and not has_art:
        out.append(
            (
                "CK113",
                path,
                "style_description: expected one of 'photo' (for photo captions) or 'art_style' "
                "(for non-photo captions)",
            )
        )
        return
    has_palette = "color_palette" in sd
    expected = _STYLE_EXPECTED[("photo" if has_photo else "art_style", has_palette)]
    _order(sd, expected, path, "style_description", "CK201", out)
    if has_palette:
        _palette(
            sd["color_palette"],
            (*path, "color_palette"),
            "style_description.color_palette",
            STYLE_PALETTE_MAX,
            fast,
            out,
        )


def _element(elem: Any, i: int, fast: bool, out: list[Finding], types: str = ELEMENT_TYPES_REPR) -> None:
    path = ("compositional_deconstruction", "elements", i)
    label = f"elements[{i}]"
    if not isinstance(elem, dict):
        out.append(("CK130", path, f"{label}: expected a dict"))
        return
    _unknown(elem, ELEMENT_KNOWN_KEYS, path, label, "CK131", out)
    if "type" not in elem:
        out.append(("CK132", path, f"{label}: 'type' must exist"))
        return
    etype = elem["type"]
    # The official membership test crashes on unhashable values (lists, dicts);
    # here they simply count as invalid types.
    try:
        valid = etype in ELEMENT_TYPES
    except TypeError:
        valid = False
    if not valid:
        out.append(("CK133", (*path, "type"), f"{label}: 'type' must be one of {types}"))
        return
    has_bbox = "bbox" in elem
    has_palette = "color_palette" in elem
    _order(elem, _ELEMENT_EXPECTED[(etype, has_bbox, has_palette)], path, label, "CK205", out)
    if has_bbox:
        _bbox(elem["bbox"], i, fast, out)
    if has_palette:
        _palette(
            elem["color_palette"],
            (*path, "color_palette"),
            f"{label}.color_palette",
            ELEMENT_PALETTE_MAX,
            fast,
            out,
        )


def _composition(
    cd: Any, fast: bool, out: list[Finding], doubtful: list[int] | None = None, types: str = ELEMENT_TYPES_REPR
) -> None:
    path = ("compositional_deconstruction",)
    if not isinstance(cd, dict):
        out.append(("CK120", path, "compositional_deconstruction: expected a dict"))
        return
    if "background" not in cd:
        out.append(("CK121", path, "compositional_deconstruction: 'background' must exist"))
        return
    background = cd["background"]
    if not isinstance(background, str):
        out.append(
            (
                "CK122",
                (*path, "background"),
                "compositional_deconstruction.background: expected a string, got "
                + _type_name(background, fast),
            )
        )
        return
    if "elements" not in cd:
        out.append(("CK123", path, "compositional_deconstruction: 'elements' must exist"))
        return
    _order(cd, COMPOSITION_KEY_ORDER, path, "compositional_deconstruction", "CK203", out)
    elements = cd["elements"]
    if not isinstance(elements, list):
        out.append(
            ("CK124", (*path, "elements"), "compositional_deconstruction.elements: expected a list")
        )
        return
    if doubtful is not None:  # the caller proved every other element clean
        for i in doubtful:
            _element(elements[i], i, fast, out, types)
        return
    start = _first_doubtful(elements)
    # Per-element fast path: canonical key tuple, matching type, well-formed box and
    # palette. Any element that fails anything takes the full, ordered path.
    get_spec = _ELEMENT_SPECS.get
    for i in range(start, len(elements)):
        elem = elements[i]
        if type(elem) is dict:
            spec = get_spec(tuple(elem))
            if spec is not None and elem["type"] == spec[0]:
                bbox = elem.get("bbox", _MISSING)
                if bbox is _MISSING or (
                    type(bbox) is list and len(bbox) == 4
                    and type(bbox[0]) is int and type(bbox[1]) is int
                    and type(bbox[2]) is int and type(bbox[3]) is int
                    and BBOX_MIN <= bbox[0] <= bbox[2] <= BBOX_MAX and BBOX_MIN <= bbox[1] <= bbox[3] <= BBOX_MAX
                ):
                    palette = elem.get("color_palette", _MISSING)
                    if palette is _MISSING or _palette_ok(palette, ELEMENT_PALETTE_MAX):
                        continue
        _element(elem, i, fast, out, types)



def walk(
    caption: Any,
    fast: bool = False,
    *,
    doubtful: list[int] | None = None,
    composition: Callable[[Any, list[Finding]], None] | None = None,
    types: str = ELEMENT_TYPES_REPR,
) -> list[Finding]:
    """Run the official check sequence over a parsed value; return the findings in order.

    ``doubtful`` lists the only elements that may have findings, when the caller
    has proved the others clean. ``composition`` replaces the check of the
    ``compositional_deconstruction`` value (the caller checks it its own way).
    ``types`` is how the element-type set is rendered in the invalid-type
    message: a value, so verifiers with different renderings can run at once.
    """
    out: list[Finding] = []
    if not isinstance(caption, dict):
        out.append(
            ("CK101", (), f"root: expected a JSON object (dict), got {_type_name(caption, fast)}")
        )
        return out
    _unknown(caption, TOP_LEVEL_KNOWN_KEYS, (), "root", "CK102", out)
    if "high_level_description" in caption:
        hld = caption["high_level_description"]
        if not isinstance(hld, str):
            out.append(
                (
                    "CK103",
                    ("high_level_description",),
                    f"high_level_description: expected a string, got {_type_name(hld, fast)}",
                )
            )
    if "style_description" in caption:
        _style(caption["style_description"], fast, out)
    if "compositional_deconstruction" in caption:
        if composition is not None:
            composition(caption["compositional_deconstruction"], out)
        else:
            _composition(caption["compositional_deconstruction"], fast, out, doubtful, types)
    else:
        out.append(("CK104", (), "root: 'compositional_deconstruction' must exist"))
    return out
