"""Start-up time of the `seqgen` command: `--help` of every command, `--version` and argument errors.

Usage: python scripts/bench_startup.py [--repeats 5] [--seqgen PATH] [--out results/bench_startup.json]
--seqgen times another installed `seqgen` script (e.g. a wheel in a fresh venv) instead of this one.
Each case runs as a fresh process; we report the best and median wall-clock time and the CPU time of the
best run (CPU time is not inflated by other programs on a shared machine), and whether torch was imported
(from `python -X importtime`). The target is ≤ 0.5 s wall for every case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "--help": ["--help"],
    "--version": ["--version"],
    "train --help": ["train", "--help"],
    "train-music --help": ["train-music", "--help"],
    "train-text --help": ["train-text", "--help"],
    "sample --help": ["sample", "--help"],
    "score --help": ["score", "--help"],
    "data --help": ["data", "--help"],
    "data list --help": ["data", "list", "--help"],
    "data info --help": ["data", "info", "--help"],
    "data export --help": ["data", "export", "--help"],
    "lab --help": ["lab", "--help"],
    "error: bad option value": ["sample", "--temperature", "hot"],
    "error: unknown option": ["train", "--no-such-option"],
    "error: unknown command": ["trian"],
}
TARGET_S = 0.5


def command() -> list[str]:
    """The installed `seqgen` script beside this interpreter, else `python -m seqgen.cli`."""
    script = Path(sys.executable).with_name("seqgen")
    return [str(script)] if script.exists() else [sys.executable, "-m", "seqgen.cli"]


def time_once(args: list[str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imports_torch(args: list[str]) -> bool:
    """Whether the command imports torch (read from `python -X importtime`)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "seqgen.cli", *args],
                          capture_output=True, text=True, check=False)
    return any(line.split("|")[-1].strip() == "torch" for line in proc.stderr.splitlines()
               if line.startswith("import time:"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seqgen", type=Path, help="the seqgen script to time (default: beside this python)")
    parser.add_argument("--out", type=Path, default=Path("results/bench_startup.json"))
    args = parser.parse_args()
    base = [str(args.seqgen)] if args.seqgen else command()
    rows = []
    for name, case in CASES.items():
        runs = [time_once(base + case) for _ in range(args.repeats)]
        best = min(runs)
        row = {"case": name, "best_s": round(best[0], 3), "median_s": round(statistics.median(w for w, _ in runs), 3),
               "cpu_s_of_best": round(best[1], 3), "min_cpu_s": round(min(c for _, c in runs), 3),
               "imports_torch": imports_torch(case)}
        row["ok"] = row["best_s"] <= TARGET_S and not row["imports_torch"]
        rows.append(row)
        print(f"{name:26s} best {row['best_s']:.3f} s  median {row['median_s']:.3f} s  cpu {row['min_cpu_s']:.3f} s"
              f"  torch {'imported' if row['imports_torch'] else 'not imported'}", flush=True)
    result = {
        "target_s": TARGET_S,
        "command": " ".join(base),
        "repeats": args.repeats,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "all_ok": all(r["ok"] for r in rows),
        "cases": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"worst best-of-{args.repeats}: {max(r['best_s'] for r in rows):.3f} s wall, "
          f"{max(r['min_cpu_s'] for r in rows):.3f} s CPU (load average {result['load_average'][0]:.1f} on "
          f"{result['cpus']} CPUs); all within {TARGET_S} s wall and torch-free: {result['all_ok']}; wrote {args.out}")


if __name__ == "__main__":
    main()
