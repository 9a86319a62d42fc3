"""Public data types for findings: :class:`Diagnostic`, :class:`Report`, :class:`Fix`.

A diagnostic is a record, like a pydantic-core error: a stable ``code``
(``CK201``), a kebab-case ``name``, a one-line ``message`` for people, the
``path`` to the offending value (a tuple, shown as a JSON Pointer), a
``severity``, an optional ``fix``, and ``official``: the exact warning the
official verifier prints for the same problem (``None`` for captionkit's own
checks).

>>> from captionkit import verify
>>> report = verify('{"compositional_deconstruction":{"elements":[],"background":"b"}}')
>>> [(d.code, d.pointer, d.severity.value) for d in report]
[('CK203', '/compositional_deconstruction', 'error'), ('CK406', '/compositional_deconstruction/elements', 'info')]
>>> report.ok
False
"""

from __future__ import annotations

import importlib
import enum
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, overload

from captionkit._errors import CaptionkitError

__all__ = ["CaptionError", "CaptionkitError", "Diagnostic", "Fix", "Report", "Severity", "pointer"]


class Severity(str, enum.Enum):
    """How much a finding matters. Only errors make the official pipeline refuse a caption."""

    error = "error"
    warning = "warning"
    info = "info"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.error: 3, Severity.warning: 2, Severity.info: 1}


@dataclass(frozen=True, slots=True)
class Fix:
    """A proposed repair. ``safe`` fixes cannot change meaning; unsafe ones need opting in."""

    description: str
    safe: bool = True

    @property
    def applicability(self) -> str:
        return "safe" if self.safe else "unsafe"


def pointer(path: Sequence[Any]) -> str:
    """Render a path tuple as a JSON Pointer (RFC 6901).

    >>> pointer(("compositional_deconstruction", "elements", 0, "bbox"))
    '/compositional_deconstruction/elements/0/bbox'
    >>> pointer(())
    ''
    """
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a caption."""

    code: str
    name: str
    message: str
    path: tuple[Any, ...] = ()
    severity: Severity = Severity.error
    fix: Fix | None = None
    official: str | None = None
    line: int | None = field(default=None, compare=False)
    column: int | None = field(default=None, compare=False)

    @property
    def pointer(self) -> str:
        """The path as a JSON Pointer."""
        return pointer(self.path)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for ``--format json`` (see ``schemas/diagnostics.schema.json``)."""
        data = asdict(self)
        data["path"] = list(self.path)
        data["pointer"] = self.pointer
        data["severity"] = self.severity.value
        data["fix"] = (
            None if self.fix is None else {"description": self.fix.description, "applicability": self.fix.applicability}
        )
        return data

    def __str__(self) -> str:
        where = self.pointer or "/"
        return f"{where}: {self.code} {self.message}"


class Report(Sequence[Diagnostic]):
    """An ordered, immutable collection of diagnostics for one caption."""

    __slots__ = ("_items",)

    def __init__(self, diagnostics: Sequence[Diagnostic] = ()) -> None:
        self._items = tuple(diagnostics)

    @overload
    def __getitem__(self, index: int) -> Diagnostic: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Diagnostic]: ...
    def __getitem__(self, index: int | slice) -> Diagnostic | Sequence[Diagnostic]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Report):
            return self._items == other._items
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"Report({list(self._items)!r})"

    def _repr_html_(self) -> str:
        # Notebooks: a table of code, path, severity, message and fix. The notebook leaf draws it,
        # loaded by name on first display like the lazy exports (a layer may reach up only to a leaf).
        return importlib.import_module("captionkit.notebook._display").report_html(self)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        """Error-severity diagnostics (the ones the official pipeline refuses)."""
        return tuple(d for d in self._items if d.severity is Severity.error)

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings and infos may remain)."""
        return not any(d.severity is Severity.error for d in self._items)

    @property
    def official(self) -> list[str]:
        """The official verifier's warnings, in order (what ``--format official`` prints)."""
        return [d.official for d in self._items if d.official is not None]

    def codes(self) -> list[str]:
        """The codes in order, for quick comparisons."""
        return [d.code for d in self._items]

    def filter(
        self,
        *,
        select: Sequence[str] | None = None,
        ignore: Sequence[str] | None = None,
        min_severity: Severity | None = None,
    ) -> Report:
        """Keep diagnostics whose code starts with a ``select`` prefix and none of ``ignore``.

        >>> Report([Diagnostic("CK201", "a", "m"), Diagnostic("CK301", "b", "m")]).filter(select=["CK2"]).codes()
        ['CK201']
        """
        items = self._items
        if select:
            items = tuple(d for d in items if _matches(d, select))
        if ignore:
            items = tuple(d for d in items if not _matches(d, ignore))
        if min_severity is not None:
            items = tuple(d for d in items if d.severity.rank >= min_severity.rank)
        return Report(items)

    def raise_for_errors(self) -> Report:
        """Raise :class:`CaptionError` when there is any error; return ``self`` otherwise."""
        if not self.ok:
            raise CaptionError(self)
        return self


def _matches(d: Diagnostic, prefixes: Sequence[str]) -> bool:
    return any(d.code.startswith(p) or d.name == p for p in prefixes)


class CaptionError(CaptionkitError, ValueError):
    """A caption failed verification. ``.report`` holds every diagnostic.

    >>> from captionkit import CaptionkitError, loads
    >>> try:
    ...     loads("[]")
    ... except CaptionkitError as exc:
    ...     type(exc).__name__, isinstance(exc, ValueError)
    ('CaptionError', True)
    """

    def __init__(self, report: Report, detail: str | None = None) -> None:
        self.report = report
        errors = report.errors or tuple(report)
        if detail is not None:
            head = detail
        elif errors:
            head = f"{errors[0].pointer or '/'}: {errors[0].code} {errors[0].message}"
        else:
            head = "invalid caption"
        more = len(errors) - 1 if detail is None else len(errors)
        suffix = f" (and {more} more)" if more > 0 else ""
        super().__init__(f"invalid caption: {head}{suffix}")
