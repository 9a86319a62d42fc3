"""Shared CLI helpers: exit codes, one-line errors, atomic writes (re-exported)."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import NoReturn

import typer

from captionkit._io import OutputError, check_writable, write_atomic

__all__ = [
    "EXIT_CLEAN", "EXIT_ERROR", "EXIT_FINDINGS", "OutputError", "OutputFormat", "check_writable", "err", "fail",
    "read_text_arg", "warn_environment", "write_atomic",
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
    import os

    tokenizer = os.environ.get("CAPTIONKIT_TOKENIZER")
    if tokenizer:
        from captionkit.tokens import _tokenizer_file

        if _tokenizer_file(Path(tokenizer)) is None:
            err(f"warning: CAPTIONKIT_TOKENIZER={tokenizer}: no tokenizer.json there; token counts fall back to the usual search or an estimate")


def read_text_arg(path: str) -> tuple[str, str]:
    """Read a caption source: ``-`` is stdin. Returns (display name, text).

    Raises ``typer.Exit(2)`` with a one-line message on I/O or encoding errors.
    """
    if path == "-":
        data = sys.stdin.buffer.read()
        name = "<stdin>"
    else:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            fail(f"{path}: no such file")
        except IsADirectoryError:
            fail(f"{path}: is a directory")
        except OSError as exc:
            fail(f"{path}: cannot read ({exc.strerror or exc})")
        name = path
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{name}: not valid UTF-8 (byte {exc.start})")
