"""captionkit: author, check, expand and render Ideogram 4 JSON captions.

The top level re-exports the everyday names. Everything here is light: the
render layer (torch, diffusers), the hypothesis strategies and the CLI load
only when used.

>>> import captionkit
>>> caption = captionkit.loads('{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}')
>>> captionkit.dumps(caption)
'{"compositional_deconstruction":{"background":"A white wall.","elements":[]}}'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from captionkit._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_EXPORTS: dict[str, str] = {
    "ArtStyle": "captionkit.models",
    "BBox": "captionkit.models",
    "Box": "captionkit.layout",
    "CaptionBuilder": "captionkit.builder",
    "CaptionError": "captionkit.diagnostics",
    "CaptionkitError": "captionkit._errors",
    "Frame": "captionkit.layout",
    "Caption": "captionkit.models",
    "Composition": "captionkit.models",
    "Diagnostic": "captionkit.diagnostics",
    "Fix": "captionkit.diagnostics",
    "FixResult": "captionkit.fixes",
    "ObjElement": "captionkit.models",
    "PhotoStyle": "captionkit.models",
    "Report": "captionkit.diagnostics",
    "Severity": "captionkit.diagnostics",
    "TextElement": "captionkit.models",
    "count_tokens": "captionkit.tokens",
    "dumps": "captionkit._json",
    "expand": "captionkit.magic",
    "fix": "captionkit.fixes",
    "is_valid": "captionkit.verifier",
    "iter_diagnostics": "captionkit.verifier",
    "loads": "captionkit._loads",
    "verify": "captionkit.verifier",
}

__all__ = sorted([*_EXPORTS, "__version__"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:  # pragma: no cover
    from captionkit._errors import CaptionkitError
    from captionkit._json import dumps
    from captionkit._loads import loads
    from captionkit.builder import CaptionBuilder
    from captionkit.diagnostics import CaptionError, Diagnostic, Fix, Report, Severity
    from captionkit.fixes import FixResult, fix
    from captionkit.layout import Box, Frame
    from captionkit.models import (
        ArtStyle,
        BBox,
        Caption,
        Composition,
        ObjElement,
        PhotoStyle,
        TextElement,
    )
    from captionkit.tokens import count_tokens
    from captionkit.verifier import is_valid, iter_diagnostics, verify
