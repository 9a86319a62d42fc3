"""``loads``: caption text into a verified, typed :class:`~captionkit.models.Caption`.

It runs the same check sequence as :func:`captionkit.verify` (lints aside), so
the compat proof decides canonical text at once, and it keeps the canonical text
it has just proved for :func:`captionkit.dumps`.
"""

from __future__ import annotations

from captionkit._json import remember_text
from captionkit.diagnostics import CaptionError
from captionkit.models import Caption
from captionkit.verifier import check

__all__ = ["loads"]


def loads(raw: str | bytes) -> Caption:
    """Parse caption text into a :class:`~captionkit.models.Caption`.

    Raises :class:`~captionkit.diagnostics.CaptionError` (a ``ValueError``) carrying
    every diagnostic when the text is not a valid caption.

    >>> loads('{"compositional_deconstruction":{"background":"b","elements":[]}}').compositional_deconstruction.background
    'b'
    """
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            report, _ = check(raw)
            raise CaptionError(report, f"not valid UTF-8: {exc}") from None
    report, checked = check(raw, lints=False)
    if not report.ok:
        raise CaptionError(report)
    caption = Caption.from_dict(checked.value, report=report)
    if checked.canonical is not None:
        remember_text(caption, checked.canonical)
    return caption
