"""The `semantic-router` typer app: one-line errors, `--version`, and the commands registered by each module.

Command modules expose `register(app)`; `semantic_router.server.cli` adds `serve`/`classify` the same way
when that package is present.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Any, Optional

import typer
from typer.core import TyperGroup

from semantic_router.cli.output import USAGE, CliError, fail, one_line
from semantic_router.errors import SemanticRouterError

#: modules whose `register(app)` adds commands
COMMAND_MODULES = ("semantic_router.cli.commands", "semantic_router.cli.fit", "semantic_router.cli.signals",
                   "semantic_router.cli.adapt")
#: the same, from packages that may be absent or lack their extra (then their commands are not offered)
OPTIONAL_COMMAND_MODULES = ("semantic_router.server.cli",)


class OneLineErrors(TyperGroup):
    """Every usage error and bad input ends as ONE `error: ...` line on stderr with exit status 2."""

    # click's overloads of main() (standalone_mode decides the return type): one signature covers both
    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        prog_name = prog_name or "semantic-router"
        try:
            code = super().main(args=args, prog_name=prog_name, complete_var=complete_var,
                                standalone_mode=False, **extra)
        except typer.Abort:
            fail("aborted")
            code = 130
        except CliError as exc:  # bad input found by a command
            fail(exc.message)
            code = USAGE
        except typer.TyperException as exc:  # click's usage errors: missing argument, no such option, ...
            ctx = getattr(exc, "ctx", None)
            if type(exc).__name__ == "NoArgsIsHelpError" and ctx is not None:
                typer.echo(ctx.get_help())  # the command alone: its help, exit status 2
            else:
                message = exc.format_message() if hasattr(exc, "format_message") else exc.message
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                fail(one_line(message) + hint)
            code = USAGE
        except (SemanticRouterError, ValueError, OSError, ImportError) as exc:  # bad configs, files, values;
            fail(exc)  # a backend whose extra is not installed (its ImportError names the extra)
            code = USAGE
        code = code if isinstance(code, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


def _version() -> str:
    from semantic_router import __version__

    return __version__


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"semantic-router {_version()}")
        raise typer.Exit(0)


app = typer.Typer(cls=OneLineErrors, help="Semantic routing from the command line.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode=None, pretty_exceptions_enable=False)


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", callback=_show_version, is_eager=True,
                                           help="print the version and exit"),
) -> None:
    """Semantic routing from the command line: route queries, list routes, evaluate and fit a router."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)
    for name in OPTIONAL_COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:  # not part of this install
            continue
        module.register(app)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on `argv` (default: sys.argv[1:]); return the exit status."""
    return app(args=argv, prog_name="semantic-router", standalone_mode=False)


def run() -> None:  # pragma: no cover - console-script entry point
    sys.exit(main())


_register_all()
