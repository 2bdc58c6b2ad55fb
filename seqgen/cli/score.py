"""`seqgen score`: log-likelihood of a file or a data split under a model, dispatched on the checkpoint."""

from __future__ import annotations

import json
from typing import Any

import typer

from seqgen.cli.dispatch import load_for, show
from seqgen.cli.inputs import check_input, check_inputs
from seqgen.cli.options import SCORE, command
from seqgen.errors import SeqgenError


@command(SCORE)
def score(options: dict[str, Any]) -> None:
    """Score a file or a data split: log-likelihood per frame (music; exact, or an AIS estimate for the RBM)
    or bits per character and perplexity (text)."""
    files = options["file"] or []
    several = len(files) > 1 or any(path.is_dir() for path in files)  # music: one row per file (issue 19)
    options["file"], options["files"] = (None, files) if several else (files[0] if files else None, None)
    check_inputs(options, {"model": "checkpoint file", "file": "file"})
    if several:
        from seqgen.music.midi_paths import midi_paths

        for path in files:
            check_input(path, "file", folder_ok=True)
        options["files"] = midi_paths(files)
    if options["model"] is None:
        from seqgen.music.sample import shipped_model

        options["model"] = shipped_model()
    spec, ckpt, model = load_for(SCORE, options, outputs=("per_frame", "csv"))
    if options["files"] and spec.name != "music":
        raise SeqgenError(f"{options['model']}: a {spec.name} model scores one file at a time")
    from seqgen.runtime import progress

    with progress(transient=True) as bar:
        task = bar.add_task("score", total=None, status="")
        outcome = spec.score(ckpt, model, options, lambda n, total: bar.update(task, advance=n, total=total))
    if options["as_json"]:
        try:
            typer.echo(json.dumps(outcome.result, allow_nan=False))
        except ValueError:
            raise SeqgenError(f"{options['model']}: the score is not a finite number") from None
        return
    if not outcome.tables:
        outcome.lines = [f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in outcome.result.items()]
    show(outcome)
