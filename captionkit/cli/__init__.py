"""The ``captionkit`` command line: a thin shell over the library.

Each feature area registers its commands from its own module. ``app`` holds
every command (for ``--help``, and for tests through typer's ``CliRunner``);
it is built on first access (:mod:`captionkit.cli._app`). The console script
builds only the area of the command it runs: typer turns every command's
signature into a parser before it runs one, so building the other areas would
only cost start-up time; and ``captionkit verify PATH...`` (paths only) runs
without loading typer at all, through the same code (:mod:`captionkit.cli._verify`).

Every error is one line on stderr with exit code 2: usage errors (an unknown
option, a missing argument) as well as outputs that cannot be written.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

__all__ = ["COMMANDS", "app", "main", "new_app"]

# Modules that define ``register(app)``; order is the order of --help.
_COMMAND_MODULES = (
    "captionkit.cli.core",
    "captionkit.cli.authoring",
    "captionkit.cli.magic",
    "captionkit.cli.render",
    "captionkit.cli.agents",
)

COMMANDS: dict[str, str] = {
    "verify": "captionkit.cli.core",
    "fix": "captionkit.cli.core",
    "fmt": "captionkit.cli.core",
    "schema": "captionkit.cli.core",
    "rule": "captionkit.cli.core",
    "fuzz": "captionkit.cli.core",
    "new": "captionkit.cli.authoring",
    "preview": "captionkit.cli.authoring",
    "palette": "captionkit.cli.authoring",
    "tokens": "captionkit.cli.authoring",
    "expand": "captionkit.cli.magic",
    "render": "captionkit.cli.render",
    "info": "captionkit.cli.render",
    "cache": "captionkit.cli.render",
    "mcp": "captionkit.cli.agents",
    "describe": "captionkit.cli.agents",
}
"""Each command and the module that registers it (a test keeps this equal to ``app``)."""


def __getattr__(name: str) -> Any:
    if name == "app":
        value = new_app()
        globals()["app"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def new_app(modules: tuple[str, ...] = _COMMAND_MODULES) -> Any:
    """A typer app with the commands of ``modules`` (always a group, with the ``--version`` option)."""
    return importlib.import_module("captionkit.cli._app").new_app(modules)


def main() -> None:
    """Console-script entry point.

    ``captionkit verify PATH...`` runs without typer (see :mod:`captionkit.cli._verify`);
    every other command line goes to the typer app.
    """
    args = sys.argv[1:]
    plain = importlib.import_module("captionkit.cli._verify")
    if plain.plain_command_line(args):
        plain.main_plain(args)
        return
    module = COMMANDS.get(args[0]) if args else None
    if module is None:  # --help, --version, no command, an unknown one: the whole app answers
        __getattr__("app")()
        return
    new_app((module,))()
