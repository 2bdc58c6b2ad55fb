"""`seqgen reproduce`: run a named experiment grid (cells in parallel, resumable) and write its table and figures."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import typer

from seqgen.cli.options import DEVICE, SEED, Opt, command

REPRODUCE = [
    Opt("grid", str, "paper2013", "The grid: paper2013 = the 2013 ablation (SGD, +C, +L, +N, +R) on plain RNNs, "
        "then RNN / RNN-RBM / RNN-NADE with the best settings, on JSB, Nottingham, MuseData, Piano-midi.de "
        "and PTB characters.", argument=True),
    Opt("quick", bool, False, "Small budgets (subsets, few epochs; about 2 minutes on 2 cores), written "
        "under OUT-quick and labelled so.", ("--quick",)),
    Opt("datasets", str | None, None, "Comma-separated datasets of the grid to run. Default: all."),
    Opt("jobs", int | None, None, "Cells trained in parallel (one process and one thread each). "
        "Default: the number of cores.", extra={"min": 1}),
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
    from seqgen.experiments.grid import get_grid
    from seqgen.experiments.runner import run_grid
    from seqgen.experiments.table import markdown_table
    from seqgen.fileio import check_output_folder, write_text_atomic
    from seqgen.runtime import choose_device, console, progress

    grid = get_grid(options["grid"], options["quick"])
    if options["datasets"]:
        grid = grid.only([d.strip() for d in options["datasets"].split(",") if d.strip()])
    suffix = "-quick" if options["quick"] else ""
    out = check_output_folder(Path(f"{options['out']}{suffix}") / grid.name.removesuffix("-quick"))
    runs = Path(f"{options['runs']}{suffix}") / grid.name.removesuffix("-quick")
    device = str(choose_device(options["device"]))
    if not options["table_only"]:
        argv = ["seqgen", "reproduce", grid.name.removesuffix("-quick"), *_flags(options)]
        with progress() as bar:
            task = bar.add_task(f"grid {grid.name}", total=None, status="")
            run_grid(
                grid, out, runs, jobs=options["jobs"], seed=options["seed"], device=device,
                command=shlex.join(argv), on_cell=lambda cell, record: bar.update(task, advance=1, status=cell.key),
            )  # fmt: skip
    table = markdown_table(grid, out)
    write_text_atomic(out / "table.md", f"# Grid {grid.name}\n\n{table}")
    figures = [valid_curves(grid, out, out / "valid_curves.png"), test_scores(grid, out, out / "test_scores.png")]
    console.print(table, highlight=False, markup=False)
    typer.echo(f"wrote {out / 'table.md'}, {', '.join(str(f) for f in figures)}")
