"""An immutable, chaining caption builder.

Every method returns a new :class:`CaptionBuilder`; the one it was called on is
unchanged, so a shared base can be specialised any number of times. Nothing is
checked while chaining: :meth:`CaptionBuilder.build` validates once and either
returns the frozen :class:`~captionkit.models.Caption` or raises one
:class:`~captionkit.diagnostics.CaptionError` carrying every diagnostic.

Colours may be written in any notation :func:`captionkit.palette.to_hex`
accepts (``"#1b1b2f"``, ``"#FFF"``, ``"navy"``, ``"rgb(...)"``); boxes may be a
:class:`captionkit.layout.Box`, a :class:`captionkit.models.BBox` or four ints
``[y_min, x_min, y_max, x_max]``.

>>> base = (
...     CaptionBuilder()
...     .describe("A red kite over a green hill.")
...     .background("A green hill under a pale blue sky.")
... )
>>> kite = base.obj("A red diamond kite with a long ribbon tail.", box=[100, 400, 300, 600])
>>> sign = base.text("FLY", "Bold white sans-serif capitals across the sky.", box=[50, 100, 150, 900])
>>> len(kite.build().compositional_deconstruction.elements), len(base.build().compositional_deconstruction.elements)
(1, 0)
>>> sign.dumps()
'{"high_level_description":"A red kite over a green hill.","compositional_deconstruction":{"background":"A green hill under a pale blue sky.","elements":[{"type":"text","bbox":[50,100,150,900],"text":"FLY","desc":"Bold white sans-serif capitals across the sky."}]}}'
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import orjson

from captionkit._json import remember_text
from captionkit.compat import NON_ASCII_UNICODE_ESCAPE_RE, ensure_ascii_findings
from captionkit.diagnostics import CaptionError, Diagnostic, Report, Severity
from captionkit.layout import Box
from captionkit.models import BBox, Caption
from captionkit.palette import to_hex
from captionkit.rules import RULES
from captionkit.verifier import check, verify

__all__ = ["CaptionBuilder"]

# captionkit's own checks for prose that is not a string or is empty: the
# official verifier lets them through, the builder does not.
_PROSE_CODES = frozenset({"CK401", "CK402"})

BoxLike = Any  # Box | BBox | Sequence[int]
ColorLike = Any  # str in any notation, or an (r, g, b) tuple


# Immutable records as named tuples: a chain makes one state per call, and a tuple is made
# (and _replace'd) several times faster than a frozen dataclass.
class _Element(NamedTuple):
    type: str
    desc: Any
    text: Any = None
    box: Any = None
    palette: tuple[Any, ...] | None = None


class _State(NamedTuple):
    description: Any = None
    branch: str | None = None  # "photo", "art" or None (no style block)
    aesthetics: Any = None
    lighting: Any = None
    photo: Any = None
    medium: Any = None
    art_style: Any = None
    palette: tuple[Any, ...] | None = None
    background: Any = None
    elements: tuple[_Element, ...] = ()


def _box_data(box: BoxLike) -> Any:
    """Boxes become the wire list; anything else is passed on for the verifier to judge."""
    if box is None:
        return None
    if type(box) is list:  # the usual case: four ints, copied as every other iterable is
        return list(box)
    if isinstance(box, Box):
        return list(box.ints())
    if isinstance(box, BBox):
        return box.to_list()
    if isinstance(box, (str, bytes)) or not isinstance(box, Iterable):
        return box
    return list(box)


class CaptionBuilder:
    """Build a caption step by step; every method returns a new builder.

    >>> CaptionBuilder().background("A white wall.").dumps()
    '{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}'
    """

    __slots__ = ("_state",)

    def __init__(self) -> None:
        self._state = _State()

    @classmethod
    def _with(cls, state: _State) -> CaptionBuilder:
        new = cls.__new__(cls)
        new._state = state
        return new

    def _replace(self, **changes: Any) -> CaptionBuilder:
        return self._with(self._state._replace(**changes))

    @classmethod
    def from_caption(cls, caption: Caption | dict[str, Any]) -> CaptionBuilder:
        """Start from an existing caption (a model or plain data) to change it.

        >>> cap = CaptionBuilder().background("A wall.").obj("A clock.").build()
        >>> CaptionBuilder.from_caption(cap).obj("A calendar.").build().compositional_deconstruction.elements[1].desc
        'A calendar.'
        """
        data = caption.to_dict() if hasattr(caption, "to_dict") else dict(caption)
        sd = data.get("style_description")
        cd = data.get("compositional_deconstruction") or {}
        state = _State(description=data.get("high_level_description"))
        if isinstance(sd, dict):
            state = state._replace(
                branch="photo" if "photo" in sd else "art",
                aesthetics=sd.get("aesthetics"),
                lighting=sd.get("lighting"),
                photo=sd.get("photo"),
                medium=sd.get("medium"),
                art_style=sd.get("art_style"),
                palette=tuple(sd["color_palette"]) if "color_palette" in sd else None,
            )
        elements = tuple(
            _Element(
                type=e.get("type"),
                desc=e.get("desc"),
                text=e.get("text"),
                box=e.get("bbox"),
                palette=tuple(e["color_palette"]) if "color_palette" in e else None,
            )
            for e in cd.get("elements", ())
        )
        return cls._with(state._replace(background=cd.get("background"), elements=elements))

    # -- the whole image ------------------------------------------------------

    def describe(self, text: str) -> CaptionBuilder:
        """Set the high-level description: one or two sentences about the whole image.

        >>> CaptionBuilder().describe("A lighthouse at dusk.").background("A calm sea.").build().high_level_description
        'A lighthouse at dusk.'
        """
        return self._replace(description=text)

    def background(self, text: str) -> CaptionBuilder:
        """Set the background: the scene shell before anything is placed in it.

        >>> CaptionBuilder().background("A bare concrete studio wall.").build().compositional_deconstruction.background
        'A bare concrete studio wall.'
        """
        return self._replace(background=text)

    # -- style ------------------------------------------------------------------

    def photo(self, camera: str) -> CaptionBuilder:
        """Make it a photograph and set the camera and lens (the ``photo`` key).

        Switches the style to the photo branch (dropping any ``art_style``).
        ``medium`` defaults to ``"photograph"`` unless :meth:`medium` sets it.

        >>> b = CaptionBuilder().background("A street.").photo("35mm, f/1.4").aesthetics("candid").lighting("overcast")
        >>> b.build().style_description.medium
        'photograph'
        """
        return self._replace(branch="photo", photo=camera, art_style=None)

    def art(self, style: str) -> CaptionBuilder:
        """Make it a non-photographic image and set the art style (the ``art_style`` key).

        Switches the style to the art branch (dropping any ``photo``); set
        :meth:`medium` too, e.g. ``"illustration"`` or ``"3d_render"``.

        >>> b = CaptionBuilder().background("A void.").art("flat vector").medium("illustration")
        >>> b.aesthetics("bold").lighting("flat").build().style_description.art_style
        'flat vector'
        """
        return self._replace(branch="art", art_style=style, photo=None)

    def aesthetics(self, text: str) -> CaptionBuilder:
        """Set the aesthetic keywords, e.g. ``"moody, cinematic, desaturated"``.

        >>> CaptionBuilder().aesthetics("calm")._state.aesthetics
        'calm'
        """
        return self._replace(aesthetics=text)

    def lighting(self, text: str) -> CaptionBuilder:
        """Set the lighting, e.g. ``"golden hour, rim light"``.

        >>> CaptionBuilder().lighting("soft window light")._state.lighting
        'soft window light'
        """
        return self._replace(lighting=text)

    def medium(self, text: str) -> CaptionBuilder:
        """Set the medium, snake_case by convention: ``photograph``, ``illustration``, ``3d_render``.

        >>> CaptionBuilder().medium("painting")._state.medium
        'painting'
        """
        return self._replace(medium=text)

    def palette(self, *colors: ColorLike) -> CaptionBuilder:
        """Set the global palette (at most 16), most important colour first.

        Colours are normalised to uppercase ``#RRGGBB`` and exact repeats
        dropped at build time.

        >>> b = CaptionBuilder().background("A wall.").photo("50mm").aesthetics("clean").lighting("soft")
        >>> b.palette("navy", "#fff", "#FFFFFF").build().style_description.color_palette
        ('#000080', '#FFFFFF')
        """
        return self._replace(palette=tuple(colors) or None)

    def style(
        self,
        *,
        aesthetics: str,
        lighting: str,
        medium: str | None = None,
        photo: str | None = None,
        art_style: str | None = None,
        palette: Iterable[ColorLike] | None = None,
    ) -> CaptionBuilder:
        """Set the whole style block at once; give exactly one of ``photo`` or ``art_style``.

        >>> b = CaptionBuilder().background("A desk.").style(
        ...     aesthetics="clean", lighting="soft", photo="50mm lens", palette=["#eee"])
        >>> b.build().style_description.color_palette
        ('#EEEEEE',)
        """
        branch = "photo" if photo is not None else "art" if art_style is not None else None
        if photo is not None and art_style is not None:
            branch = "both"
        return self._replace(
            branch=branch or "missing",
            aesthetics=aesthetics,
            lighting=lighting,
            medium=medium,
            photo=photo,
            art_style=art_style,
            palette=tuple(palette) if palette is not None else None,
        )

    def no_style(self) -> CaptionBuilder:
        """Leave out the style block (as the official magic prompt does).

        >>> CaptionBuilder().background("A wall.").photo("50mm").no_style().build().style_description is None
        True
        """
        return self._replace(
            branch=None, aesthetics=None, lighting=None, photo=None, medium=None, art_style=None, palette=None
        )

    # -- elements -----------------------------------------------------------------

    def obj(
        self, desc: str, *, box: BoxLike | None = None, palette: Iterable[ColorLike] | None = None
    ) -> CaptionBuilder:
        """Add an object or subject.

        Args:
            desc: What it is, then its major attributes, then one detail (30-60 words).
            box: Where it sits: a layout ``Box``, a ``BBox`` or ``[y_min, x_min, y_max, x_max]``.
            palette: Its own colours (at most 5).

        >>> CaptionBuilder().background("A table.").obj("A blue mug.", box=[500, 400, 700, 600], palette=["blue"]).dumps()
        '{"compositional_deconstruction":{"background":"A table.","elements":[{"type":"obj","bbox":[500,400,700,600],"desc":"A blue mug.","color_palette":["#0000FF"]}]}}'
        """
        element = _Element("obj", desc, None, box, tuple(palette) if palette is not None else None)
        return self._replace(elements=(*self._state.elements, element))

    def text(
        self,
        text: str,
        desc: str,
        *,
        box: BoxLike | None = None,
        palette: Iterable[ColorLike] | None = None,
    ) -> CaptionBuilder:
        """Add rendered text.

        Args:
            text: The literal characters, verbatim; ``\\n`` between lines.
            desc: The lettering: size, colour, typeface class, weight, position.
            box: Where it sits.
            palette: Its own colours (at most 5).

        >>> b = CaptionBuilder().background("A shop front.").text("OPEN\\n24/7", "Red neon script.", box=[100, 300, 300, 700])
        >>> b.build().compositional_deconstruction.elements[0].text
        'OPEN\\n24/7'
        """
        element = _Element("text", desc, text, box, tuple(palette) if palette is not None else None)
        return self._replace(elements=(*self._state.elements, element))

    def without_element(self, index: int) -> CaptionBuilder:
        """Remove the element at ``index`` (negative indexes count from the end).

        >>> b = CaptionBuilder().background("A shelf.").obj("A vase.").obj("A book.")
        >>> [e.desc for e in b.without_element(0).build().compositional_deconstruction.elements]
        ['A book.']
        """
        elements = list(self._state.elements)
        try:
            del elements[index]
        except IndexError:
            raise IndexError(f"no element {index}: the builder has {len(elements)}") from None
        return self._replace(elements=tuple(elements))

    @property
    def element_count(self) -> int:
        """How many elements have been added.

        >>> CaptionBuilder().obj("A cat.").obj("A dog.").element_count
        2
        """
        return len(self._state.elements)

    # -- output -------------------------------------------------------------------

    def to_data(self) -> dict[str, Any]:
        """The caption as plain data in canonical key order, *without* validating it.

        Colours that :func:`~captionkit.palette.to_hex` understands are
        normalised; anything else is passed through for :meth:`build` to report.

        >>> CaptionBuilder().background("A wall.").obj("A clock.", palette=["#fff"]).to_data()
        {'compositional_deconstruction': {'background': 'A wall.', 'elements': [{'type': 'obj', 'desc': 'A clock.', 'color_palette': ['#FFFFFF']}]}}
        """
        return self._assemble()[0]

    def _assemble(self) -> tuple[dict[str, Any], dict[tuple[Any, ...], str]]:
        s = self._state
        hints: dict[tuple[Any, ...], str] = {}
        data: dict[str, Any] = {}
        if s.description is not None:
            data["high_level_description"] = s.description
        style_set = (s.aesthetics, s.lighting, s.photo, s.medium, s.art_style, s.palette)
        if s.branch is not None or any(v is not None for v in style_set):
            # a style key without photo/art chosen still writes the block, so build() reports it
            sd: dict[str, Any] = {}
            medium = s.medium
            if s.branch == "photo" and medium is None:
                medium = "photograph"
            order = (
                ("aesthetics", "lighting", "medium", "art_style")
                if s.branch == "art"
                else ("aesthetics", "lighting", "photo", "medium", "art_style")
            )
            values = {
                "aesthetics": s.aesthetics,
                "lighting": s.lighting,
                "photo": s.photo,
                "medium": medium,
                "art_style": s.art_style,
            }
            for key in order:
                if values[key] is not None:
                    sd[key] = values[key]
            if s.palette is not None:
                sd["color_palette"] = _palette(s.palette, ("style_description", "color_palette"), hints)
            data["style_description"] = sd
        elements = []
        for i, e in enumerate(s.elements):
            base = ("compositional_deconstruction", "elements", i)
            out: dict[str, Any] = {"type": e.type}
            box = _box_data(e.box)
            if box is not None:
                out["bbox"] = box
            if e.type == "text":
                out["text"] = e.text
            out["desc"] = e.desc
            if e.palette is not None:
                out["color_palette"] = _palette(e.palette, (*base, "color_palette"), hints)
            elements.append(out)
        data["compositional_deconstruction"] = {"background": s.background, "elements": elements}
        if s.background is None:
            del data["compositional_deconstruction"]["background"]
        return data, hints

    def build(self) -> Caption:
        """Validate once and return the frozen caption.

        Two checks run: the official checks and captionkit's own on the
        caption's data, then the official checks on the exact text
        :meth:`dumps` will emit. The second catches what only the text shows:
        prose holding a literal ``\\uXXXX`` sequence (a backslash, ``u``, four
        hex digits) reads to the official verifier like an escaped non-ASCII
        character, and it warns unless the caption also holds a literal
        non-ASCII character. The error names the field.

        Raises:
            CaptionError: With every diagnostic in ``.report`` when the caption
                is not valid (any error, an empty prose field, a token count
                over the limit, prose that is not valid Unicode text, or text
                the official verifier warns about).

        >>> CaptionBuilder().obj("A cat.").build()
        Traceback (most recent call last):
        ...
        captionkit.diagnostics.CaptionError: invalid caption: /compositional_deconstruction: CK... 'background' must exist
        >>> CaptionBuilder().background("A sign reading 'caf\\\\u00e9'.").build()
        Traceback (most recent call last):
        ...
        captionkit.diagnostics.CaptionError: invalid caption: /compositional_deconstruction/background: CK001 ...
        >>> CaptionBuilder().describe("Café sign.").background("A sign reading 'caf\\\\u00e9'.").build().compositional_deconstruction.background
        "A sign reading 'caf\\\\u00e9'."
        """
        data, hints = self._assemble()
        if not hints:
            proven = _proven_caption(data)
            if proven is not None:
                return proven
        diagnostics = list(verify(data, lints=False))
        cd = data["compositional_deconstruction"]
        if "background" not in cd:
            # The official checks stop at a missing background; look past it so
            # that one build reports everything.
            probe = {**data, "compositional_deconstruction": {"background": "-", **cd}}
            diagnostics += [
                d
                for d in verify(probe, lints=False)
                if d not in diagnostics and d.path[:2] != ("compositional_deconstruction", "background")
            ]
        if hints:
            # A clearer message (with a "did you mean") for colours we could not
            # read; reported even where the official checks skip the palette.
            diagnostics = [
                dataclasses.replace(d, message=hints[d.path]) if d.path in hints else d for d in diagnostics
            ]
            seen = {d.path for d in diagnostics}
            bad = RULES["CK312"]
            diagnostics += [
                Diagnostic(bad.code, bad.name, message, path, bad.severity, bad.fix)
                for path, message in hints.items()
                if path not in seen
            ]
        sd = data.get("style_description")
        if isinstance(sd, dict):
            # The official check words a missing style key as a key-order error; the builder
            # knows which calls are missing, so it says that instead.
            needed = ("aesthetics", "lighting", *(("photo",) if self._state.branch == "photo" else ()))
            missing = [k for k in needed if k not in sd]
            if missing:
                calls = " and ".join(f".{k}(...)" for k in missing)
                message = f"style_description is missing {' and '.join(missing)}; add {calls}"
                diagnostics = [
                    dataclasses.replace(d, message=message) if d.path == ("style_description",) and d.code == "CK201"
                    else d
                    for d in diagnostics
                ]
        diagnostics += _lone_surrogates(data) + _escape_lookalikes(data)
        report = Report(diagnostics)
        blocking = [d for d in report if d.severity is Severity.error or d.code in _PROSE_CODES]
        if blocking:
            first = blocking[0]
            detail = None if report.errors else f"{first.pointer or '/'}: {first.code} {first.message}"
            raise CaptionError(report, detail)
        caption = Caption.from_dict(data, report=report)
        # The guarantee is about the text: verify exactly what dumps() emits.
        text_report = verify(caption.dumps(), lints=False, tokens=False)
        if text_report.errors:
            raise CaptionError(Report([*report, *text_report.errors]))
        return caption

    def dumps(self, *, pretty: bool = False) -> str:
        """Build and return the canonical JSON text (``pretty=True`` indents, for people).

        >>> CaptionBuilder().background("A wall.").dumps()
        '{"compositional_deconstruction":{"background":"A wall.","elements":[]}}'
        """
        return self.build().dumps(pretty=pretty)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CaptionBuilder) and self._state == other._state

    __hash__ = None  # type: ignore[assignment]  # boxes and palettes may hold lists

    def __repr__(self) -> str:
        s = self._state
        style = {"photo": "photo", "art": "art"}.get(s.branch or "", "no style" if s.branch is None else s.branch)
        return f"<CaptionBuilder {style}, {len(s.elements)} element{'s' * (len(s.elements) != 1)}>"


def _proven_caption(data: dict[str, Any]) -> Caption | None:
    """The caption :meth:`CaptionBuilder.build` returns for ``data``, when a fast proof shows it is valid.

    The builder writes its data in canonical key order, so the text :meth:`CaptionBuilder.dumps`
    will emit is the compact serialisation of that data. The checks run once, on that text (where
    the fast proofs take a clean canonical caption at once); when it is the canonical form and
    nothing blocks a build, the caption is validated and keeps that text for ``dumps()``. ``None``
    sends the build down the full path, which words every diagnostic; it is never a different
    verdict: the same checks run on the same caption.
    """
    try:
        # subclasses of str, int, dict or list are refused here: the full path judges them
        text = orjson.dumps(data, option=orjson.OPT_PASSTHROUGH_SUBCLASS).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):
        return None  # lone surrogates, huge ints, values that are not JSON
    report, checked = check(text, lints=False)
    if checked.canonical != text or any(d.severity is Severity.error or d.code in _PROSE_CODES for d in report):
        return None
    try:
        caption = Caption.from_dict(data, report=report)
    except CaptionError:
        return None
    remember_text(caption, text)
    return caption


def _palette(colors: Sequence[Any], path: tuple[Any, ...], hints: dict[tuple[Any, ...], str]) -> list[Any]:
    out: list[Any] = []
    for value in colors:
        try:
            color = to_hex(value)
        except ValueError as exc:
            hints[(*path, len(out))] = str(exc)
            out.append(value if isinstance(value, str) else str(value))
            continue
        if color not in out:
            out.append(color)
    return out


def _strings(value: Any, path: tuple[Any, ...] = ()) -> Iterable[tuple[tuple[Any, ...], str]]:
    """Every string value in ``value`` with its path (keys are the builder's own, never prose)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*path, index))


def _label(path: tuple[Any, ...]) -> str:
    """A field's path as people write it: ``compositional_deconstruction.elements[0].desc``."""
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _lone_surrogates(data: dict[str, Any]) -> list[Any]:
    """CK004 for each field holding a lone surrogate: no UTF-8 text, file or prompt can carry it."""
    rule = RULES["CK004"]
    out = []
    for path, value in _strings(data):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            message = (
                f"{_label(path)} holds a lone surrogate (U+{ord(value[exc.start]):04X}) at character {exc.start}, "
                "which is not a character and cannot be written as UTF-8; remove it or use the character it was "
                "meant to be part of"
            )
            out.append(Diagnostic(rule.code, rule.name, message, path, rule.severity, None))
    return out


def _escape_lookalikes(data: dict[str, Any]) -> list[Any]:
    """CK001 for each field whose prose makes the emitted text look ``ensure_ascii``-escaped.

    The official check is lexical: it counts ``\\uXXXX`` sequences of non-ASCII
    code points anywhere in the text and warns when the text holds no literal
    non-ASCII character. In canonical text such a sequence can only come from
    prose holding a backslash, ``u`` and four hex digits.
    """
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return []  # not JSON data: the other checks have reported why
    if not ensure_ascii_findings(text):
        return []
    rule = RULES["CK001"]
    out = []
    for path, value in _strings(data):
        found = NON_ASCII_UNICODE_ESCAPE_RE.search(json.dumps(value, ensure_ascii=False))
        if found is None:
            continue
        sequence = found.group()
        point = int(sequence[2:], 16)
        instead = f"write the character itself ({chr(point)!r})" if not 0xD800 <= point <= 0xDFFF else (
            "write the character itself")
        message = (
            f"{_label(path)} holds the characters {sequence}, which the official verifier reads as an escaped "
            f"non-ASCII character and warns about (ensure_ascii); {instead} or break the sequence"
        )
        out.append(Diagnostic(rule.code, rule.name, message, path, rule.severity, None))
    return out
