"""Every bundled examples/NAME.json has an examples/NAME.py that rebuilds it byte for byte."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from captionkit.compat import CaptionVerifier

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
CAPTIONS = sorted(EXAMPLES.glob("*.json"))


def test_every_json_example_has_a_program():
    assert CAPTIONS, "no bundled examples"
    missing = [p.name for p in CAPTIONS if not p.with_suffix(".py").is_file()]
    assert missing == []


@pytest.mark.parametrize("caption", CAPTIONS, ids=lambda p: p.stem)
def test_program_reproduces_the_committed_file(caption):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, str(caption.with_suffix(".py"))], capture_output=True, env=env, cwd=ROOT, check=False
    )
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    assert result.stdout == caption.read_bytes()
    assert CaptionVerifier().verify_raw(result.stdout.decode("utf-8").removesuffix("\n")) == []
