"""`seqgen data list | info | export`: the music datasets, what is in them, and MIDI files to listen to."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from seqgen.cli.options import DATA_EXPORT, DATA_INFO, command


def _load(options: dict):
    """The dataset the `spec` argument names, read as the MIDI-input options say."""
    from seqgen.cli.inputs import check_data

    check_data(options["spec"])  # before torch is imported
    from seqgen.music.configs import midi_input
    from seqgen.music.datasets import load_dataset

    return load_dataset(options["spec"], data=options["data_dir"], midi=midi_input(options))


def _show_info(summary: dict) -> None:
    """Print a dataset summary (from `describe_dataset`) as a rich table on stdout."""
    out = Console(emoji=False)
    out.print(f"[bold]{summary['name']}[/bold]  {summary['source']}", highlight=False)
    out.print(
        f"one frame = {summary['frame']}; pitches MIDI {summary['low_pitch']}.."
        f"{summary['low_pitch'] + summary['n_pitches'] - 1}",
        highlight=False,
    )
    table = Table("split", "sequences", "frames", "note range", "mean polyphony", "empty frames")
    for split in ("train", "valid", "test"):
        s = summary[split]
        notes = f"{s['pitch_min']}..{s['pitch_max']}" if s["pitch_min"] is not None else "-"
        polyphony = f"{s['mean_polyphony']:.2f}" if s["mean_polyphony"] is not None else "-"
        empty = f"{s['empty_frame_rate']:.2%}" if s["empty_frame_rate"] is not None else "-"
        table.add_row(split, f"{s['sequences']:,}", f"{s['frames']:,}", notes, polyphony, empty)
    out.print(table)
    skipped = summary["skipped"]
    for name, reason in list(skipped.items())[:10]:
        out.print(f"skipped {name}: {reason}", highlight=False, soft_wrap=True)
    if len(skipped) > 10:
        out.print(f"... and {len(skipped) - 10} more skipped files", highlight=False)


app = typer.Typer(help="Inspect and export the music datasets.", no_args_is_help=True)


@app.command("list")
def list_command(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List the named datasets, their frame duration and their file."""
    from seqgen.music.benchmarks import BENCHMARKS
    from seqgen.music.embedded import CHORALE_QUANTISATION

    rows = [
        {
            "name": "bach-chorales",
            "title": "Bach chorales, music21 corpus (embedded default, no download)",
            "frame": CHORALE_QUANTISATION.describe(),
            "file": "cached after first use",
        }
    ]
    rows += [
        {
            "name": name,
            "title": b.title,
            "frame": b.quantisation.describe(),
            "file": " or ".join(filter(None, [b.pickle_name, b.mat.name])),
        }
        for name, b in BENCHMARKS.items()
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table("name", "dataset", "one frame", "file")
    for row in rows:
        table.add_row(*row.values())
    Console(emoji=False).print(table)


@app.command("info")
@command(DATA_INFO)
def info(options: dict) -> None:
    """Per split: sequences, frames, note range, mean polyphony and empty-frame rate."""
    from seqgen.music.datasets import describe_dataset

    summary = describe_dataset(_load(options))
    if options["as_json"]:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _show_info(summary)


@app.command("export")
@command(DATA_EXPORT)
def export(options: dict) -> None:
    """Write one split's pieces as MIDI files, at the dataset's frame duration (all files or none)."""
    from seqgen.fileio import check_output_folder
    from seqgen.music.datasets import export_split

    check_output_folder(options["out"])
    dataset = _load(options)
    written = export_split(
        dataset, options["split"], options["out"], limit=options["limit"], program=options["program"],
        velocity=options["velocity"],
    )  # fmt: skip
    typer.echo(f"wrote {len(written)} MIDI files of {dataset.name} ({options['split']}) to {options['out']}")
