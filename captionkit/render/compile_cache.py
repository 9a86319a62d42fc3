"""The persistent compile cache: compiled transformer blocks that outlive the process.

``torch.compile`` keeps its compiled graphs (inductor's FX graph cache, the
AOTAutograd cache and the Triton kernels) on disk, by default under the
system's temporary folder, which is often cleared. captionkit points those
caches at one folder of its own, so a second process on the same machine
loads compiled code instead of compiling again:

* ``$CAPTIONKIT_COMPILE_CACHE`` when set;
* else ``$XDG_CACHE_HOME/captionkit/compile``;
* else ``~/.cache/captionkit/compile``.

When ``TORCHINDUCTOR_CACHE_DIR`` is already set, torch uses that folder and
captionkit leaves it alone (and never clears it). ``captionkit cache`` lists
the folder and ``captionkit cache --clear-compile`` empties it.

>>> import os
>>> os.path.basename(str(cache_dir({"CAPTIONKIT_COMPILE_CACHE": "/data/ck"})))
'ck'
>>> str(cache_dir({"XDG_CACHE_HOME": "/x"})).replace(os.sep, "/")
'/x/captionkit/compile'
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captionkit.render.errors import RenderError

__all__ = ["CompileCache", "activate", "cache_dir", "clear", "info"]

ENV = "CAPTIONKIT_COMPILE_CACHE"
_TAG = "CACHEDIR.TAG"
_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This folder holds captionkit's compile cache (torch inductor and Triton).\n"
)


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The folder captionkit uses for compiled code (it may not exist yet)."""
    env = os.environ if env is None else env
    if env.get(ENV):
        return Path(env[ENV]).expanduser()
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "captionkit" / "compile"


def _torch_default() -> Path | None:
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # pragma: no cover - torch without inductor
        return None
    return Path(default_cache_dir())


def _user_setting() -> Path | None:
    """``TORCHINDUCTOR_CACHE_DIR`` when the user chose it.

    torch writes its own default into that variable the first time it needs
    the folder, so a value equal to torch's default (or to captionkit's
    folder) is not a choice of the user's.
    """
    preset = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if not preset:
        return None
    path = Path(preset).expanduser().resolve()
    default = _torch_default()
    if path == cache_dir().expanduser().resolve() or (default is not None and path == default.resolve()):
        return None
    return Path(preset)


def activate() -> Path:
    """Point torch's on-disk compile caches at captionkit's folder; returns the folder in use.

    Call before the first compilation of the process. A
    ``TORCHINDUCTOR_CACHE_DIR`` that is already set wins (it is returned).
    """
    preset = _user_setting()
    if preset is not None:
        return preset
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tag = folder / _TAG
        if not tag.exists():
            tag.write_text(_TAG_TEXT, encoding="utf-8")
    except OSError as exc:
        raise RenderError(f"compile cache {folder}: cannot create it ({exc.strerror or exc}); set {ENV}") from None
    os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder)
    try:
        import torch._inductor.config as inductor_config

        for key in ("fx_graph_cache", "autotune_local_cache"):
            if hasattr(inductor_config, key):
                setattr(inductor_config, key, True)
    except ImportError:  # pragma: no cover - torch without inductor
        pass
    try:
        import torch._functorch.config as functorch_config

        functorch_config.enable_autograd_cache = True
    except (ImportError, AttributeError):  # pragma: no cover
        pass
    return folder


@dataclass(frozen=True)
class CompileCache:
    """What the compile cache holds.

    Attributes:
        path: The folder.
        files: Number of files in it.
        size: Bytes on disk.
        managed: Whether captionkit owns the folder (False when
            ``TORCHINDUCTOR_CACHE_DIR`` points elsewhere).
    """

    path: Path
    files: int
    size: int
    managed: bool

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON output."""
        return {"path": str(self.path), "files": self.files, "size": self.size, "managed": self.managed}


def _walk(folder: Path) -> tuple[int, int]:
    files = size = 0
    if folder.is_dir():
        for root, _dirs, names in os.walk(folder):
            for n in names:
                try:
                    size += os.lstat(os.path.join(root, n)).st_size
                    files += 1
                except OSError:
                    pass
    return files, size


def info() -> CompileCache:
    """Describe the compile cache folder in use (captionkit's, or the one torch was told to use)."""
    preset = _user_setting()
    if preset is not None:
        path, managed = preset.expanduser(), False
    else:
        path, managed = cache_dir(), True
    files, size = _walk(path)
    return CompileCache(path, files, size, managed)


def clear() -> CompileCache:
    """Delete captionkit's compile cache; returns what was removed.

    Only a folder captionkit created (it holds captionkit's ``CACHEDIR.TAG``) is
    removed, so a mistyped ``CAPTIONKIT_COMPILE_CACHE`` cannot delete
    anything else.

    Raises:
        RenderError: the folder exists but was not created by captionkit.
    """
    folder = cache_dir()
    files, size = _walk(folder)
    if not folder.exists():
        return CompileCache(folder, 0, 0, True)
    tag = folder / _TAG
    try:
        mine = tag.read_text(encoding="utf-8") == _TAG_TEXT
    except OSError:
        mine = False
    if not mine:
        raise RenderError(f"compile cache {folder}: not created by captionkit (no {_TAG}); not removing it")
    try:
        shutil.rmtree(folder)
    except OSError as exc:
        raise RenderError(f"compile cache {folder}: cannot remove it ({exc.strerror or exc})") from None
    return CompileCache(folder, files, size, True)
