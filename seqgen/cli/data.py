"""`seqgen data list | info | export`: the music datasets, what is in them, and MIDI files to listen to."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

SPEC_HELP = (
    "jsb, nottingham, musedata, piano-midi, bach-chorales (the embedded default), or a PATH (MIDI folder or "
    "file, .pickle, .mat)"
)
DataOption = Annotated[
    Path | None, typer.Option("--data-dir", help="File or folder holding the named benchmark's file.")
]
StepsOption = Annotated[int | None, typer.Option(help="MIDI input: frames per quarter note (default 2).")]
FsOption = Annotated[float | None, typer.Option(help="MIDI input: frames per second instead of a beat grid.")]
SustainOption = Annotated[bool, typer.Option(help="MIDI input: hold notes while the sustain pedal is down.")]
DrumsOption = Annotated[bool, typer.Option(help="MIDI input: keep drum notes (channel 10).")]
LowOption = Annotated[int, typer.Option(help="MIDI number of the roll's first column.")]
PitchesOption = Annotated[int, typer.Option(help="Number of pitches (columns) of the roll.")]


def _load(spec, data, steps_per_quarter, fs, sustain, include_drums, low_pitch, n_pitches):
    from seqgen.music.datasets import load_dataset

    return load_dataset(
        spec,
        data=data,
        low_pitch=low_pitch,
        n_pitches=n_pitches,
        sustain=sustain,
        steps_per_quarter=steps_per_quarter,
        fs=fs,
        include_drums=include_drums,
    )


def _show_info(summary: dict) -> None:
    """Print a dataset summary (from `describe_dataset`) as a rich table on stdout."""
    out = Console()
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
    Console().print(table)

@app.command("info")
def info_command(
    spec: Annotated[str | None, typer.Argument(help=SPEC_HELP, show_default=False)] = None,
    data: DataOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    steps_per_quarter: StepsOption = None,
    fs: FsOption = None,
    sustain: SustainOption = False,
    include_drums: DrumsOption = False,
    low_pitch: LowOption = 21,
    n_pitches: PitchesOption = 88,
) -> None:
    """Per split: sequences, frames, note range, mean polyphony and empty-frame rate."""
    from seqgen.music.datasets import describe_dataset

    dataset = _load(spec, data, steps_per_quarter, fs, sustain, include_drums, low_pitch, n_pitches)
    summary = describe_dataset(dataset)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        _show_info(summary)

@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option(help="Folder for the MIDI files.")],
    spec: Annotated[str | None, typer.Argument(help=SPEC_HELP, show_default=False)] = None,
    split: Annotated[str, typer.Option(help="train | valid | test.")] = "test",
    limit: Annotated[int | None, typer.Option(min=1, help="Write at most this many files.")] = None,
    data: DataOption = None,
    program: Annotated[int, typer.Option(min=0, max=127, help="General MIDI program.")] = 0,
    velocity: Annotated[int, typer.Option(min=1, max=127, help="Note velocity.")] = 80,
    steps_per_quarter: StepsOption = None,
    fs: FsOption = None,
    sustain: SustainOption = False,
    include_drums: DrumsOption = False,
    low_pitch: LowOption = 21,
    n_pitches: PitchesOption = 88,
) -> None:
    """Write one split's pieces as MIDI files, at the dataset's frame duration (all files or none)."""
    from seqgen.fileio import check_output_folder
    from seqgen.music.datasets import export_split

    check_output_folder(out)
    dataset = _load(spec, data, steps_per_quarter, fs, sustain, include_drums, low_pitch, n_pitches)
    written = export_split(dataset, split, out, limit=limit, program=program, velocity=velocity)
    typer.echo(f"wrote {len(written)} MIDI files of {dataset.name} ({split}) to {out}")
