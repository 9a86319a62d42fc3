"""The optional C accelerator ``captionkit._speedups``, loaded once for every module that uses it.

:data:`speedups` is the extension module, or ``None`` where it was not built
(no C compiler at install) or where the environment variable
``CAPTIONKIT_NO_EXTENSIONS`` is set to a non-empty value when captionkit is
imported: the same switch that makes an install pure Python also makes an
installed accelerator stay unused, so the pure-Python routes can be run and
measured anywhere. Every answer is the same either way.

The accelerator writes down no schema fact of its own: the limits it checks
come from :mod:`captionkit._spec` here, through ``configure``, and the token
estimate's weights from :mod:`captionkit.tokens`, through
``configure_estimate``.
"""

from __future__ import annotations

import os
from types import ModuleType

from captionkit import _spec

__all__ = ["speedups"]

speedups: ModuleType | None = None

if not os.environ.get("CAPTIONKIT_NO_EXTENSIONS"):
    try:  # see hatch_build.py
        from captionkit import _speedups as speedups
    except ImportError:  # pragma: no cover - depends on the build
        speedups = None
    else:
        try:
            speedups.configure(_spec.BBOX_MIN, _spec.BBOX_MAX, _spec.STYLE_PALETTE_MAX, _spec.ELEMENT_PALETTE_MAX)
            speedups.estimate  # noqa: B018  (an extension built from older sources lacks it)
        except (AttributeError, ValueError):  # older sources, or limits the scanner cannot read
            speedups = None
