"""The typer application behind ``captionkit`` (see :mod:`captionkit.cli`)."""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer
from typer._click import exceptions as click_errors  # typer vendors click
from typer.core import TyperGroup

from captionkit._io import OutputError
from captionkit.cli import _COMMAND_MODULES

__all__ = ["new_app"]


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


def _show_version(value: bool) -> None:
    if value:
        from captionkit import __version__

        typer.echo(f"captionkit {__version__}")
        raise typer.Exit(0)


def _root(
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Author, check, expand and render Ideogram 4 JSON captions."""



def new_app(modules: tuple[str, ...] = _COMMAND_MODULES) -> typer.Typer:
    """A typer app with the commands of ``modules`` (always a group, with the ``--version`` option)."""
    cli = _App(
        name="captionkit",
        help="Author, check, expand and render Ideogram 4 JSON captions.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        # plain help: flags read as flags (no "<bool>" value column), one-line errors above
        rich_markup_mode=None,
        cls=_OneLineErrors,
    )
    # a group even when the area has a single command, so the command name is parsed as one
    cli.callback()(_root)
    for name in modules:
        importlib.import_module(name).register(cli)
    return cli
