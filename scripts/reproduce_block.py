"""Print the Markdown block the README and docs/reproduce.md show for a grid: its results table and the targets
beside it, from the committed cells (a cell not yet run is "not run"), with the cells' CPU-hours.

    .venv/bin/python scripts/reproduce_block.py results/reproduce/paper2013
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seqgen.experiments.grid import get_grid
from seqgen.experiments.table import markdown_table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="The grid's folder, e.g. results/reproduce/paper2013.")
    parser.add_argument("--grid", default="paper2013")
    args = parser.parse_args()
    table = markdown_table(get_grid(args.grid), args.out).split("\n")
    results = table[: table.index("")]
    start = table.index("Beside the targets (issue 17):") + 2
    targets = table[start : table.index("", start)]
    cells = [json.loads(p.read_text()) for p in sorted((args.out / "cells").glob("*.json"))]
    hours = sum(c.get("cpu_seconds") or 0.0 for c in cells) / 3600
    print("\n".join(results))
    print(f"\n{len(cells)} of {len(get_grid(args.grid).cells())} cells finished, {hours:.2f} CPU-hours in all.\n")
    print("\n".join(targets))


if __name__ == "__main__":
    main()
