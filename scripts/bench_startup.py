"""Start-up time of the `seqgen` command: `--help` of every command, `--version`, argument errors and inputs
that cannot be read.

Usage: python scripts/bench_startup.py [--repeats 5] [--seqgen PATH] [--out results/bench_startup.json]
--seqgen times another installed `seqgen` script (e.g. a wheel in a fresh venv) instead of this one.
Each case runs as a fresh process; we report the best and median wall-clock time and the least CPU time
(CPU time is not inflated by other programs on a shared machine), and whether torch was imported (from
`python -X importtime`). Targets: every `--help` ≤ 0.3 s wall; every error ≤ 0.5 CPU-s and torch-free.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
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
    "error: missing value": ["sample", "--n"],
    "error: out-of-range value": ["sample", "--n", "0"],
    "error: bad choice": ["score", "--split", "tset"],
    "error: extra arguments": ["data", "list", "one", "two"],
    "error: --seed notint": ["train", "--seed", "notint"],
    "error: bare seqgen": [],
    "error: --override without --resume": ["train", "--override"],
    "input: missing file": ["score", "{tmp}/absent.mid"],
    "input: a folder as --primer": ["sample", "--primer", "{tmp}"],
    "input: a folder as --text": ["train-text", "--text", "{tmp}"],
    "input: missing checkpoint": ["sample", "--model", "{tmp}/absent.pt"],
    "input: unreadable file": ["score", "{tmp}/locked.mid"],
    "input: unknown dataset": ["train", "--data", "{tmp}/absent"],
}
HELP_WALL_S = 0.3  # every --help and --version, best wall time
ERROR_CPU_S = 0.5  # every error, least CPU time, before torch is imported


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


def inputs(folder: Path) -> Path:
    """A folder holding a file its owner cannot read (root reads any file: that case is left out under root)."""
    locked = folder / "locked.mid"
    locked.write_bytes(b"MThd")
    locked.chmod(0)
    return folder


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
    with tempfile.TemporaryDirectory() as tmp:
        rows = [time_case(name, [a.format(tmp=inputs(Path(tmp))) for a in case], base, args.repeats)
                for name, case in CASES.items() if not (name == "input: unreadable file" and os.geteuid() == 0)]
    result = {
        "help_wall_s": HELP_WALL_S,
        "error_cpu_s": ERROR_CPU_S,
        "command": " ".join(base),
        "repeats": args.repeats,
        "python": platform.python_version(),
        "typer": importlib.metadata.version("typer"),
        "cpus": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "load_average": os.getloadavg(),
        "root": os.geteuid() == 0,
        "all_ok": all(r["ok"] for r in rows),
        "cases": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    helps = [r for r in rows if not r["case"].startswith(("error", "input"))]
    errors = [r for r in rows if r["case"].startswith(("error", "input"))]
    print(f"--help: worst best-of-{args.repeats} {max(r['best_s'] for r in helps):.3f} s wall (target {HELP_WALL_S}); "
          f"errors: worst {max(r['min_cpu_s'] for r in errors):.3f} CPU-s (target {ERROR_CPU_S}), "
          f"{max(r['best_s'] for r in errors):.3f} s wall; load average {result['load_average'][0]:.1f} on "
          f"{result['cpus']} CPUs; all within targets and torch-free: {result['all_ok']}; wrote {args.out}")


def time_case(name: str, case: list[str], base: list[str], repeats: int) -> dict:
    """One case's row: best and median wall, least CPU, torch imported or not, within its target or not."""
    runs = [time_once(base + case) for _ in range(repeats)]
    best = min(runs)
    row = {"case": name, "best_s": round(best[0], 3), "median_s": round(statistics.median(w for w, _ in runs), 3),
           "cpu_s_of_best": round(best[1], 3), "min_cpu_s": round(min(c for _, c in runs), 3),
           "imports_torch": imports_torch(case)}
    within = row["min_cpu_s"] <= ERROR_CPU_S if name.startswith(("error", "input")) else row["best_s"] <= HELP_WALL_S
    row["ok"] = within and not row["imports_torch"]
    print(f"{name:36s} best {row['best_s']:.3f} s  median {row['median_s']:.3f} s  cpu {row['min_cpu_s']:.3f} s"
          f"  torch {'imported' if row['imports_torch'] else 'not imported'}", flush=True)
    return row


if __name__ == "__main__":
    main()
