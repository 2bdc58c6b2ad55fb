"""Run a grid: every cell in its own process (one torch thread each), at most `jobs` at a time in the grid's order
(cheapest dataset first); finished cells are skipped, interrupted ones resume from their search.pt; a dataset's
output-model cells with the best ablation row start once its ablation rows are done.

Layout under `out` (committed): cells/<dataset>--<row>.json, table.md, figures. Under `runs` (checkpoints, not
committed): <dataset>--<row>/{search.pt,best.pt,members.md,members.json,curves/,train.log,cpu_seconds}.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import shutil
import signal
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from seqgen.core.signals import die_with_parent
from seqgen.experiments.grid import Cell, Grid, Row, output_row, output_source, task_of
from seqgen.runtime import log

_WARNED: set[Path] = set()


def result_path(out: Path, cell: Cell) -> Path:
    return out / "cells" / f"{cell.key}.json"


def check_record(record: Any, cell: Cell) -> str | None:
    """What is wrong with a cell's record (None if nothing): its type, cell name, status, and an ok cell's scores."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not isinstance(record, dict):
        return f"expected a JSON object, found {type(record).__name__}"
    if record.get("cell") != cell.key:
        return f"its cell is {str(record.get('cell'))[:40]!r}, not {cell.key!r}"
    if record.get("status") not in ("ok", "diverged", "error"):
        return f"unknown status {str(record.get('status'))[:40]!r}"
    if record["status"] != "ok":
        return None
    test = record.get("test")
    if not isinstance(test, dict) or not all(number(test.get(k)) for k in ("score", "min", "max")):
        return "its test scores are missing or not numbers"
    if not isinstance(test.get("unit"), str) or not number(record.get("best_valid")):
        return "its test unit or best validation score is missing"
    if test.get("estimator", "exact") != "exact" and not all(number(test.get(k)) for k in ("lower", "stderr")):
        return "its AIS bracket (lower, stderr) is missing or not numbers"
    return None


def read_result(out: Path, cell: Cell, grid: Grid | None = None) -> dict[str, Any] | None:
    """The finished cell's record, or None if it has not finished; a damaged record, or (given `grid`) one trained
    under another budget than the grid's, is reported in one line (once) and counts as not finished, so the cell
    is computed again."""
    path = result_path(out, cell)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeError, ValueError, RecursionError) as exc:
        problem = f"not readable JSON ({type(exc).__name__})"
    else:
        problem = check_record(record, cell)
        changed = budget_change(grid, record, cell) if grid is not None and problem is None else []
        if changed:
            problem = f"trained under another budget ({', '.join(changed)} differ from the grid's)"
        elif problem is None:
            return record
    if path not in _WARNED:
        _WARNED.add(path)
        log.warning("%s: %s; the cell will be computed again", path, problem)
    return None


def cell_budget(grid: Grid, cell: Cell) -> dict[str, Any]:
    """The budget a cell trains under now, as its record stores it (an RNN-RBM cell's own cap, rungs, patience);
    a cell without an RBM leaves out the rbm_* fields, so a change to them recomputes only the RBM cells."""
    kind = output_source(cell.row)[0] if cell.row.startswith("out-") else None
    budget = json.loads(json.dumps(asdict(grid.budgets[cell.dataset].for_model(kind))))
    return budget if kind == "rnn-rbm" else {k: v for k, v in budget.items() if not k.startswith("rbm_")}


def budget_change(grid: Grid, record: dict[str, Any], cell: Cell) -> list[str]:
    """The budget fields in which `record` differs from what `cell` trains under now (none: the same). A changed
    epoch cap that bound no member of the record (each stopped, dropped or diverged before the old cap and within
    the new one) is no change: the cell would train the same members to the same end under either cap."""
    saved, now = record.get("budget"), cell_budget(grid, cell)
    changed = sorted(k for k in now if not isinstance(saved, dict) or saved.get(k) != now[k])
    if changed and set(changed) <= {"epochs", "rbm_epochs"} and _cap_bound_none(record, saved["epochs"], now["epochs"]):
        return []
    return changed


def _cap_bound_none(record: dict[str, Any], old_cap: Any, new_cap: int) -> bool:
    """Whether every member of `record`'s search ended before `old_cap` epochs and within `new_cap`."""
    search = record.get("search")
    members = search.get("members") if isinstance(search, dict) else None
    if not isinstance(members, list) or not members or not isinstance(old_cap, int):
        return False
    epochs = [m.get("epochs") if isinstance(m, dict) else None for m in members]
    return all(isinstance(e, int) and e < old_cap and e <= new_cap for e in epochs)


def other_budget(grid: Grid, out: Path, cell: Cell) -> bool:
    """Whether `cell` has a sound record trained under another budget than the grid's now."""
    try:
        record = json.loads(result_path(out, cell).read_text(encoding="utf-8"))
    except (OSError, UnicodeError, ValueError, RecursionError):
        return False
    return check_record(record, cell) is None and bool(budget_change(grid, record, cell))


def discard_search(run_dir: Path) -> None:
    """Delete a cell's search state (search.pt, best.pt, members, curves, CPU count), so it starts over under a
    changed budget instead of resuming members that stopped under the old one; train.log is kept."""
    for name in ("search.pt", "best.pt", "members.json", "members.md", "cpu_seconds"):
        (run_dir / name).unlink(missing_ok=True)
    if (run_dir / "curves").is_dir():
        shutil.rmtree(run_dir / "curves")


