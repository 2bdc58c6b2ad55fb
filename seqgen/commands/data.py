"""`seqgen data ...` commands (list, info, export)."""

import typer


def register(app: typer.Typer) -> None:
    """Attach the `data` command group."""
    data_app = typer.Typer(help="Inspect and export the music datasets.", no_args_is_help=True)

    @data_app.command("list")
    def list_() -> None:
        """List the named datasets."""
        typer.echo("jsb\nnottingham\nmusedata\npiano-midi")

    app.add_typer(data_app, name="data")
