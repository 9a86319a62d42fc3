"""The root of captionkit's exceptions.

Each area has its own subclass, like httpx's ``HTTPError`` tree:
:class:`~captionkit.diagnostics.CaptionError` (a caption failed verification),
:class:`~captionkit.magic.errors.MagicPromptError` (expanding an idea),
:class:`~captionkit.render.RenderError` (rendering, and
:class:`~captionkit.render.Cancelled` when a render is cancelled),
:class:`~captionkit._sources.SourceError` (reading a caption source),
:class:`~captionkit._io.OutputError` (writing an output, also an ``OSError``),
:class:`~captionkit.boxes.BoxConventionError` (a box that cannot be in a declared
convention) and :class:`~captionkit.fuzz.FuzzTargetError`. So one
``except captionkit.CaptionkitError`` catches every error captionkit raises on
purpose, and nothing else. (A wrong argument, such as a bad size string, is a
plain ``ValueError`` or ``TypeError``, as in the standard library.)

>>> issubclass(CaptionkitError, Exception)
True
"""

from __future__ import annotations

__all__ = ["CaptionkitError"]


class CaptionkitError(Exception):
    """Base class of every error captionkit raises on purpose; the message is one line."""
