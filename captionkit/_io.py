"""Small file helpers shared by the library and the CLI: the one atomic writer.

Every output goes through :func:`write_atomic`; commands that spend network or
GPU time first call :func:`check_writable`, so an output that cannot be written
is reported before any work starts. Both raise :class:`OutputError`, whose
message is one line naming the path and the cause.

:func:`write_atomic` writes through a temporary file beside the target and a rename,
so a reader sees the old file or the new one, never a mix. The temporary file is
named ``.NAME.TAG.PID.XXXXXXXX.tmp``: ``NAME`` is the target's name (a hash of it
when the name is very long), ``TAG`` identifies this host and PID namespace, ``PID``
is the writing process. A writer killed between creating that file and the rename
(``kill -9``, a power cut) leaves it behind; the target itself is untouched.
:func:`remove_stale_temp_files` removes such files once their writer is gone, and
the next :func:`write_atomic` to the same target calls it.
"""

from __future__ import annotations

import errno
import functools
import os
import re
import time
from pathlib import Path
from typing import Any

from captionkit._errors import CaptionkitError

__all__ = [
    "STALE_AFTER",
    "OutputError",
    "check_writable",
    "describe_os_error",
    "remove_stale_temp_files",
    "temp_files_by_target",
    "write_atomic",
]


class OutputError(CaptionkitError, OSError):
    """An output cannot be written; ``str()`` is one line naming the path and the cause.

    A :class:`~captionkit.CaptionkitError`, and an ``OSError`` as before.

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


STALE_AFTER = 3600.0
"""Seconds after which a temporary file counts as stale whoever wrote it.

No write holds its temporary file for this long; a file whose writer cannot be
asked (another host or PID namespace, an older captionkit) is removed only after it.
"""

_NAME_MAX = 200  # bytes of the target's name kept in the temporary name; longer names are hashed
_OURS = re.compile(r"\.(?P<key>.+)\.(?P<tag>[0-9a-f]{8})\.(?P<pid>[0-9]{1,10})\.[a-z0-9_]{8}\.tmp", re.DOTALL)
# what tempfile.mkstemp(prefix=".NAME.", suffix=".tmp") made before the tag and pid were added
_LEGACY = re.compile(r"\.(?P<key>.+)\.[a-z0-9_]{8}\.tmp", re.DOTALL)


# hashlib, socket and tempfile load when a file is first written: reading commands (``verify``)
# start without them


@functools.cache
def _host_tag() -> str:
    import hashlib
    import socket

    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return hashlib.blake2b(f"{socket.gethostname()}\0{namespace}".encode(), digest_size=4).hexdigest()


def __getattr__(name: str) -> Any:
    if name == "_TAG":  # this host's tag, in the names of temporary files
        return _host_tag()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _key(name: str) -> str:
    if len(name.encode("utf-8", "surrogateescape")) <= _NAME_MAX:
        return name
    import hashlib

    return "~" + hashlib.blake2b(name.encode("utf-8", "surrogateescape"), digest_size=8).hexdigest()


def _umask() -> int:
    # Linux reports it without changing it; os.umask can only be read by setting it, which
    # would let a file another thread creates meanwhile get mode 0666
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
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
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=".captionkit-probe.", dir=existing)
    except OSError as exc:
        where = "" if existing in (target, holder) else f" in {existing}"
        raise OutputError(f"{target}: cannot write ({describe_os_error(exc)}{where})") from None
    os.close(fd)
    os.unlink(tmp)
    return target


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process here (a zombie is not; unsure means alive)."""
    if pid == os.getpid():
        return True
    if os.name != "posix":
        return True  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. another user's process
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in (b"Z", b"X")  # killed, not yet reaped by its parent


def temp_files_by_target(directory: str | os.PathLike[str]) -> dict[str, list[str]]:
    """The temporary files of :func:`write_atomic` in ``directory``, by target name key.

    One listing of the folder; pass the answer to :func:`remove_stale_temp_files` when
    sweeping many targets of one folder.
    """
    found: dict[str, list[str]] = {}
    try:
        names = os.listdir(directory)
    except OSError:
        return found
    for name in names:
        if not (name.startswith(".") and name.endswith(".tmp")):
            continue
        m = _OURS.fullmatch(name) or _LEGACY.fullmatch(name)
        if m is not None:
            found.setdefault(m.group("key"), []).append(name)
    return found


def _stale(path: Path, name: str, now: float) -> bool:
    try:
        age = now - path.lstat().st_mtime
    except OSError:
        return False
    if age > STALE_AFTER:
        return True
    m = _OURS.fullmatch(name)
    return m is not None and m.group("tag") == _host_tag() and not _alive(int(m.group("pid")))


def remove_stale_temp_files(
    target: str | os.PathLike[str], *, index: dict[str, list[str]] | None = None
) -> list[Path]:
    """Remove temporary files that an interrupted :func:`write_atomic` left beside ``target``.

    Only files named as this writer names them for this target count, and only stale
    ones: their writer process is gone (same host and PID namespace), or they are older
    than :data:`STALE_AFTER`. A concurrent writer's file is never touched. Returns the
    files removed.

    Args:
        target: the file whose temporary files to look for.
        index: :func:`temp_files_by_target` of the target's folder, when already listed.
    """
    path = Path(target)
    if index is None:
        index = temp_files_by_target(path.parent)
    removed: list[Path] = []
    now = time.time()
    for name in index.get(_key(path.name), ()):
        leftover = path.parent / name
        if _stale(leftover, name, now):
            try:
                leftover.unlink()
            except FileNotFoundError:
                pass  # another sweeper was first
            except OSError:
                continue
            removed.append(leftover)
    return removed


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, remove_stale: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A reader never sees a half-written file: ``path`` holds the old content or the new,
    never a mix. Text is written as UTF-8. A symbolic link is written through: its target
    gets the new content and the link stays a link. An error (a full disk, text that UTF-8
    cannot encode) leaves ``path`` as it was and removes the temporary file. Only a writer
    killed outright (``kill -9``, a power cut) can leave its temporary file
    ``.NAME.TAG.PID.XXXXXXXX.tmp`` beside ``path``; the next write to ``path`` removes it
    (see :func:`remove_stale_temp_files`), unless ``remove_stale=False``.

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
        if remove_stale:
            remove_stale_temp_files(target)
        import tempfile

        fd, tmp = tempfile.mkstemp(prefix=f".{_key(target.name)}.{_host_tag()}.{os.getpid()}.", suffix=".tmp",
                                   dir=target.parent)
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
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    # make the rename itself durable (POSIX); a folder cannot be opened this way on Windows
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
