"""The ``captionkit`` command line: a thin shell over the library.

Each feature area registers its commands from its own module. ``app`` holds
every command (for ``--help``, and for tests through typer's ``CliRunner``);
it is built on first access. The console script builds only the area of the
command it runs: typer turns every command's signature into a parser before it
runs one, so building the other areas would only cost start-up time.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

__all__ = ["COMMANDS", "app", "main", "new_app"]

# Modules that define ``register(app)``; order is the order of --help.
_COMMAND_MODULES = (
    "captionkit.cli.core",
    "captionkit.cli.authoring",
    "captionkit.cli.magic",
    "captionkit.cli.render",
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
}
"""Each command and the module that registers it (a test keeps this equal to ``app``)."""


def new_app(modules: tuple[str, ...] = _COMMAND_MODULES) -> typer.Typer:
    """A typer app with the commands of ``modules``."""
    cli = typer.Typer(
        name="captionkit",
        help="Author, check, expand and render Ideogram 4 JSON captions.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    for name in modules:
        importlib.import_module(name).register(cli)
    return cli


def __getattr__(name: str) -> Any:
    if name == "app":
        value = new_app()
        globals()["app"] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point."""
    args = sys.argv[1:]
    module = COMMANDS.get(args[0]) if args else None
    if module is None:  # --help, no command, an unknown one: the whole app answers
        __getattr__("app")()
        return
    one = new_app((module,))
    # a group even when the area has a single command, so the command name is parsed as one
    one.callback()(_no_options)
    one()


def _no_options() -> None:
    """Author, check, expand and render Ideogram 4 JSON captions."""
