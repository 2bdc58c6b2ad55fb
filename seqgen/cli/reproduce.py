"""`seqgen reproduce`: run a named experiment grid (each cell a learning-rate search, resumable) and write its table
and figures."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import typer

from seqgen.cli.options import DEVICE, SEED, Opt, command
from seqgen.errors import SeqgenError

REPRODUCE = [
    Opt("grid", str, "paper2013", "The grid: paper2013 = the 2013 ablation (SGD, +C, +L, +N, +R) on plain RNNs, "
        "then RNN-NADE and RNN-RBM with SGD and with the best row, on JSB, Piano-midi.de, Nottingham, MuseData "
        "and PTB characters; every cell a learning-rate search (8 ε × 2 seeds, successive halving).",
        argument=True),
    Opt("quick", bool, False, "Small budgets (JSB and PTB subsets, 1-3 epochs; about 2 minutes on one core), "
        "written under OUT-quick and labelled so: it shows the grid runs, not what the techniques do.",
        ("--quick",)),
    Opt("datasets", str | None, None, "Comma-separated datasets of the grid to run. Default: all."),
    Opt("jobs", int | None, None, "Cells trained in parallel (one process and one thread each). "
        "Default: the number of cores.", extra={"min": 1, "max": 256}),
    Opt("ais_runs", int | None, None, "RNN-RBM cells: AIS runs per test frame. Default: the grid's (100).",
        extra={"min": 2, "max": 100_000}),
    Opt("ais_steps", int | None, None, "RNN-RBM cells: AIS steps per run. Default: the grid's (200).",
        extra={"min": 1, "max": 1_000_000}),
    Opt("out", Path, Path("results/reproduce"), "Folder for the cell results (JSON), table.md and the figures."),
    Opt("runs", Path, Path("runs/reproduce"), "Folder for the cells' checkpoints (resumed from here)."),
    Opt("table_only", bool, False, "Only rewrite the table and figures from the finished cells.", ("--table-only",)),
    SEED,
    DEVICE,
]  # fmt: skip


def _flags(options: dict[str, Any]) -> list[str]:
    """The options given (those that differ from their defaults) as command-line flags, for the record."""
    flags = []
    for opt in REPRODUCE[1:]:
        value = options[opt.name]
        if value != (opt.default.value if hasattr(opt.default, "value") else opt.default):
            flags += [opt.flag] if opt.type is bool else [opt.flag, str(value)]
    return flags


@command(REPRODUCE)
def reproduce(options: dict[str, Any]) -> None:
    """Run a paper grid: each row adds one technique to the row above; finished cells are skipped and an
    interrupted cell resumes. Writes OUT/cells/*.json, OUT/table.md, OUT/valid_curves.png, OUT/test_scores.png."""
    from seqgen.experiments.figures import test_scores, valid_curves
    from seqgen.experiments.runner import run_grid
    from seqgen.experiments.table import markdown_table
    from seqgen.fileio import check_output_folder, write_text_atomic
    from seqgen.runtime import choose_device, console, progress

    grid = _grid(options)
    suffix = "-quick" if options["quick"] else ""
    out = check_output_folder(Path(f"{options['out']}{suffix}") / grid.name.removesuffix("-quick"))
    runs = Path(f"{options['runs']}{suffix}") / grid.name.removesuffix("-quick")
    device = str(choose_device(options["device"]))
    if not options["table_only"]:
        argv = ["seqgen", "reproduce", grid.name.removesuffix("-quick"), *_flags(options)]
        with progress() as bar:
            task = bar.add_task(f"grid {grid.name}", total=None, status="")
            ran = run_grid(
                grid, out, runs, jobs=options["jobs"], seed=options["seed"], device=device,
                command=shlex.join(argv), on_cell=lambda cell, record: bar.update(task, advance=1, status=cell.key),
            )  # fmt: skip
    table = markdown_table(grid, out)
    label = "**Quick budgets (subsets, 1-3 epochs): the numbers show that the grid runs, not what techniques do.**\n\n"
    write_text_atomic(out / "table.md", f"# Grid {grid.name}\n\n{label if options['quick'] else ''}{table}")
    figures = [valid_curves(grid, out, out / "valid_curves.png"), test_scores(grid, out, out / "test_scores.png")]
    console.print(table, highlight=False, markup=False)
    typer.echo(f"wrote {out / 'table.md'}, {', '.join(str(f) for f in figures)}")
    if not options["table_only"] and (ran.failed or ran.errors):
        bad = ", ".join(c.key for c in ran.failed + ran.errors)
        raise SeqgenError(f"{len(ran.failed) + len(ran.errors)} cell(s) without a result ({bad}): see the log lines "
                          "above; rerun the same command to retry them")  # fmt: skip


def _grid(options: dict[str, Any]):
    """The grid the options name, restricted to --datasets, with --ais-runs / --ais-steps where it has RNN-RBM cells."""
    from dataclasses import replace

    from seqgen.experiments.grid import get_grid

    grid = get_grid(options["grid"], options["quick"])
    if options["datasets"] is not None:
        names = [d.strip() for d in options["datasets"].split(",") if d.strip()]
        if not names:
            raise SeqgenError(f"{options['datasets']!r} names no dataset (grid {grid.name} has "
                              f"{', '.join(grid.datasets)})", param="datasets")  # fmt: skip
        grid = grid.only(names)
    ais = {k: options[k] for k in ("ais_runs", "ais_steps") if options[k] is not None}
    if ais and not any(grid.output_cells(d) for d in grid.datasets):
        flags = ", ".join("--" + k.replace("_", "-") for k in ais)
        raise SeqgenError(f"{flags}: only for RNN-RBM cells, and the datasets {', '.join(grid.datasets)} have none")
    return replace(grid, **ais)
