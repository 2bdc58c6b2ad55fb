"""Run a grid: every cell in its own process (one torch thread each), finished cells skipped, interrupted
ones resumed from their last.pt; output-model cells start once their dataset's ablation rows are done.

Layout under `out` (committed): cells/<dataset>--<row>.json, table.md, figures. Under `runs`
(checkpoints, not committed): <dataset>--<row>/{best.pt,last.pt,metrics.jsonl,train.log}.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any

from seqgen.core.signals import die_with_parent
from seqgen.experiments.grid import Cell, Grid, Row, output_row, task_of
from seqgen.runtime import log


def result_path(out: Path, cell: Cell) -> Path:
    return out / "cells" / f"{cell.key}.json"


def read_result(out: Path, cell: Cell) -> dict[str, Any] | None:
    """The finished cell's record, or None if it has not finished."""
    path = result_path(out, cell)
    return json.loads(path.read_text()) if path.is_file() else None


def best_row(grid: Grid, out: Path, dataset: str) -> tuple[Row, dict[str, Any]] | None:
    """The ablation row with the best validation score on `dataset` and its record (None until all are done)."""
    records = [(row, read_result(out, Cell(dataset, row.key))) for row in grid.rows(task_of(dataset))]
    if any(r is None for _, r in records):
        return None
    scored = [(row, r) for row, r in records if r["status"] == "ok" and r["best_valid"] is not None]
    if not scored:
        return None
    better = min if task_of(dataset) == "text" else max
    return better(scored, key=lambda rr: rr[1]["best_valid"])


def cell_spec(grid: Grid, cell: Cell, row: Row, out: Path, runs: Path, seed: int, device: str,
              command: str, selected_from: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Everything a worker process needs to run `cell` (plain values: it crosses a process boundary)."""
    return {
        "grid": grid.name, "key": cell.key, "dataset": cell.dataset, "row": cell.row, "label": row.label,
        "adds": list(row.adds), "options": row.options, "budget": asdict(grid.budgets[cell.dataset]),
        "seed": seed, "device": device, "command": command, "run_dir": str(runs / cell.key),
        "result": str(result_path(out, cell)), "ais_runs": grid.ais_runs, "ais_steps": grid.ais_steps,
        "selected_from": selected_from,
    }  # fmt: skip


def _worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one cell with its progress and log lines sent to <run_dir>/train.log."""
    from seqgen import runtime
    from seqgen.experiments.cell import run_cell

    run_dir = Path(spec["run_dir"])
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "train.log", "a", encoding="utf-8") as stream:
        runtime.console.file = stream
        runtime.setup_logging()
        return run_cell(spec)


def pending_cells(grid: Grid, out: Path) -> list[Cell]:
    """Cells without a result yet: ablation cells, and output cells (kind "rnn" is the best row itself)."""
    cells = [c for c in grid.ablation_cells() if read_result(out, c) is None]
    for dataset in grid.datasets:
        cells += [Cell(dataset, f"out-{k}") for k in grid.output_kinds(dataset) if k != "rnn"
                  and read_result(out, Cell(dataset, f"out-{k}")) is None]  # fmt: skip
    return cells


def run_grid(
    grid: Grid, out: Path, runs: Path, *, jobs: int | None = None, seed: int = 0, device: str = "cpu",
    command: str = "", on_cell: Callable[[Cell, dict[str, Any]], None] | None = None,
) -> list[Cell]:  # fmt: skip
    """Run the missing cells of `grid` with `jobs` processes (default: one per core); return the cells run."""
    jobs = jobs or os.cpu_count() or 1
    todo = pending_cells(grid, out)
    ablation = [c for c in todo if not c.row.startswith("out-")]
    waiting = [c for c in todo if c.row.startswith("out-")]
    done: list[Cell] = []
    rows = {d: {r.key: r for r in grid.rows(task_of(d))} for d in grid.datasets}
    context = multiprocessing.get_context("spawn")
    orphan_free = {"initializer": die_with_parent, "initargs": (signal.SIGKILL,)}  # workers die with this process
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, **orphan_free) as pool:
        running: dict[Future, Cell] = {}

        def submit(cell: Cell, row: Row, selected_from: str | None = None) -> None:
            spec = cell_spec(grid, cell, row, out, runs, seed, device, command, selected_from)
            running[pool.submit(_worker, spec)] = cell

        def release_outputs() -> None:
            for cell in list(waiting):
                best = best_row(grid, out, cell.dataset)
                if best is not None:
                    waiting.remove(cell)
                    submit(cell, output_row(best[0], cell.row.removeprefix("out-")), best[0].key)

        for cell in ablation:
            submit(cell, rows[cell.dataset][cell.row])
        release_outputs()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                cell = running.pop(future)
                try:
                    record = future.result()
                except Exception as exc:  # noqa: BLE001 - one failed cell must not stop the grid
                    log.error("%s: failed (%s: %s); rerun to retry", cell.key, type(exc).__name__, exc)
                    continue
                done.append(cell)
                log.info("%s: %s", cell.key, _summary(record))
                if on_cell is not None:
                    on_cell(cell, record)
            release_outputs()
    for cell in waiting:
        log.warning("%s: not run (no ablation row of %s finished with a score)", cell.key, cell.dataset)
    return done


def _summary(record: dict[str, Any]) -> str:
    test = record.get("test")
    if record["status"] != "ok" or not test:
        return f"{record['status']} {record.get('error', '')}".strip()
    return f"test {test['score']:.4f} {test['unit']}, {record['train_seconds']:.0f} s training"
