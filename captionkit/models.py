"""Typed, frozen models of an Ideogram 4 caption.

Field order is the canonical key order, so ``to_dict()`` and
:func:`captionkit.dumps` always write keys the way the verifier and the model
expect. Optional keys are left out when unset, never written as ``null``.

>>> cap = Caption(
...     high_level_description="A red kite over a green hill.",
...     compositional_deconstruction=Composition(
...         background="A green hill under a pale blue sky.",
...         elements=[ObjElement(bbox=[100, 400, 300, 600], desc="A red diamond kite.")],
...     ),
... )
>>> cap.dumps()
'{"high_level_description":"A red kite over a green hill.","compositional_deconstruction":{"background":"A green hill under a pale blue sky.","elements":[{"type":"obj","bbox":[100,400,300,600],"desc":"A red diamond kite."}]}}'
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    ValidationError,
    model_serializer,
    model_validator,
)

from captionkit import _json, _spec, _walk
from captionkit.diagnostics import CaptionError, Report, Severity
from captionkit.rules import RULES, official_diagnostic

__all__ = [
    "ArtStyle",
    "BBox",
    "Caption",
    "Color",
    "Composition",
    "Element",
    "ObjElement",
    "Palette",
    "PhotoStyle",
    "Style",
    "TextElement",
]

Color = Annotated[str, Strict(), StringConstraints(pattern=f"^{_spec.HEX_COLOR.pattern}$")]
"""An uppercase ``#RRGGBB`` colour."""

Prose = Annotated[str, Strict(), StringConstraints(min_length=1)]
Palette = tuple[Color, ...]
_Coord = Annotated[int, Strict(), Field(ge=_spec.BBOX_MIN, le=_spec.BBOX_MAX)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)


class BBox(_Frozen):
    """A box in the 0-1000 grid, written ``[y_min, x_min, y_max, x_max]`` (y first).

    >>> box = BBox.of([100, 200, 300, 600])
    >>> box.top, box.left, box.bottom, box.right, box.width, box.height
    (100, 200, 300, 600, 400, 200)
    >>> list(box)
    [100, 200, 300, 600]
    """

    top: _Coord
    left: _Coord
    bottom: _Coord
    right: _Coord

    @model_validator(mode="before")
    @classmethod
    def _from_sequence(cls, value: Any) -> Any:
        if isinstance(value, Sequence) and not isinstance(value, str):
            if len(value) != 4:
                raise ValueError("a bbox has four values [y_min, x_min, y_max, x_max]")
            return dict(zip(("top", "left", "bottom", "right"), value))
        return value

    @model_validator(mode="after")
    def _check_order(self) -> BBox:
        if self.top > self.bottom:
            raise ValueError(f"y_min ({self.top}) > y_max ({self.bottom})")
        if self.left > self.right:
            raise ValueError(f"x_min ({self.left}) > x_max ({self.right})")
        return self

    @model_serializer(mode="plain")
    def _as_list(self) -> list[int]:
        return [self.top, self.left, self.bottom, self.right]

    @classmethod
    def of(cls, values: Sequence[int]) -> BBox:
        """Build from ``[y_min, x_min, y_max, x_max]``."""
        return cls.model_validate(values)

    def __iter__(self) -> Iterator[int]:  # type: ignore[override]
        return iter((self.top, self.left, self.bottom, self.right))

    def to_list(self) -> list[int]:
        """The wire form ``[y_min, x_min, y_max, x_max]``."""
        return [self.top, self.left, self.bottom, self.right]

    @property
    def width(self) -> int:
        """x-span in 0-1000 units."""
        return self.right - self.left

    @property
    def height(self) -> int:
        """y-span in 0-1000 units."""
        return self.bottom - self.top


class PhotoStyle(_Frozen):
    """``style_description`` for photographic captions (has ``photo``)."""

    aesthetics: Prose
    lighting: Prose
    photo: Prose
    medium: Prose
    color_palette: Annotated[Palette, Field(max_length=_spec.STYLE_PALETTE_MAX)] | None = None


