"""Reading caption sources: the one reader behind every command and API.

A *source* is one caption to process. It comes from

* a caption file (``.json``): the whole file, read as UTF-8 with universal
  newlines, as the official ``verify_file`` reads it;
* standard input (``-``): the same, as one caption;
* a JSON Lines file (``.jsonl``): one caption per line. Lines are split on
  ``"\\n"`` only (a ``"\\r"`` just before it is dropped), so a character that
  :meth:`str.splitlines` would also break on (U+2028, U+0085, a lone ``"\\r"``)
  stays inside its line and its caption. Lines holding only JSON whitespace are
  skipped; any other line is a caption, and is reported if it is not one;
* a record written by ``captionkit expand --batch`` (one JSON object per line
  with ``"id"`` and ``"ok"``): its ``caption`` object is the caption (in
  compact JSON), ``id`` names it and ``aspect_ratio`` gives its size. A failed
  record (``"ok": false``) carries no caption, and says why;
* a folder: every ``.json`` and ``.jsonl`` file below it, sorted, hidden
  files and folders left out.

A JSON Lines file is read a block of bytes at a time, each block cut after a
``"\\n"`` byte (which no other UTF-8 sequence contains), so it is never one
decoded text in memory. :func:`read_jsonl_range` reads the lines that start in a
byte range, so that several processes can read parts of one file; put back in
order, the parts say exactly what the whole file says, errors included.

>>> sources = list(iter_text("a.jsonl", '{"a":1}\\n\\n{"b":"x\\u2028y"}\\r\\n'))
>>> [(s.label, s.text) for s in sources]
[('a.jsonl:1', '{"a":1}'), ('a.jsonl:3', '{"b":"x\\u2028y"}')]
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from captionkit._errors import CaptionkitError
from captionkit._io import write_atomic

__all__ = [
    "CAPTION_SUFFIXES",
    "Resume",
    "Source",
    "SourceError",
    "decode",
    "iter_files",
    "iter_sources",
    "iter_text",
    "read_jsonl_range",
    "read_text",
    "record_caption",
    "resume_records",
    "split_lines",
]

CAPTION_SUFFIXES = (".json", ".jsonl")
"""File suffixes a folder is searched for."""

STDIN = "-"

# JSON's own whitespace: a line of nothing else is blank.
_JSON_SPACE = " \t\r"
_JSON_SPACE_BYTES = _JSON_SPACE.encode()


class SourceError(CaptionkitError, ValueError):
    """A caption source cannot be read; the message names the place and the cause in one line.

    >>> str(SourceError("a.json: no such file"))
    'a.json: no such file'
    """


@dataclass(frozen=True, slots=True)
class Source:
    """One caption to process: a whole file, one JSONL line, stdin, or one batch record.

    Attributes:
        name: The file as given, or ``<stdin>``.
        text: The caption text; ``None`` when there is none (see ``problem``).
        path: The file, or ``None`` for stdin.
        line: The 1-based line of a JSONL file, else ``None``.
        problem: Why there is no text: the file cannot be read, or the record
            is of a failed expansion (``record`` is then true).
        record: Whether this is an ``expand --batch`` record.
        id: A record's ``id``.
        aspect: A record's ``aspect_ratio`` (``"16:9"``), if any.
        data: A record's whole object, in its key order (``fix`` and ``fmt``
            write a record back with only its caption changed: :meth:`wrap`).
        raw: A record's line as read.
    """

    name: str
    text: str | None
    path: Path | None = None
    line: int | None = None
    problem: str | None = None
    record: bool = False
    id: str | None = None
    aspect: str | None = None
    data: dict[str, Any] | None = None
    raw: str | None = None

    def wrap(self, caption_text: str) -> str:
        """The line to write back: the caption itself, or (for a record) the record holding it.

        A record keeps its other fields and their order; only its ``caption`` is replaced.

        >>> Source("a.jsonl", "{}", line=1).wrap('{"b":1}')
        '{"b":1}'
        >>> r = Source("a.jsonl", "{}", line=1, record=True, data={"id": "k", "ok": True, "caption": {}}, raw="")
        >>> r.wrap('{"b":1}')
        '{"id": "k", "ok": true, "caption": {"b": 1}}'
        """
        if self.data is None:
            return caption_text
        data = dict(self.data)
        data["caption"] = json.loads(caption_text)
        return json.dumps(data, ensure_ascii=False)

    @property
    def label(self) -> str:
        """``file`` or ``file:line``, for messages.

        >>> Source("a.jsonl", "{}", line=3).label
        'a.jsonl:3'
        """
        return f"{self.name}:{self.line}" if self.line is not None else self.name


def decode(data: bytes, name: str, *, universal_newlines: bool = True) -> str:
    """Decode UTF-8 strictly; with universal newlines ``\\r\\n`` and ``\\r`` become ``\\n``.

    Raises:
        SourceError: The bytes are not UTF-8 (the message gives the byte offset).

    >>> decode(b"a\\r\\nb\\rc", "x"), decode(b"a\\rb", "x", universal_newlines=False)
    ('a\\nb\\nc', 'a\\rb')
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{name}: not valid UTF-8 (byte {exc.start}: {exc.reason})") from None
    if universal_newlines and "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _read_bytes(path: str | os.PathLike[str]) -> tuple[str, bytes]:
    if str(path) == STDIN:
        return "<stdin>", sys.stdin.buffer.read()
    name = str(path)
    try:
        return name, Path(path).read_bytes()
    except OSError as exc:
        raise _read_error(name, exc) from None


