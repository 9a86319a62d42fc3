import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# One hypothesis profile for the suite: no per-example deadline (the machine is shared and slow,
# and timing is not what these tests check). CAPTIONKIT_HYPOTHESIS_PROFILE=deep runs the same
# properties with many more examples.
settings.register_profile("captionkit", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("deep", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("CAPTIONKIT_HYPOTHESIS_PROFILE", "captionkit"))

# Make tests/core/official_ref.py, tests/render/render_captions.py and friends importable as plain modules.
sys.path.insert(0, str(Path(__file__).parent / "core"))
sys.path.insert(0, str(Path(__file__).parent / "render"))


import errno  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def readonly_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A folder nothing can be written into: mode 0555, and, for root (which ignores the mode
    bits, as in CI), every create or write-open below it fails with EACCES at the OS boundary."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    (folder / "cap.json").write_text(
        '{"compositional_deconstruction":{"elements":[],"background":"A wall."}}\n', encoding="utf-8"
    )
    folder.chmod(0o555)
    if os.geteuid() == 0:
        real_open, real_mkdir, real_replace = os.open, os.mkdir, os.replace
        root = os.path.realpath(folder)

        def inside(path) -> bool:
            p = os.path.realpath(os.fspath(path))
            return p == root or p.startswith(root + os.sep)

        def denied(path):
            return PermissionError(errno.EACCES, "Permission denied", os.fspath(path))

        def fake_open(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and inside(path):
                raise denied(path)
            return real_open(path, flags, *args, **kwargs)

        def fake_mkdir(path, *args, **kwargs):
            if inside(path):
                raise denied(path)
            return real_mkdir(path, *args, **kwargs)

        def fake_replace(src, dst, *args, **kwargs):
            if inside(dst):
                raise denied(dst)
            return real_replace(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, "open", fake_open)
        monkeypatch.setattr(os, "mkdir", fake_mkdir)
        monkeypatch.setattr(os, "replace", fake_replace)
    yield folder
    monkeypatch.undo()
    folder.chmod(0o755)
