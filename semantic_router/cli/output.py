"""How the CLI speaks: rich tables sized independently of the terminal, one-line errors with exit status 2."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:
    from rich.console import Console

#: exit status of every usage error and bad input (as click uses for usage errors)
USAGE = 2


class CliError(typer.TyperException):
    """Bad input found by a command: printed as one `error: ...` line, exit status 2."""

    exit_code = USAGE


def one_line(problem: object) -> str:
    """`problem` as a single line: newlines and runs of spaces collapsed (never wrapped by width)."""
    return " ".join(str(problem).split())


def fail(problem: object) -> None:
    """Print one unwrapped `error: ...` line on stderr."""
    typer.echo(f"error: {one_line(problem)}", err=True)


def die(problem: object) -> NoReturn:
    """Stop the command with one `error: ...` line and exit status 2."""
    raise CliError(one_line(problem))


def number(value: float | None, digits: int = 3) -> str:
    """`value` with `digits` decimals, "-" for None; a tiny negative prints as 0, never "-0.000"."""
    if value is None:
        return "-"
    return f"{round(value, digits) + 0.0:.{digits}f}"  # round(-0.0003, 3) is -0.0; adding 0.0 drops the sign


def show_progress() -> bool:
    """Progress bars only on a terminal (never in pipes, scripts or CI logs)."""
    return sys.stderr.isatty()


def console() -> Console:
    """Rich output: the terminal's width on a terminal, a fixed wide one in pipes and tests (no wrapping by COLUMNS).
    Imported on first use: `--json` output and errors never load rich."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=160)