def read_text(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Read one whole source: ``"-"`` is stdin. Returns ``(display name, text)``.

    The text is decoded by :func:`decode` (strict UTF-8, universal newlines).

    Raises:
        SourceError: One line naming the file: missing, a folder, unreadable, not UTF-8.
    """
    name, data = _read_bytes(path)
    return name, decode(data, name)


def split_lines(text: str) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` for each non-blank JSON Lines line.

    Splits on ``"\\n"`` only and drops one ``"\\r"`` before it; a line of JSON
    whitespace only is blank. Nothing else is removed or split.

    >>> list(split_lines('{"a":1}\\r\\n \\n"x\\u2028y"\\n'))
    [(1, '{"a":1}'), (3, '"x\\u2028y"')]
    """
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if line.strip(_JSON_SPACE):
            yield number, line


def record_caption(line: str) -> dict[str, Any] | None:
    """The record written by ``expand --batch`` on this line, or ``None`` for anything else.

    A record is an object whose first key is ``"id"`` and which has a boolean
    ``"ok"``, with a ``"caption"`` object when ``ok`` is true. A caption never
    starts with ``"id"``, so other lines are told apart without parsing them.

    >>> record_caption('{"id": "k", "ok": true, "caption": {"a": 1}}')["id"]
    'k'
    >>> record_caption('{"compositional_deconstruction": {}}') is None
    True
    """
    if not line.lstrip(_JSON_SPACE).startswith('{"id"'):
        return None
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("ok"), bool):
        return None
    if value["ok"] and not isinstance(value.get("caption"), dict):
        return None
    return value


@dataclass(frozen=True, slots=True)
class Resume:
    """What the records of an earlier run hold, read to resume it (see :func:`resume_records`).

    Attributes:
        done: The ids that have a record (failed ones too, unless they are to be retried).
        failed: The ids whose record says ``"ok": false`` and that were kept, in file order.
        torn: Whether an incomplete last line (an interrupted write) was removed.
    """

    done: frozenset[str]
    failed: tuple[str, ...] = ()
    torn: bool = False