def best_row(grid: Grid, out: Path, dataset: str) -> tuple[Row, dict[str, Any]] | None:
    """The ablation row with the best validation score on `dataset` and its record (None until all are done)."""
    records = [(row, read_result(out, Cell(dataset, row.key), grid)) for row in grid.rows(task_of(dataset))]
    if any(r is None for _, r in records):
        return None
    scored = [(row, r) for row, r in records if r["status"] == "ok"]
    if not scored:
        return None
    better = min if task_of(dataset) == "text" else max
    return better(scored, key=lambda rr: rr[1]["best_valid"])


def source_row(grid: Grid, out: Path, cell: Cell) -> Row | None:
    """The ablation row an output-model cell trains with: SGD, or the best row (None until that is known)."""
    rows = {r.key: r for r in grid.rows(task_of(cell.dataset))}
    kind, sgd = output_source(cell.row)
    if sgd:
        return output_row(rows["sgd"], kind, cell.row)
    best = best_row(grid, out, cell.dataset)
    return None if best is None else output_row(best[0], kind, cell.row)


def same_as(grid: Grid, out: Path, cell: Cell) -> Cell | None:
    """The SGD output cell that a best-row output cell duplicates when the best row is SGD, else None."""
    kind, sgd = output_source(cell.row)
    if not cell.row.startswith("out-") or sgd:
        return None
    best = best_row(grid, out, cell.dataset)
    return Cell(cell.dataset, f"out-{kind}-sgd") if best is not None and best[0].key == "sgd" else None


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
    """Cells without a valid result yet or recorded as an error, in the grid's order (a best-row cell that
    duplicates its SGD cell is none)."""
    unfinished = lambda c: (read_result(out, c, grid) or {"status": "error"})["status"] == "error"
    return [c for c in grid.cells() if unfinished(c) and same_as(grid, out, c) is None]


@dataclass
class GridRun:
    """What a run of the grid did: the cells it finished, those whose worker failed, those recorded as errors."""

    done: list[Cell] = field(default_factory=list)
    failed: list[Cell] = field(default_factory=list)
    errors: list[Cell] = field(default_factory=list)


def run_grid(
    grid: Grid, out: Path, runs: Path, *, jobs: int | None = None, seed: int = 0, device: str = "cpu",
    command: str = "", on_cell: Callable[[Cell, dict[str, Any]], None] | None = None,
) -> GridRun:  # fmt: skip
    """Run the missing cells of `grid`, `jobs` processes at a time (default: one per core), in the grid's order."""
    jobs = jobs or os.cpu_count() or 1
    todo, result = pending_cells(grid, out), GridRun()
    rows = {d: {r.key: r for r in grid.rows(task_of(d))} for d in grid.datasets}
    context = multiprocessing.get_context("spawn")
    orphan_free = {"initializer": die_with_parent, "initargs": (signal.SIGKILL,)}  # workers die with this process
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context, **orphan_free) as pool:
        running: dict[Future, Cell] = {}

        def submit_ready() -> None:
            for cell in list(todo):
                if len(running) >= jobs:
                    return
                if same_as(grid, out, cell) is not None:
                    todo.remove(cell)
                    continue
                row = rows[cell.dataset].get(cell.row) or source_row(grid, out, cell)
                if row is None:
                    continue  # waits for its dataset's ablation rows
                todo.remove(cell)
                chosen = None if cell.row in rows[cell.dataset] else _source_key(row, rows[cell.dataset])
                spec = cell_spec(grid, cell, row, out, runs, seed, device, command, chosen)
                if other_budget(grid, out, cell):  # starts over rather than resume members stopped under it
                    discard_search(runs / cell.key)
                running[pool.submit(_worker, spec)] = cell

        submit_ready()
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                cell = running.pop(future)
                try:
                    record = future.result()
                except Exception as exc:  # noqa: BLE001 - one failed cell must not stop the grid
                    log.error("%s: failed (%s: %s); rerun to retry", cell.key, type(exc).__name__, exc)
                    result.failed.append(cell)
                    continue
                (result.errors if record["status"] == "error" else result.done).append(cell)
                (log.error if record["status"] == "error" else log.info)("%s: %s", cell.key, summary(record))
                if on_cell is not None:
                    on_cell(cell, record)
            submit_ready()
    for cell in todo:
        log.warning("%s: not run (no ablation row of %s finished with a score)", cell.key, cell.dataset)
    return result


def _source_key(row: Row, ablation: dict[str, Row]) -> str:
    """The key of the ablation row whose options an output row took."""
    base = {k: v for k, v in row.options.items() if k != "model"}
    return next(key for key, r in ablation.items() if r.options == base)


def summary(record: dict[str, Any]) -> str:
    """One line: the test score with its range over seeds, and the CPU time; or the status and why."""
    test = record.get("test")
    if record["status"] == "error":
        return f"error: {record.get('error', '')}"
    if record["status"] != "ok" or not test:
        return f"{record['status']} {record.get('error', '')}".strip()
    return (f"test {test['score']:.4f} {test['unit']} (seeds {test['min']:.4f}..{test['max']:.4f}), "
            f"lr {record['selected']['lr']:.4g}, {record['cpu_seconds'] / 3600:.2f} CPU-h")  # fmt: skip
