"""The rich console the stack commands print to: wide enough for CI logs, plain when piped."""

from __future__ import annotations

from rich.console import Console

_PIPED_WIDTH = 160  # rich assumes 80 columns without a terminal; logs read better wider


def make_console(*, stderr: bool = False) -> Console:
    """A console for one command's output (progress and tables)."""
    console = Console(stderr=stderr)
    if not console.is_terminal:
        console = Console(stderr=stderr, width=_PIPED_WIDTH)
    return console


def print_error(command: str, error: Exception) -> None:
    """One clear line (or paragraph) on stderr for a failed command."""
    make_console(stderr=True).print(f"[bold red]certamen {command}:[/] {error}", highlight=False)