def resume_records(output: str | os.PathLike[str], *, retry_failed: bool, what: str = "an earlier run") -> Resume:
    """Read the JSONL of records an earlier run wrote (``expand --batch``, ``describe --jsonl``).

    Every line must be a record (an object with ``"id"``). The file is repaired for
    resuming, atomically: an incomplete last line is removed, and with ``retry_failed``
    the failed records are dropped so that their items run again. A missing file holds
    nothing.

    Raises:
        SourceError: The file cannot be read, is not UTF-8, or holds a line that is not a
            record (the message names the line and says ``what`` was expected).

    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "out.jsonl"
    >>> _ = out.write_text('{"id":"a","ok":true}\\n{"id":"b","ok":false}\\n{"id":"c","o')
    >>> resume_records(out, retry_failed=True)
    Resume(done=frozenset({'a'}), failed=(), torn=True)
    >>> out.read_text()
    '{"id":"a","ok":true}\\n'
    """
    path = Path(output)
    if not path.exists():
        return Resume(frozenset())
    try:
        raw = decode(path.read_bytes(), str(path), universal_newlines=False)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the existing output to resume ({exc.strerror or exc})") from None
    except SourceError as exc:
        raise SourceError(f"cannot read the existing output to resume: {exc}") from None
    lines = raw.split("\n")
    torn = lines.pop() if lines else ""  # text after the last newline: an interrupted write
    kept: list[str] = []
    done: set[str] = set()
    failed: list[str] = []
    dropped = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            raise SourceError(f"{path}:{number}: not JSON; is this the output of {what}?") from None
        if not isinstance(record, dict) or "id" not in record:
            raise SourceError(f"{path}:{number}: no 'id'; is this the output of {what}?")
        if record.get("ok") is False:
            if retry_failed:
                dropped = True
                continue
            failed.append(str(record["id"]))
        done.add(str(record["id"]))
        kept.append(line)
    if torn.strip() or dropped:
        write_atomic(path, "".join(f"{line}\n" for line in kept))
    return Resume(frozenset(done), tuple(failed), bool(torn.strip()))


def _from_record(name: str, path: Path | None, number: int, record: dict[str, Any], line: str) -> Source:
    item_id = str(record["id"])
    aspect = record.get("aspect_ratio")
    aspect = aspect if isinstance(aspect, str) else None
    if not record["ok"]:
        error = record.get("error")
        why = error.get("message") if isinstance(error, dict) else None
        problem = f"record {item_id!r} has no caption: expand failed" + (f" ({why})" if why else "")
        return Source(name, None, path, number, problem, record=True, id=item_id, aspect=aspect, data=record, raw=line)
    text = json.dumps(record["caption"], ensure_ascii=False, separators=(",", ":"))
    return Source(name, text, path, number, record=True, id=item_id, aspect=aspect, data=record, raw=line)


def iter_text(name: str, text: str, *, path: Path | None = None, jsonl: bool | None = None) -> Iterator[Source]:
    """The sources in already-read text: one, or one per JSONL line (records recognised).

    Args:
        name: The display name.
        text: The text, decoded.
        path: The file, when there is one.
        jsonl: Split into lines; by default when ``name`` ends in ``.jsonl``.
    """
    if jsonl is None:
        jsonl = name.lower().endswith(".jsonl")
    if not jsonl:
        yield Source(name, text, path)
        return
    yield from _line_sources(name, path, split_lines(text))


def _line_sources(name: str, path: Path | None, lines: Iterable[tuple[int, str]]) -> Iterator[Source]:
    for number, line in lines:
        record = record_caption(line)
        if record is None:
            yield Source(name, line, path, number)
        else:
            yield _from_record(name, path, number, record, line)


BLOCK = 1 << 20
"""Bytes of a JSON Lines file read at a time (then split into lines, each decoded)."""


def _read_error(name: str, exc: OSError) -> SourceError:
    """The one-line error for a file that cannot be read."""
    if isinstance(exc, FileNotFoundError):
        return SourceError(f"{name}: no such file")
    if isinstance(exc, IsADirectoryError):
        return SourceError(f"{name}: is a directory")
    return SourceError(f"{name}: cannot read ({exc.strerror or exc})")


