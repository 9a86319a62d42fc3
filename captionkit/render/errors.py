"""Errors raised by the render layer. Each message is one line: the cause and the place."""

from __future__ import annotations

from captionkit._errors import CaptionkitError

__all__ = ["Cancelled", "RenderError"]


class RenderError(CaptionkitError, ValueError):
    """A render cannot start or cannot finish; the message says why in one line (a :class:`~captionkit.CaptionkitError`).

    >>> str(RenderError("size 100x100: width must be between 256 and 2048, got 100"))
    'size 100x100: width must be between 256 and 2048, got 100'
    """


class Cancelled(CaptionkitError):
    """Raised when a render is cancelled (Ctrl-C or a :class:`~captionkit.render.CancelToken`).

    Nothing is written for the image being rendered when this is raised.
    """
