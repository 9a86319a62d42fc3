"""The root of captionkit's exceptions.

Each area has its own subclass, like httpx's ``HTTPError`` tree:
:class:`~captionkit.diagnostics.CaptionError` (a caption failed verification),
:class:`~captionkit.magic.errors.MagicPromptError` (expanding an idea),
:class:`~captionkit.render.RenderError` (rendering) and
:class:`~captionkit._sources.SourceError` (reading a caption source). So one
``except captionkit.CaptionkitError`` catches every error captionkit raises on
purpose, and nothing else.

>>> issubclass(CaptionkitError, Exception)
True
"""

from __future__ import annotations

__all__ = ["CaptionkitError"]


class CaptionkitError(Exception):
    """Base class of every error captionkit raises on purpose; the message is one line."""
