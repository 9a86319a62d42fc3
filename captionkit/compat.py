"""A drop-in replacement for the official Ideogram 4 ``CaptionVerifier``.

:class:`CaptionVerifier` has the official public surface and returns the same
list of warning strings for any input, in the same order, with the same early
returns. Where the official class raises, this one returns a warning instead.
These are the documented divergences:

========================================================  =====================================
input                                                     official        / captionkit compat
========================================================  =====================================
an element whose ``type`` is a JSON array or object       ``TypeError``   / the usual ``'type' must be one of`` warning
an integer literal beyond CPython's digit limit           ``ValueError``  / one ``invalid JSON: ...`` warning
nesting deeper than the recursion limit                   ``RecursionError`` / one ``invalid JSON: ...`` warning
``verify_file`` on bytes that are not UTF-8               ``UnicodeDecodeError`` / one ``invalid JSON: ...`` warning
========================================================  =====================================

The ``'type' must be one of`` message prints ``frozenset({'text', 'obj'})``, the
rendering the official class gives under ``PYTHONHASHSEED=0``, so output never
changes between runs. ``CaptionVerifier(live_types=True)`` renders the set in
the current process instead, exactly like the official class.

How ``verify_raw`` stays cheap (every route ends in the same check code, so
the answer never depends on the route): the optional C locator
(``captionkit._speedups``, compiled at install when a compiler is present)
reads the text in place and either proves it the canonical form of a clean
caption, or points at the few values that may hold findings, which alone are
parsed and walked. Texts it cannot place (other layouts, unusual JSON) take the
Python routes in :mod:`captionkit._fastcheck` (typed msgspec decoding), and
the last resort is the full parse and walk.

>>> CaptionVerifier().verify_raw('{"aspect_ratio":"16:9","high_level_description":7}')
["root: unknown keys ['aspect_ratio'] (not in schema)", 'high_level_description: expected a string, got int', "root: 'compositional_deconstruction' must exist"]
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from captionkit import _walk
from captionkit._fastcheck import fast_findings, located_findings
from captionkit._json import parse_for_verify

try:  # optional C accelerator (see hatch_build.py); the answers are the same without it
    from captionkit._speedups import locate as _locate
except ImportError:  # pragma: no cover - depends on the build
    _locate = None

__all__ = ["NON_ASCII_UNICODE_ESCAPE_RE", "CaptionVerifier"]

NON_ASCII_UNICODE_ESCAPE_RE = re.compile(
    r"\\u(?:00[89a-fA-F][0-9a-fA-F]|0[1-9a-fA-F][0-9a-fA-F]{2}|[1-9a-fA-F][0-9a-fA-F]{3})"
)

_R1 = (
    "raw text: found {n} non-ASCII unicode escape(s) (e.g. {examples}{more}) and no literal "
    "non-ASCII characters. This usually means the file was saved with ensure_ascii=True; please "
    "re-save with json.dump(..., ensure_ascii=False) so non-ASCII characters are stored as literal "
    "UTF-8. Note: this is a warning, not an error, because the escapes could have been written "
    "intentionally \u2014 we cannot tell from the file alone."
)


def ensure_ascii_findings(raw_text: str, max_examples: int = 3) -> list[str]:
    """The official lexical check for ``\\uXXXX`` escapes of non-ASCII characters."""
    # Both tests below are single C-level scans (isascii is the cheaper one and
    # rules out most multilingual captions); the regex runs only when needed.
    if not raw_text.isascii() or "\\u" not in raw_text:
        return []
    matches = NON_ASCII_UNICODE_ESCAPE_RE.findall(raw_text)
    if not matches:
        return []
    unique = sorted(set(matches))
    return [
        _R1.format(
            n=len(matches),
            examples=", ".join(unique[:max_examples]),
            more=", ..." if len(unique) > max_examples else "",
        )
    ]


def _checked(raw_text: str) -> list[str]:
    """The official warnings after the ensure-ASCII scan, by the fastest exact Python route."""
    known = fast_findings(raw_text)  # typed decoding decides most texts without a full walk
    if known is not None:
        return known
    value, error, fast = parse_for_verify(raw_text)
    if error is None and fast:
        try:
            return [m for _, _, m in _walk.walk(value, True)]
        except _walk.NeedExactParse:
            value, error, _ = parse_for_verify(raw_text, exact=True)
    if error is not None:
        return [f"invalid JSON: {error}"]
    return [m for _, _, m in _walk.walk(value)]


def _pure_verify_raw(raw_text: str) -> list[str]:
    """``verify_raw`` as a build without the C accelerator answers (for tests and the benchmark)."""
    return ensure_ascii_findings(raw_text) + _checked(raw_text)


class CaptionVerifier:
    """Verify Ideogram 4 JSON captions exactly as the official verifier does.

    Args:
        live_types: render the element-type set with ``repr(frozenset(...))`` in
            this process (order depends on ``PYTHONHASHSEED``) instead of the
            fixed, reproducible ``frozenset({'text', 'obj'})``.
    """

    top_level_known_keys: ClassVar[frozenset[str]] = _walk.TOP_LEVEL_KNOWN_KEYS
    style_description_key_order_photo: ClassVar[tuple[str, ...]] = _walk.STYLE_KEY_ORDER_PHOTO
    style_description_key_order_non_photo: ClassVar[tuple[str, ...]] = (
        _walk.STYLE_KEY_ORDER_NON_PHOTO
    )
    compositional_deconstruction_key_order: ClassVar[tuple[str, ...]] = (
        _walk.COMPOSITION_KEY_ORDER
    )
    element_key_order_obj: ClassVar[tuple[str, ...]] = _walk.ELEMENT_KEY_ORDER_OBJ
    element_key_order_text: ClassVar[tuple[str, ...]] = _walk.ELEMENT_KEY_ORDER_TEXT
    style_description_known_keys: ClassVar[frozenset[str]] = _walk.STYLE_KNOWN_KEYS
    element_known_keys: ClassVar[frozenset[str]] = _walk.ELEMENT_KNOWN_KEYS
    element_types: ClassVar[frozenset[str]] = _walk.ELEMENT_TYPES
    bbox_min: ClassVar[int] = _walk.BBOX_MIN
    bbox_max: ClassVar[int] = _walk.BBOX_MAX
    style_description_palette_max: ClassVar[int] = _walk.STYLE_PALETTE_MAX
    element_palette_max: ClassVar[int] = _walk.ELEMENT_PALETTE_MAX

    def __init__(self, *, live_types: bool = False) -> None:
        self._live_types = live_types

    def __repr__(self) -> str:
        return f"CaptionVerifier(live_types={self._live_types})"

    def _live(self, check: Callable[[], list[str]]) -> list[str]:
        """Run ``check`` with the element-type set rendered as this verifier renders it."""
        if not self._live_types:
            return check()
        saved = _walk._TYPES_REPR[0]
        _walk._TYPES_REPR[0] = repr(frozenset({"obj", "text"}))
        try:
            return check()
        finally:
            _walk._TYPES_REPR[0] = saved

    def verify(self, caption: Any) -> list[str]:
        """Check an already-parsed caption; return the official warnings (empty when valid)."""
        return self._live(lambda: [m for _, _, m in _walk.walk(caption)])

    def verify_raw(self, raw_text: str) -> list[str]:
        """Check caption text: the ensure-ASCII scan, then the JSON parse, then :meth:`verify`."""
        warnings = ensure_ascii_findings(raw_text)
        if _locate is not None:
            found = _locate(raw_text)  # C: proves most texts clean, or points at the suspect values
            if found is True:
                return warnings
            if found is not None:
                known = self._live(lambda: located_findings(raw_text, found))
                if known is not None:
                    return warnings + known
        return warnings + self._live(lambda: _checked(raw_text))

    def verify_file(self, path: str | Path) -> list[str]:
        """Check a caption file read as UTF-8 text (universal newlines, BOM kept)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            return [f"invalid JSON: {exc}"]
        return self.verify_raw(text)

    @classmethod
    def check_ensure_ascii_false(cls, raw_text: str, max_examples: int = 3) -> list[str]:
        """Warn when the text holds ``\\uXXXX`` escapes of non-ASCII characters and no literal ones."""
        return ensure_ascii_findings(raw_text, max_examples)

    def _style_description_key_order(self, sd: dict[str, Any]) -> tuple[str, ...]:
        return _walk.style_expected(sd)

    def _element_key_order(self, element: dict[str, Any]) -> tuple[str, ...]:
        return _walk.element_expected(element)

    @staticmethod
    def _check_key_order(obj: dict[str, Any], expected: tuple[str, ...], path: str) -> list[str]:
        out: list[_walk.Finding] = []
        _walk.check_key_order(obj, expected, path, out)
        return [message for _, _, message in out]

    @staticmethod
    def _check_unknown_keys(obj: dict[str, Any], known: frozenset[str], path: str) -> list[str]:
        out: list[_walk.Finding] = []
        _walk.check_unknown_keys(obj, known, path, out)
        return [message for _, _, message in out]
