"""The `seqgen` command line: thin typer commands, each calling one importable function."""

from __future__ import annotations

import sys

import typer

from seqgen.errors import SeqgenError
from seqgen.runtime import console, setup_logging

app = typer.Typer(
    name="seqgen",
    help="Learn generative models of sequences (polyphonic music, text) and sample from them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    """Attach each command module's commands to the app (each module has `register(app)`)."""
    from seqgen.commands import COMMAND_MODULES

    for module in COMMAND_MODULES:
        module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; a SeqgenError becomes one line on stderr and exit status 1."""
    setup_logging()
    _register_commands()
    try:
        app(args=argv, prog_name="seqgen")
    except SeqgenError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
