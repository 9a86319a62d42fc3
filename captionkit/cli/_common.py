"""Shared CLI helpers: exit codes, one-line errors, buffered output, sources and sizes."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, NoReturn

import typer

from captionkit._frames import parse_size
from captionkit._io import OutputError, check_writable, write_atomic
from captionkit._sources import SourceError, read_text

__all__ = [
    "EXIT_CLEAN",
    "EXIT_ERROR",
    "EXIT_FINDINGS",
    "Lines",
    "OutputError",
    "OutputFormat",
    "check_writable",
    "err",
    "fail",
    "parse_size_option",
    "read_text_arg",
    "warn_environment",
    "write_atomic",
]

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


class OutputFormat(str, Enum):
    text = "text"
    json = "json"
    github = "github"
    official = "official"


def err(message: str) -> None:
    """Print one line to stderr."""
    typer.echo(message, err=True)


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print a one-line error to stderr and exit (2 by default)."""
    err(f"error: {message}")
    raise typer.Exit(code)


def warn_environment() -> None:
    """Warn about captionkit environment variables that name nothing (they would be ignored silently)."""
    from captionkit.cli._verify import warn_environment as warn

    warn(err)


class Lines:
    """Output for one stream, written in blocks rather than one call per line.

    Commands over a large JSONL file print many short lines; one ``echo`` per
    block keeps the printing cost per line small.
    """

    BLOCK = 2000

    def __init__(self, *, err: bool = False) -> None:
        self._err = err
        self._parts: list[str] = []

    def add(self, text: str, *, newline: bool = True) -> None:
        """Queue ``text`` (and a newline unless told otherwise)."""
        self._parts.append(text + "\n" if newline else text)
        if len(self._parts) >= self.BLOCK:
            self.flush()

    def flush(self) -> None:
        """Write what is queued."""
        if self._parts:
            typer.echo("".join(self._parts), err=self._err, nl=False)
            self._parts.clear()


def read_text_arg(path: str) -> tuple[str, str]:
    """Read a caption source (``-`` is stdin) through the one reader. Returns (display name, text).

    Raises ``typer.Exit(2)`` with a one-line message on I/O or encoding errors.
    """
    try:
        return read_text(path)
    except SourceError as exc:
        fail(str(exc))


def parse_size_option(value: str | None, *, check: bool = True, option: str = "--size") -> Any:
    """Read a ``--size`` value with the one size parser; a bad one is a one-line usage error."""
    if value is None:
        return None
    try:
        return parse_size(value, check=check)
    except ValueError as exc:
        fail(f"{option}: {exc}")
