"""Differential fuzzing of any ``verify_raw``-style callable against the compat verifier.

Used by ``captionkit fuzz MODULE:CALLABLE``. The callable takes caption text
and returns a list of warning strings (empty when the caption is accepted).
Inputs mix valid captions, near-valid mutants and arbitrary JSON and text;
hypothesis shrinks the first difference to a small input. Needs the
``testing`` extra.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from captionkit._errors import CaptionkitError
from captionkit.compat import CaptionVerifier

__all__ = ["FuzzResult", "FuzzTargetError", "load_target", "run_fuzz"]


class FuzzTargetError(CaptionkitError, ValueError):
    """The MODULE:CALLABLE could not be loaded."""


@dataclass(frozen=True)
class FuzzResult:
    """Outcome of a fuzz run; ``input`` is the shrunk difference, when one was found."""

    ok: bool
    tried: int
    input: str | None = None
    expected: list[str] | None = None
    got: Any = None


def load_target(spec: str) -> Callable[[str], Any]:
    """Import ``package.module:callable`` (``Class.method`` paths and classes with verify_raw work).

    Modules are found in the current folder first, as with ``python -m``.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise FuzzTargetError(f"{spec!r}: expected MODULE:CALLABLE")
    # As `python -m` does, the current folder comes first, so `captionkit fuzz mymod:fn` finds ./mymod.py
    # (the console script's own sys.path[0] is the folder of the script, not the working directory).
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
        importlib.invalidate_caches()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise FuzzTargetError(f"{spec!r}: cannot import {module_name} ({exc})") from None
    obj: Any = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise FuzzTargetError(f"{spec!r}: {module_name} has no attribute {attr}") from None
    if isinstance(obj, type):
        obj = obj()
    if hasattr(obj, "verify_raw"):
        obj = obj.verify_raw
    if not callable(obj):
        raise FuzzTargetError(f"{spec!r}: not callable")
    return obj  # type: ignore[no-any-return]


def _inputs() -> Any:
    from hypothesis import strategies as st

    from captionkit.strategies import caption_texts, json_values, mutants

    return st.one_of(
        caption_texts(max_elements=4),
        mutants(max_elements=4).map(lambda d: json.dumps(d, ensure_ascii=False, separators=(",", ":"))),
        mutants(max_elements=4).map(lambda d: json.dumps(d)),
        json_values().map(lambda v: json.dumps(v, ensure_ascii=False)),
        json_values().map(json.dumps),
        st.text(max_size=40),
        caption_texts(max_elements=2).map(lambda t: t[: len(t) // 2]),
        st.just('{"compositional_deconstruction":{"background":"b","elements":[]}}'),
    )


def run_fuzz(
    func: Callable[[str], Any], *, examples: int = 500, seed: int = 0, compare_messages: bool = True
) -> FuzzResult:
    """Compare ``func`` with :class:`~captionkit.compat.CaptionVerifier` on generated inputs."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    reference = CaptionVerifier()
    failures: list[tuple[str, list[str], Any]] = []
    tried = [0]

    def differs(text: str) -> tuple[bool, list[str], Any]:
        expected = reference.verify_raw(text)
        try:
            got: Any = list(func(text))
        except Exception as exc:  # the target crashing is a difference worth reporting
            got = f"raised {type(exc).__name__}: {exc}"
            return True, expected, got
        if compare_messages:
            return got != expected, expected, got
        return bool(got) != bool(expected), expected, got

    @hseed(seed)
    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(_inputs())
    def check(text: str) -> None:
        tried[0] += 1
        bad, expected, got = differs(text)
        if bad:
            failures.append((text, expected, got))
            raise AssertionError("difference")

    try:
        check()
    except AssertionError:
        text, expected, got = failures[-1]
        return FuzzResult(False, tried[0], text, expected, got)
    return FuzzResult(True, tried[0])
