"""Lazy re-exports: a package names what it offers; modules load on first access."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Build a module's ``__getattr__`` and ``__dir__`` for ``name -> module`` exports.

    The first access imports the defining module and caches the value in the
    package namespace, so later lookups are plain attribute reads.
    """
    names = sorted([*exports, *(k for k in namespace.get("__all__", ()) if k not in exports)])

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return names

    return __getattr__, __dir__