class ArtStyle(_Frozen):
    """``style_description`` for every other medium (has ``art_style``)."""

    aesthetics: Prose
    lighting: Prose
    medium: Prose
    art_style: Prose
    color_palette: Annotated[Palette, Field(max_length=_spec.STYLE_PALETTE_MAX)] | None = None


class ObjElement(_Frozen):
    """An object or subject in the scene."""

    type: Literal["obj"] = "obj"
    bbox: BBox | None = None
    desc: Prose
    color_palette: Annotated[Palette, Field(max_length=_spec.ELEMENT_PALETTE_MAX)] | None = None


class TextElement(_Frozen):
    """Rendered text: ``text`` holds the literal characters (``\\n`` between lines)."""

    type: Literal["text"] = "text"
    bbox: BBox | None = None
    text: Prose
    desc: Prose
    color_palette: Annotated[Palette, Field(max_length=_spec.ELEMENT_PALETTE_MAX)] | None = None


def _style_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return "photo" if "photo" in value else "art" if "art_style" in value else None
    return "photo" if isinstance(value, PhotoStyle) else "art" if isinstance(value, ArtStyle) else None


def _element_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        t = value.get("type", "obj")
        return t if t in ("obj", "text") else None
    return getattr(value, "type", None)


Style = Annotated[
    Union[Annotated[PhotoStyle, Tag("photo")], Annotated[ArtStyle, Tag("art")]],
    Discriminator(_style_tag),
]
Element = Annotated[
    Union[Annotated[ObjElement, Tag("obj")], Annotated[TextElement, Tag("text")]],
    Discriminator(_element_tag),
]


class Composition(_Frozen):
    """``compositional_deconstruction``: the scene shell and its elements, in order."""

    background: Prose
    elements: tuple[Element, ...] = ()


class Caption(_Frozen):
    """A whole Ideogram 4 caption."""

    high_level_description: Prose | None = None
    style_description: Style | None = None
    compositional_deconstruction: Composition

    def to_dict(self) -> dict[str, Any]:
        """The caption as plain JSON data in canonical key order, unset keys left out."""
        return self.model_dump(mode="json", exclude_none=True)

    def dumps(self, *, pretty: bool = False) -> str:
        """Canonical JSON text (see :func:`captionkit.dumps`)."""
        return _json.dumps(self, pretty=pretty)

    def _repr_html_(self) -> str:
        # Notebooks: layout preview and a verified / N errors badge. The notebook leaf draws it,
        # loaded by name on first display like the lazy exports (a layer may reach up only to a leaf).
        return importlib.import_module("captionkit.notebook._display").caption_html(self)

    @classmethod
    def from_dict(cls, data: Any, *, report: Report | None = None) -> Caption:
        """Validate plain JSON data into a caption.

        Raises :class:`~captionkit.diagnostics.CaptionError` when the data is not a
        valid caption, carrying ``report`` or else the official checks' findings.
        """
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            if report is None:
                report = Report([official_diagnostic(*finding) for finding in _walk.walk(data)])
            if not report.errors:
                # the official checks pass but a value cannot be a caption's (a prose string
                # holding a lone surrogate, say): the refusal still names the place and the cause
                cause = RULES["CK401"].diagnostic(_error_path(exc), exc.errors()[0]["msg"])
                report = Report([*report, replace(cause, severity=Severity.error)])
            raise CaptionError(report, _first_error(exc)) from None


def _error_path(exc: ValidationError) -> tuple[Any, ...]:
    """Where the first validation error is, as a caption path (pydantic's union tags dropped)."""
    parts: list[Any] = []
    previous: Any = None
    for p in exc.errors()[0]["loc"]:
        # drop the union tags pydantic inserts after a list index or the style key
        is_tag = p in _TAGS and (isinstance(previous, int) or previous == "style_description")
        if not is_tag:
            parts.append(p)
        previous = p
    return tuple(parts)


def _first_error(exc: ValidationError) -> str:
    path = _error_path(exc)
    message = exc.errors()[0]["msg"]
    return f"/{'/'.join(map(str, path))}: {message}" if path else message


_TAGS = {"photo", "art", "obj", "text"}
