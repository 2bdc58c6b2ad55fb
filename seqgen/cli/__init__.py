"""The `seqgen` command line: top-level verbs (train, sample, score, data, ...) that dispatch through the
task registry. Importing this package imports typer and rich only, never torch, so `--help` is instant."""

from __future__ import annotations

import os
import sys

import typer

import seqgen
from seqgen.cli import data, harmonize, models, reproduce, sample, score, studio, train
from seqgen.errors import SeqgenError
from seqgen.lab.cli import app as lab_app

app = typer.Typer(
    name="seqgen",
    help="Learn generative models of sequences (polyphonic music, text) and sample from them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)
app.command("train")(train.train)
app.command("train-music")(train.train_music)
app.command("train-text")(train.train_text)
app.command("sample")(sample.sample)
app.command("score")(score.score)
app.command("harmonize")(harmonize.harmonize)
app.command("models")(models.models)
app.command("studio")(studio.studio)
app.command("reproduce")(reproduce.reproduce)
app.add_typer(data.app, name="data")
app.add_typer(lab_app, name="lab")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"seqgen {seqgen.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Learn generative models of sequences (polyphonic music, text) and sample from them."""


def error_line(exc: BaseException) -> str:
    """The one line shown for a user-facing error: flag names for parameters, file names for OS errors."""
    if isinstance(exc, SeqgenError):
        from seqgen.cli.options import flag_of

        return f"{flag_of(exc.param)}: {exc}" if exc.param else str(exc)
    if isinstance(exc, MemoryError):
        return "out of memory (the input is too large for this machine)"
    name = exc.filename if getattr(exc, "filename", None) else "output"
    return f"{name}: {exc.strerror or exc}"


def main(argv: list[str] | None = None) -> None:
    """Entry point: a SeqgenError or OS error becomes one line on stderr (exit 1); Ctrl-C exits 130."""
    from seqgen.runtime import console, setup_logging

    console.quiet = int(os.environ.get("RANK", "0")) > 0  # under torchrun, rank 0 alone speaks
    setup_logging()
    try:
        code = app(args=argv, prog_name="seqgen", standalone_mode=False)
        if isinstance(code, int) and code:  # a command's typer.Exit(130) comes back as a return value here
            sys.exit(code)
    except (SeqgenError, OSError, MemoryError) as exc:
        from rich.markup import escape

        console.print(f"[red]error:[/red] {escape(error_line(exc))}", highlight=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        console.print("interrupted", highlight=False)
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except _click_errors() as exc:  # usage errors (standalone_mode=False hands them to us): click's format, exit 2
        _show_click_error(exc)


def _click_errors() -> tuple[type[BaseException], ...]:
    """click's ClickException, and typer's bundled copy of it (typer >= 0.26 vendors click as typer._click)."""
    import click

    classes: list[type[BaseException]] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException
    except ImportError:
        pass
    else:
        classes.append(ClickException)
    return tuple(classes)


def _show_click_error(exc) -> None:
    """Print a parser error as click does (usage, a hint, one `Error:` line) and exit with its code (2).

    A bare command group (`seqgen`, `seqgen data`) prints its help, then says what is missing."""
    exc.show()
    if type(exc).__name__ == "NoArgsIsHelpError":
        typer.echo("\nError: Missing command.", err=True)
    sys.exit(exc.exit_code)
