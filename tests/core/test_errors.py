"""One exception root: every error captionkit raises on purpose is a CaptionkitError."""

from __future__ import annotations

import subprocess
import sys

import pytest

import captionkit
from captionkit import CaptionError, CaptionkitError
from captionkit._sources import SourceError, read_text
from captionkit.magic import errors as magic_errors
from captionkit.render import RenderError, parse_size


def _magic_error_classes():
    # warnings (APIKeyWarning) are not errors: they are never raised at the caller
    return [c for c in vars(magic_errors).values()
            if isinstance(c, type) and issubclass(c, Exception) and not issubclass(c, Warning)]


def test_every_area_error_is_a_captionkit_error_and_keeps_its_name():
    assert {CaptionError.__name__, RenderError.__name__, magic_errors.MagicPromptError.__name__} == {
        "CaptionError", "RenderError", "MagicPromptError"}
    for cls in (CaptionError, RenderError, SourceError, *_magic_error_classes()):
        assert issubclass(cls, CaptionkitError), cls
    # the old bases stay, so existing `except ValueError` code keeps working
    assert issubclass(CaptionError, ValueError) and issubclass(RenderError, ValueError)


def _raise(exc: BaseException) -> None:
    raise exc


def test_one_except_catches_each_area(tmp_path):
    raised = []
    for call in (
        lambda: captionkit.loads("[]"),
        lambda: parse_size("1000x1000"),
        lambda: read_text(tmp_path / "missing.json"),
        lambda: _raise(magic_errors.error_for_status(429, "ideogram-4-v1", "slow down")),
    ):
        with pytest.raises(CaptionkitError) as info:
            call()
        raised.append(type(info.value).__name__)
    assert raised == ["CaptionError", "RenderError", "SourceError", "RateLimitError"]


def test_top_level_exports():
    from captionkit.diagnostics import CaptionError as defined
    from captionkit.layout import Box as box

    assert captionkit.CaptionError is defined and captionkit.Box is box
    assert {"Box", "CaptionError", "CaptionkitError"} <= set(captionkit.__all__) <= set(dir(captionkit))


def test_the_new_exports_keep_import_captionkit_light():
    code = ("import sys, captionkit; captionkit.CaptionkitError; "
            "print(sorted(m for m in ('captionkit.layout', 'captionkit.diagnostics', 'pydantic') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# -- every exception class captionkit defines is a CaptionkitError --------------------------------

# Internal signals that never leave captionkit (each is caught where it is raised, or thrown into a
# flow by its own shell). Anything else a module defines must sit under the one root.
INTERNAL = {
    "captionkit._extract._Refused": "fix() turns it into FixResult.problem",
    "captionkit._fastcheck._Undecided": "a fast route hands the text to the walk",
    "captionkit._walk.NeedExactParse": "the walk asks for the duplicate-aware parse",
    "captionkit.magic._core.DeadlineExceeded": "a shell throws it into the flow, which raises APITimeoutError",
}


def _defined_exceptions():
    import importlib
    import pkgutil

    found = {}
    for info in pkgutil.walk_packages(captionkit.__path__, "captionkit."):
        if info.name.startswith("captionkit.cli") or info.name == "captionkit.__main__":
            continue  # the CLI turns every error into one line and an exit code (__main__ runs it)
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, BaseException) and not issubclass(value, Warning)
                    and value.__module__.startswith("captionkit")):
                found[f"{info.name}.{value.__qualname__}"
                      if value.__module__ == info.name else f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_exception_class_captionkit_defines_is_a_captionkit_error():
    found = _defined_exceptions()
    assert {"captionkit.boxes.BoxConventionError", "captionkit._io.OutputError", "captionkit.render.errors.Cancelled",
            "captionkit.fuzz.FuzzTargetError"} <= set(found)
    outside = sorted(name for name, cls in found.items() if not issubclass(cls, CaptionkitError) and name not in INTERNAL)
    assert not outside, f"not under CaptionkitError: {outside}"
    assert set(INTERNAL) <= set(found), "stale INTERNAL entries"


def test_the_newly_rooted_errors_keep_their_old_bases():
    from captionkit._io import OutputError
    from captionkit.boxes import BoxConventionError
    from captionkit.fuzz import FuzzTargetError
    from captionkit.render import Cancelled

    assert issubclass(OutputError, OSError) and issubclass(BoxConventionError, ValueError)
    assert issubclass(FuzzTargetError, ValueError) and issubclass(Cancelled, CaptionkitError)
    with pytest.raises(CaptionkitError, match="xyxy"):
        captionkit.fix('{"compositional_deconstruction":{"background":"b","elements":[{"type":"obj","desc":"d",'
                       '"bbox":[50,10,20,40]}]}}', box_format="xyxy")
