"""One spec: the schema is written once (captionkit._spec) and every route follows it.

The decisive test edits one limit in a copy of the package's ``_spec.py`` and runs
every route in a fresh interpreter over that copy: the compat verifier with the C
accelerator and in pure Python, ``verify()``, the builder and the models all change
their answer together.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import captionkit
from captionkit import _spec, compat

PACKAGE = Path(captionkit.__file__).parent

_PROBE = r"""
import json, sys
from captionkit import _spec, compat, verify
from captionkit.builder import CaptionBuilder
from captionkit.diagnostics import CaptionError
from captionkit.models import Caption

colours = [f"#00000{i}" for i in range(1, int(sys.argv[1]) + 1)]
data = {"compositional_deconstruction": {"background": "A wall.", "elements": [
    {"type": "obj", "bbox": [100, 100, 200, 200], "desc": "A lamp.", "color_palette": colours}]}}
text = json.dumps(data, separators=(",", ":"))
out = {"limit": _spec.ELEMENT_PALETTE_MAX, "c_built": compat._locate is not None}
out["compat_c"] = compat.CaptionVerifier().verify_raw(text)
out["compat_pure"] = compat._pure_verify_raw(text)
out["verify"] = verify(text, lints=False, tokens=False).codes()
try:
    CaptionBuilder().background("A wall.").obj("A lamp.", box=[100, 100, 200, 200], palette=colours).build()
    out["builder"] = "ok"
except CaptionError as exc:
    out["builder"] = exc.report.codes()
try:
    Caption.from_dict(data)
    out["models"] = "ok"
except CaptionError as exc:
    out["models"] = exc.report.codes()
print(json.dumps(out))
"""


def _probe(package_parent: Path, colours: int) -> dict:
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, str(colours)], capture_output=True, text=True, timeout=120,
        env={"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin"}, cwd=package_parent,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _copy_with_limit(tmp_path: Path, limit: int) -> Path:
    target = tmp_path / "captionkit"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    spec = target / "_spec.py"
    source, count = re.subn(r"^ELEMENT_PALETTE_MAX = \d+$", f"ELEMENT_PALETTE_MAX = {limit}",
                            spec.read_text(encoding="utf-8"), flags=re.M)
    assert count == 1
    spec.write_text(source, encoding="utf-8")
    return tmp_path


def test_one_limit_changed_in_the_spec_changes_every_route(tmp_path: Path) -> None:
    limit = _spec.ELEMENT_PALETTE_MAX
    as_shipped = _probe(PACKAGE.parent, limit)
    assert as_shipped["limit"] == limit
    assert as_shipped["compat_c"] == as_shipped["compat_pure"] == [] and as_shipped["verify"] == []
    assert as_shipped["builder"] == as_shipped["models"] == "ok"

    patched = _probe(_copy_with_limit(tmp_path, limit - 1), limit)
    assert patched["limit"] == limit - 1
    assert patched["c_built"] == as_shipped["c_built"]  # the copy loads the same accelerator, configured anew
    expected = f"elements[0].color_palette: too many colors ({limit}), expected at most {limit - 1}"
    assert patched["compat_c"] == patched["compat_pure"] == [expected]
    assert patched["verify"] == ["CK311"]
    assert "CK311" in patched["builder"] and "CK311" in patched["models"]  # the codes of their reports


def test_c_accelerator_key_names_are_the_spec_keys() -> None:
    header = (PACKAGE / "_speedups_scan.h").read_text(encoding="utf-8")
    literals = re.findall(r'(?:LIT|TOK|KEY|MEMBER)\("((?:[^"\\]|\\.)*)"\)', header)
    names = set()
    for literal in literals:
        names.update(re.findall(r'\\"([A-Za-z_#]+)\\"', literal))
    keys = _spec.TOP_LEVEL_KNOWN_KEYS | _spec.STYLE_KNOWN_KEYS | _spec.ELEMENT_KNOWN_KEYS
    keys |= set(_spec.COMPOSITION_KEY_ORDER) | _spec.ELEMENT_TYPES
    assert names == keys


def test_c_facts_reader_key_names_are_the_spec_keys() -> None:
    # caption_facts reads every key of the schema (a key it does not know sends the caller to the
    # parsing route), and the element types
    header = (PACKAGE / "_speedups_facts.h").read_text(encoding="utf-8")
    source = (PACKAGE / "_speedups.c").read_text(encoding="utf-8")
    keys = set(re.findall(r'strcmp\(name, "([a-z_]+)"\)', header))
    assert keys == _spec.TOP_LEVEL_KNOWN_KEYS | _spec.STYLE_KNOWN_KEYS | _spec.ELEMENT_KNOWN_KEYS | set(
        _spec.COMPOSITION_KEY_ORDER)
    types = set(re.findall(r'CompareWithASCIIString\(kind, "([a-z_]+)"\)', header))
    assert types == _spec.ELEMENT_TYPES == set(re.findall(r'PyUnicode_InternFromString\("([a-z_]+)"\)', source))


@pytest.mark.skipif(compat._locate is None, reason="C accelerator not built")
def test_c_accelerator_refuses_to_decide_before_it_is_configured() -> None:
    # A fresh interpreter importing the extension alone: no limits, no decisions.
    code = "from captionkit import _speedups; print(_speedups.locate('{}'))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "None", run.stderr


def test_extension_is_built_where_a_compiler_is() -> None:
    import os

    if os.environ.get("CAPTIONKIT_NO_EXTENSIONS") or not (shutil.which("cc") or shutil.which("gcc")):
        pytest.skip("built without the C accelerator (no compiler, or CAPTIONKIT_NO_EXTENSIONS set)")
    assert compat._locate is not None, "the build hook did not compile captionkit._speedups; reinstall"


def test_the_switch_leaves_an_installed_accelerator_unused() -> None:
    code = ("from captionkit import _accel, compat, tokens\n"
            "from captionkit.rules import content\n"
            "print(_accel.speedups, compat._locate, tokens._c_estimate, content._facts.__name__)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**__import__("os").environ, "CAPTIONKIT_NO_EXTENSIONS": "1"})
    assert run.stdout.split() == ["None", "None", "None", "_py_facts"], run.stderr
