"""The ``captionkit`` command line: a thin shell over the library.

Each feature area registers its commands from its own module so that the
heavy parts (render) are imported only when their command runs.

Every error is one line on stderr with exit code 2: usage errors (an unknown
option, a missing argument) as well as outputs that cannot be written.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer
from typer._click import exceptions as click_errors  # typer vendors click
from typer.core import TyperGroup

from captionkit._io import OutputError


class _OneLineErrors(TyperGroup):
    """A command group whose usage errors are one line (``error: ...``), exit 2."""

    def main(  # type: ignore[override]
        self,
        args: Any = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as exc:
            typer.echo(exc.format_message(), err=True)
            sys.exit(2)
        except click_errors.UsageError as exc:
            message = " ".join(exc.format_message().split())
            where = exc.ctx.command_path if exc.ctx is not None else "captionkit"
            typer.echo(f"error: {message} (see `{where} --help`)", err=True)
            sys.exit(2)
        except click_errors.ClickException as exc:
            typer.echo(f"error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


class _App(typer.Typer):
    """``typer.Typer`` whose commands turn an unwritable output into one line and exit 2."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(func)
            def guarded(*a: Any, **kw: Any) -> Any:
                try:
                    return func(*a, **kw)
                except OutputError as exc:
                    typer.echo(f"error: {exc}", err=True)
                    raise typer.Exit(2) from None

            register(guarded)
            return func

        return decorator


app = _App(
    name="captionkit",
    help="Author, check, expand and render Ideogram 4 JSON captions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help: flags read as flags (no "<bool>" value column), one-line errors above
    rich_markup_mode=None,
    cls=_OneLineErrors,
)


def _show_version(value: bool) -> None:
    if value:
        from captionkit import __version__

        typer.echo(f"captionkit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Author, check, expand and render Ideogram 4 JSON captions."""


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
