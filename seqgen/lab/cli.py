"""`seqgen lab sweep | report`: train a factorial design of RNN populations on Dask, then report on it.
The typer sub-app that seqgen/cli mounts (its main is the one error path); imports typer only, so `--help`
stays instant: torch and Dask load inside the commands."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The long-term-dependency lab: factorial sweeps of RNN populations and reports on them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

DesignArg = Annotated[Path, typer.Argument(help="Design file (TOML): defaults and [[block]] factorial tables.")]
OutOption = Annotated[Path, typer.Option("--out", help="Results folder (runs/*.json); rerun to resume.")]
SchedulerOption = Annotated[
    str | None,
    typer.Option(help="Address of a running Dask scheduler (tcp://host:port or tls://, with TLS from the Dask "
                 "config). It is trusted completely: its workers' results are unpickled here. Default: an embedded "
                 "cluster on 127.0.0.1, TLS with a certificate made for this sweep, no dashboard."),
]
WorkersOption = Annotated[
    int | None,
    typer.Option(min=0, help="Local worker processes (default: all cores, at most 4 per core); 0 trains in this "
                 "process without Dask."),
]
SeedOption = Annotated[int | None, typer.Option(help="Base seed (replicate r gets seed + r); overrides the design's.")]
DryRunOption = Annotated[bool, typer.Option(help="Print the plan (cells, runs, populations) and stop.")]


@app.command()
def sweep(
    design: DesignArg,
    out: OutOption = Path("results/lab/sweep"),
    scheduler: SchedulerOption = None,
    workers: WorkersOption = None,
    seed: SeedOption = None,
    dry_run: DryRunOption = False,
) -> None:
    """Expand DESIGN into cells, pack them into populations and train them; finished runs are skipped."""
    from seqgen.core.run_lock import run_lock
    from seqgen.fileio import write_text_atomic
    from seqgen.lab.design import load_design, read_design_text
    from seqgen.lab.sweep import check_scheduler, describe_cluster, plan_sweep, run_sweep
    from seqgen.runtime import console, progress

    plan_design = load_design(design, seed)
    with contextlib.nullcontext() if dry_run else run_lock(out):  # one sweep writes a folder at a time
        plan = plan_sweep(plan_design, out)
        if scheduler and not dry_run:
            check_scheduler(scheduler)  # one line before any output when it is malformed, refused or silent
        console.print(
            f"{plan_design.name}: {plan_design.n_cells} cells, {plan.total} runs; {plan.done} finished, "
            f"{plan.pending} to train in {len(plan.populations)} populations on {describe_cluster(scheduler, workers)}",
            highlight=False,
        )
        if dry_run or not plan.populations:
            return
        write_text_atomic(out / "design.toml", read_design_text(design))
        successes = 0
        with progress() as bar:
            task = bar.add_task("training", total=plan.pending, status="")
            for _, records in run_sweep(plan, out, scheduler, workers):
                successes += sum(r["success"] for r in records)
                bar.update(task, advance=len(records), status=f"{successes} succeeded")
    console.print(f"done: results in {out}/runs; `seqgen lab report {out}` summarises them", highlight=False)


ReportDirArg = Annotated[
    Path,
    typer.Argument(help="A sweep's results folder: runs/*.json, or the compact runs.jsonl.gz the repository keeps."),
]
ReportOutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Where to write report.md, cells.csv, summary.json, figures and runs.jsonl.gz, all or none (default DIR).",
    ),
]


@app.command()
def report(directory: ReportDirArg, out: ReportOutOption = None) -> None:
    """Success per cell with Wilson intervals; VEG per step against success within cells; the learning rate's share
    beyond the other factors' interactions; the IRNN against the other kinds by exact tests; figures."""
    from seqgen.fileio import check_output_folder
    from seqgen.lab.records import load_records

    loaded = load_records(directory)  # a bad folder is reported before NumPy, SciPy and matplotlib load
    target = check_output_folder(out or directory)

    from seqgen.lab.report import write_report
    from seqgen.runtime import console

    summary = write_report(directory, target, loaded)
    console.print(summary, highlight=False)
