"""Commit each finished cell of a running `seqgen reproduce` grid as soon as its JSON appears (a run that is cut
off loses nothing already finished), with the table rewritten from the finished cells.

    nice -n 10 .venv/bin/python scripts/reproduce_watch.py results/reproduce/paper2013 --every 60

Commits only OUT/cells/*.json, OUT/table.md and the figures (`git commit -- PATHS`); stops when PID has ended.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path


def changed(paths: list[Path]) -> list[Path]:
    """The paths git sees as new or modified."""
    if not paths:
        return []
    out = subprocess.run(
        ["git", "status", "--porcelain", "--", *map(str, paths)], check=False, capture_output=True, text=True
    )
    return [Path(line[3:]) for line in out.stdout.splitlines() if line.strip()]


def message(cell: Path) -> str:
    """One commit line: the cell, its status and test score with the range over seeds, its CPU time and command."""
    try:
        r = json.loads(cell.read_text())
        test = r.get("test") or {}
        said = (f"test {test['score']:.3f} [{test['min']:.3f}, {test['max']:.3f}] {test['unit']}, lr "
                f"{r['selected']['lr']:.3g}" if r["status"] == "ok" else r["status"])  # fmt: skip
        return f"reproduce {r['grid']}: cell {r['cell']} ({said}; {r['cpu_seconds'] / 3600:.2f} CPU-h): {r['command']}"
    except (ValueError, KeyError, TypeError) as exc:
        return f"reproduce: cell {cell.stem} (unreadable record: {exc})"


def commit(paths: list[Path], text: str) -> bool:
    """git commit -m TEXT -- PATHS, retried while another commit holds the index lock."""
    for _ in range(10):
        subprocess.run(["git", "add", "--", *map(str, paths)], check=False, capture_output=True)
        done = subprocess.run(
            ["git", "commit", "-q", "-m", text, "--", *map(str, paths)], check=False, capture_output=True
        )
        if done.returncode == 0:
            return True
        time.sleep(2)
    return False


def alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="The grid's folder, e.g. results/reproduce/paper2013.")
    parser.add_argument("--every", type=float, default=60.0, help="Seconds between looks.")
    parser.add_argument("--pid", type=int, default=None, help="Stop once this process (the grid) has ended.")
    parser.add_argument("--grid", default="paper2013", help="The grid, for the table (--table-only).")
    args = parser.parse_args()
    while True:
        running = alive(args.pid)
        cells = changed(sorted((args.out / "cells").glob("*.json")))
        for cell in cells:
            commit([cell], message(cell))
        if cells:
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            subprocess.run([".venv/bin/seqgen", "reproduce", args.grid, "--table-only", "--out", str(args.out.parent)],
                           check=False, capture_output=True, env=env)  # fmt: skip
            figures = changed([args.out / n for n in ("table.md", "valid_curves.png", "test_scores.png")])
            if figures:
                commit(figures, f"reproduce {args.grid}: table and figures with {len(cells)} more cell(s)")
        if not running:
            return
        time.sleep(args.every)


if __name__ == "__main__":
    main()
