"""Does an ablation row of the paper2013 grid lose for want of steps? Train grid rows again on one dataset under
another ε decay γ, everything else as in the grid's cells, and write what each row reaches (issue 17).

    OMP_NUM_THREADS=1 python scripts/decay_check.py --data musedata --decay 0.96 --rows clip,leaky \\
        --lr-range 0.155:0.417 --json results/reproduce/diagnostics/musedata-decay0.96.json

Each row is one `seqgen train-music --lr-range` search (its own rungs: epochs 5, 15, 45, keeping the best third)
over the two ε that the grid selected for these rows, × 2 seeds; its best member is scored on the whole test
split (exact). The JSON holds each command, every member, the selected member's curve, training loss and ε at
its best epoch, and the test score.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
from pathlib import Path

from seqgen.experiments.grid import ablation_rows, get_grid
from seqgen.fileio import write_text_atomic
from seqgen.options import TRAIN

SEQGEN = [sys.executable, "-m", "seqgen"]
FLAG = {o.name: o.flag for o in TRAIN}  # option name → the flag train-music takes it by
SET_HERE = ("lr_range", "lr_decay", "leaky")  # the search range and decay are this check's; leaky is a switch


def row_command(
    data: str, row_key: str, decay: float, lr_range: str, out: Path, seed: int, epochs: int | None
) -> list[str]:
    """The train-music search that trains grid row `row_key` on `data` under ε·decay^epoch."""
    grid = get_grid("paper2013")
    budget = grid.budgets[data]
    options = next(r.options for r in ablation_rows(grid.settings["music"]) if r.key == row_key)
    args = [*SEQGEN, "train-music", "--data", data]
    for key, value in options.items():
        if key not in SET_HERE:
            args += [FLAG[key], str(value)]
    cap = epochs or budget.epochs
    args += ["--leaky" if options["leaky"] else "--no-leaky", "--lr-decay", str(decay), "--lr-range", lr_range,
             "--trials", "2", "--seeds", "2", "--epochs", str(cap), "--batch-size", str(budget.batch_size),
             "--patience", str(budget.patience), "--seed", str(seed), "--threads", "1", "--out", str(out),
             "--force"]  # fmt: skip
    return args


def run_row(data: str, row_key: str, decay: float, lr_range: str, runs: Path, seed: int, epochs: int | None) -> dict:
    """Train the row, score its best member on test, and gather what the JSON reports of it."""
    out = runs / f"{data}-{row_key}-decay{decay:g}"
    train = row_command(data, row_key, decay, lr_range, out, seed, epochs)
    score = [*SEQGEN, "score", "--model", str(out / "best.pt"), "--data", data, "--split", "test", "--json"]
    subprocess.run(train, check=True, stdout=subprocess.DEVNULL)
    test = json.loads(subprocess.run(score, check=True, capture_output=True, text=True).stdout)
    members = json.loads((out / "members.json").read_text())
    best = max((m for m in members if m.get("best_valid") is not None), key=lambda m: m["best_valid"])
    curve = json.loads((out / "curves" / f"m{best['member']:03d}.json").read_text())
    at_best = next(c for c in curve if c["epoch"] == best["best_epoch"])
    return {
        "command": f"{shlex.join(['seqgen', *train[3:]])}; {shlex.join(['seqgen', *score[3:]])}",
        "members": members, "selected": best, "train_loss_at_best": at_best["train_loss"],
        "lr_at_best": at_best["lr"], "test": test, "curve": curve,
    }  # fmt: skip


def _children_cpu() -> float:
    """CPU seconds of the finished child processes (the trainings and scorings)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="musedata", help="A music dataset of the paper2013 grid.")
    parser.add_argument("--decay", type=float, default=0.96, help="γ of ε·γ^epoch for every row.")
    parser.add_argument("--rows", default="clip,leaky", help="Ablation rows, comma-separated.")
    parser.add_argument("--lr-range", default="0.155:0.417", help="LOW:HIGH, two ε (the grid's selections).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="Epoch cap (default: the grid's for --data).")
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="Folder for the runs (not committed).")
    parser.add_argument("--json", type=Path, required=True, help="Where to write the result.")
    args = parser.parse_args()
    rows = {}
    for key in args.rows.split(","):
        rows[key] = run_row(args.data, key, args.decay, args.lr_range, args.runs, args.seed, args.epochs)
        rows[key]["cpu_seconds_so_far"] = _children_cpu()  # this row's and those before it
        print(f"{args.data} {key} γ {args.decay:g}: test {rows[key]['test']['log_likelihood_per_frame']:.4f}, "
              f"training loss at best epoch {rows[key]['train_loss_at_best']:.3f}")  # fmt: skip
    result = {"why": f"issue 17: does a row lose on {args.data} for want of steps under the grid's ε decay? The "
              f"rows {args.rows} at γ {args.decay:g}, everything else as in the grid's cells.",
              "data": args.data, "decay": args.decay, "rows": rows}  # fmt: skip
    write_text_atomic(args.json, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