def _block_lines(data: bytes, name: str, offset: int, number: int, lines: list[tuple[int, str]]) -> int:
    """Append the numbered non-blank lines of ``data`` to ``lines``; return how many ``"\\n"`` it holds.

    ``data`` is a piece of a JSON Lines file that starts where a line starts (at byte ``offset``
    of the file, line ``number``) and ends after a ``"\\n"`` or at the end of the file. A
    ``"\\n"`` byte is never part of another UTF-8 sequence, so decoding such pieces, or their
    lines, one by one accepts and rejects exactly what decoding the whole file does, and the
    first error is at the same byte, for the same reason. Lines are split as
    :func:`split_lines` splits them. Each line is decoded on its own: a decoded text of the
    whole piece would take new memory for every piece (the operating system's time, page by
    page), where lines of a few KB reuse the same memory.

    Raises:
        SourceError: The bytes are not UTF-8 (the message gives the byte offset in the file).
    """
    pieces = data.split(b"\n")
    append = lines.append
    for line in pieces:
        if line.endswith(b"\r"):
            line = line[:-1]
        if line.strip(_JSON_SPACE_BYTES):  # a blank line is ASCII: there is nothing to decode
            try:
                append((number, line.decode("utf-8")))
            except UnicodeDecodeError:
                # the first error of the piece is in this line; decoded as a whole, the piece gives
                # its reason as the whole file does (a line alone ends where the file goes on)
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise SourceError(f"{name}: not valid UTF-8 (byte {offset + exc.start}: {exc.reason})") from None
                raise  # pragma: no cover - the piece holds the line
        number += 1
    return len(pieces) - 1


def _jsonl_lines(path: Path) -> tuple[str, list[tuple[int, str]]]:
    """``(name, numbered lines)`` of a JSON Lines file, as :func:`split_lines` gives them from its text.

    The file is read as a stream (it may be a pipe), a block at a time, each block cut after
    its last ``"\\n"`` (see :func:`_block_lines`): each line is its own string from the start,
    where cutting one decoded text of the whole file into lines copies it twice (and a single
    character beyond U+FFFF would make that text four bytes a character).

    Raises:
        SourceError: One line naming the file: missing, a folder, unreadable, not UTF-8.
    """
    name = str(path)
    lines: list[tuple[int, str]] = []
    try:
        with open(path, "rb") as stream:
            offset, number, pending = 0, 1, []
            while block := stream.read(BLOCK):
                cut = block.rfind(b"\n") + 1
                if not cut:  # a line longer than a block: kept until its end
                    pending.append(block)
                    continue
                data = b"".join([*pending, block[:cut]]) if pending else block[:cut]
                number += _block_lines(data, name, offset, number, lines)
                offset += len(data)
                pending = [block[cut:]]
            _block_lines(b"".join(pending), name, offset, number, lines)
    except OSError as exc:
        raise _read_error(name, exc) from None
    return name, lines


def _line_end(fd: int, pos: int) -> int:
    """The offset just after the first ``"\\n"`` at or after ``pos`` (the end of the file if none)."""
    while True:
        chunk = os.pread(fd, 1 << 16, pos)
        if not chunk:
            return pos
        found = chunk.find(b"\n")
        if found >= 0:
            return pos + found + 1
        pos += len(chunk)


def _pieces(fd: int, start: int, end: int | None) -> Iterator[tuple[int, bytes]]:
    """``(offset, bytes)``: the lines that start in ``[start, end)`` (``None``: to the end of the
    file), in pieces of about :data:`BLOCK` bytes, each ending after a ``"\\n"`` or at the end.

    One read a piece, into new bytes of about the same size each time (which the allocator reuses:
    joining blocks, or decoding a whole piece, would take new memory every time).
    """
    # a line belongs to the range its first byte is in
    pos = _line_end(fd, start - 1) if start > 0 else 0
    while end is None or pos < end:
        last = pos + BLOCK if end is None else min(pos + BLOCK, end)
        data = os.pread(fd, _line_end(fd, last - 1) - pos, pos)
        if not data:
            return
        yield pos, data
        pos += len(data)


