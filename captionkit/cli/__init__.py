"""The ``captionkit`` command line: a thin shell over the library.

Each feature area registers its commands from its own module so that the
heavy parts (render) are imported only when their command runs.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="captionkit",
    help="Author, check, expand and render Ideogram 4 JSON captions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Modules that define ``register(app)``; order is the order of --help.
_COMMAND_MODULES = (
    "captionkit.cli.core",
    "captionkit.cli.authoring",
    "captionkit.cli.magic",
    "captionkit.cli.render",
    "captionkit.cli.agents",
)


def _register_all() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # a feature module not written yet
            if exc.name == name:
                continue
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Console-script entry point."""
    app()
