"""Small file helpers shared by the library and the CLI.

Every output goes through :func:`write_atomic`; commands that spend network or
GPU time first call :func:`check_writable`, so an output that cannot be written
is reported before any work starts. Both raise :class:`OutputError`, whose
message is one line naming the path and the cause.
"""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

__all__ = ["OutputError", "check_writable", "describe_os_error", "write_atomic"]


class OutputError(OSError):
    """An output cannot be written; ``str()`` is one line naming the path and the cause.

    >>> str(OutputError("out/x.png: cannot write (permission denied)"))
    'out/x.png: cannot write (permission denied)'
    """


_CAUSES = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "read-only file system",
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.ENAMETOOLONG: "file name too long",
    errno.EISDIR: "is a folder",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EEXIST: "already exists",
    errno.ENOENT: "no such folder",
}


def describe_os_error(exc: OSError) -> str:
    """The cause of an ``OSError`` in a few plain words.

    >>> describe_os_error(PermissionError(13, "Permission denied"))
    'permission denied'
    >>> describe_os_error(OSError("odd"))
    'odd'
    """
    if exc.errno in _CAUSES:
        return _CAUSES[exc.errno]
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _first_existing(path: Path) -> Path:
    current = path
    while not os.path.lexists(current):
        parent = current.parent
        if parent == current:
            break
        current = parent
    return current


def check_writable(path: str | os.PathLike[str], *, folder: bool = False) -> Path:
    """Check that ``path`` can be written, before any costly work; returns it as a ``Path``.

    With ``folder=False`` the path is a file to write (an existing file may be
    replaced); with ``folder=True`` it is a folder that files will be written
    into (it is created when missing). The check creates and removes a
    temporary file in the nearest existing folder, so it sees what a write
    would see (permissions, read-only mounts, a full disk is not predicted).

    Raises:
        OutputError: one line naming the path and the cause.

    >>> import tempfile, pathlib
    >>> base = pathlib.Path(tempfile.mkdtemp())
    >>> (base / "note.txt").write_text("x")
    1
    >>> check_writable(base / "new" / "out.png") == base / "new" / "out.png"
    True
    >>> check_writable(base / "note.txt", folder=True)
    Traceback (most recent call last):
    ...
    captionkit._io.OutputError: .../note.txt: cannot write (is a file, not a folder)
    >>> check_writable(base / "note.txt" / "out.png")
    Traceback (most recent call last):
    ...
    captionkit._io.OutputError: .../note.txt/out.png: cannot write (.../note.txt is a file, not a folder)
    """
    target = Path(path)
    if os.path.isdir(target) and not folder:
        raise OutputError(f"{target}: cannot write (is a folder)")
    if os.path.lexists(target) and folder and not os.path.isdir(target):
        raise OutputError(f"{target}: cannot write (is a file, not a folder)")
    holder = target if folder else target.parent
    existing = _first_existing(Path(os.path.realpath(holder)) if os.path.lexists(holder) else holder)
    if not os.path.isdir(existing):
        raise OutputError(f"{target}: cannot write ({existing} is a file, not a folder)")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".captionkit-probe.", dir=existing)
    except OSError as exc:
        where = "" if existing in (target, holder) else f" in {existing}"
        raise OutputError(f"{target}: cannot write ({describe_os_error(exc)}{where})") from None
    os.close(fd)
    os.unlink(tmp)
    return target


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A reader never sees a half-written file, and an interrupted write leaves nothing
    behind. Text is written as UTF-8. A symbolic link is written through: its
    target gets the new content and the link stays a link.

    Raises:
        OutputError: the file cannot be written (one line: the path and the cause).
    """
    shown = Path(path)
    # Write through a symlink: replacing the link itself would leave its target stale.
    target = Path(os.path.realpath(shown)) if os.path.islink(shown) else shown
    payload = data.encode("utf-8") if isinstance(data, str) else data
    try:
        if os.path.isdir(target):
            raise IsADirectoryError(errno.EISDIR, "is a folder")
        existing = _first_existing(target.parent)
        if not os.path.isdir(existing):
            raise OutputError(f"{shown}: cannot write ({existing} is a file, not a folder)")
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"{shown}: cannot write ({describe_os_error(exc)})") from None
    try:
        # mkstemp makes 0600 files; keep an existing file's mode, else the usual umask default
        try:
            mode = target.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, OutputError):
            raise OutputError(f"{shown}: cannot write ({describe_os_error(exc)})") from None
        raise