def read_jsonl_range(path: str | os.PathLike[str], start: int, end: int | None) -> tuple[int, list[tuple[int, str]]]:
    """The lines of a JSON Lines file that start in bytes ``[start, end)`` (``None``: to the end).

    Ranges that tile a file give each line to exactly one of them, so parts of a file can be
    read separately (by several processes) and put together. Lines are numbered from 1 at
    the first line of the range, and split as :func:`split_lines` splits them.

    Returns:
        ``(newlines, lines)``: the number of ``"\\n"`` in the range's lines (what the next
        range's numbers are offset by), and the numbered non-blank lines.

    Raises:
        SourceError: One line naming the file: missing, a folder, unreadable, or not UTF-8
            (the byte offset is in the whole file, as :func:`read_text` gives it).

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
    >>> _ = p.write_bytes(b'{"a":1}\\n\\n"x\\xe2\\x80\\xa8y"\\r\\n[2]')
    >>> read_jsonl_range(p, 0, 8), read_jsonl_range(p, 8, 12), read_jsonl_range(p, 12, None)
    ((1, [(1, '{"a":1}')]), (2, [(2, '"x\\u2028y"')]), (0, [(1, '[2]')]))
    """
    name = str(path)
    lines: list[tuple[int, str]] = []
    newlines = 0
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            for offset, data in _pieces(fd, start, end):
                newlines += _block_lines(data, name, offset, newlines + 1, lines)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _read_error(name, exc) from None
    return newlines, lines


def iter_files(
    paths: Iterable[str | os.PathLike[str]],
    *,
    suffixes: tuple[str, ...] = CAPTION_SUFFIXES,
    recursive: bool = True,
) -> Iterator[str | Path]:
    """Expand paths: a folder gives its files with ``suffixes`` (sorted, hidden ones left out).

    ``"-"`` passes through as is; a path that is not a folder passes through as a
    :class:`~pathlib.Path` (reading it reports a missing file).
    """
    for raw in paths:
        if str(raw) == STDIN:
            yield STDIN
            continue
        p = Path(raw)
        if not p.is_dir():
            yield p
            continue
        found = p.rglob("*") if recursive else p.iterdir()
        yield from sorted(
            f
            for f in found
            if f.suffix.lower() in suffixes
            and not any(part.startswith(".") for part in f.relative_to(p).parts)
            and f.is_file()
        )


def iter_sources(
    paths: Iterable[str | os.PathLike[str]],
    *,
    split_jsonl: bool = True,
) -> Iterator[Source]:
    """Every caption source under ``paths`` (files, folders, ``-`` for stdin).

    A file that cannot be read gives one source with ``problem`` set, and the
    others go on.
    """
    for item in iter_files(paths):
        path = None if item == STDIN else Path(item)
        jsonl = split_jsonl and path is not None and path.suffix.lower() == ".jsonl"
        if jsonl:
            try:
                name, lines = _jsonl_lines(path)  # type: ignore[arg-type]
            except SourceError as exc:
                yield Source(str(item), None, path, problem=str(exc).removeprefix(f"{item}: "))
                continue
            yield from _line_sources(name, path, lines)
            continue
        try:
            name, data = _read_bytes(item)
            # a JSONL file keeps a lone "\r" (JSON whitespace): only "\n" ends its lines
            text = decode(data, name, universal_newlines=not jsonl)
        except SourceError as exc:
            yield Source(str(item), None, path, problem=str(exc).removeprefix(f"{item}: "))
            continue
        yield from iter_text(name, text, path=path, jsonl=jsonl)
