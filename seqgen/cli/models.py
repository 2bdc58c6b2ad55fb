"""`seqgen models`: the shipped models, by the names `--model` takes, with their data, test score and size."""

from __future__ import annotations

import json
from typing import Any

import typer

from seqgen.cli.options import _flag, command


@command([_flag("as_json", "Print JSON: the index's records, each with its size in bytes.", "--json")])
def models(options: dict[str, Any]) -> None:
    """List the shipped models: `--model NAME` picks one in sample, score, harmonize and the studio."""
    from rich.console import Console
    from rich.table import Table

    from seqgen.music.shipped import models_dir, shipped_index

    folder = models_dir()
    records = [dict(r, size_bytes=_size(folder / r["file"])) for r in shipped_index()]
    if options["as_json"]:
        typer.echo(json.dumps({"models_dir": str(folder), "models": records}))
        return
    table = Table("name", "kind", "trained on", "test nats/frame", "size", title=f"shipped models in {folder}",
                  title_justify="left")  # fmt: skip
    for r in records:
        score = f"{r['test_log_likelihood']:.3f} ({r['estimator']})" if "test_log_likelihood" in r else "-"
        size = "missing" if r["size_bytes"] is None else f"{r['size_bytes'] / 1e6:.2f} MB"
        table.add_row(r["name"], r.get("kind", "-"), r.get("title", r.get("dataset", "-")), score, size)
    Console().print(table)


def _size(path) -> int | None:
    """The file's size in bytes, None if it is not there."""
    return path.stat().st_size if path.is_file() else None
