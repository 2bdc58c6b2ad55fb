"""`seqgen train` (the product is chosen from the data) and its aliases `train-music` and `train-text`."""

from __future__ import annotations

from typing import Any

import typer

from seqgen.cli.options import TRAIN, command, only, reject_inapplicable, resolve_training
from seqgen.errors import SeqgenError


def run_training(options: dict[str, Any], task: str | None = None) -> None:
    """Pick the product (given, or from --data / --text), check the options apply, train, report."""
    from seqgen.core.distributed import world_from_env
    from seqgen.fileio import check_output_folder
    from seqgen.tasks import get_task, task_for_data

    spec = get_task(task) if task else task_for_data(options["data"], options.get("text"))
    if task and not spec.owns_data(options["data"], options.get("text")):
        raise SeqgenError(f"--data {options['data']}: not {task} data (use seqgen train for it)")
    reject_inapplicable(TRAIN, options, spec.name)
    if options["override"] and not options["resume"]:
        raise SeqgenError("--override only applies with --resume")
    check_output_folder(options["out"])
    resolved = resolve_training({o.name: options.get(o.name, o.default) for o in only(TRAIN, spec.name)}, spec.name)
    summary, interrupted = spec.train(resolved)
    if world_from_env()[1] == 0:  # under torchrun, rank 0 alone reports
        typer.echo(summary)
    if interrupted:
        raise typer.Exit(130)


@command(TRAIN)
def train(options: dict[str, Any]) -> None:
    """Train a music model (RNN-NADE, RNN-RBM, RNN) or a text language model; the data says which."""
    run_training(options)


@command(only(TRAIN, "music"))
def train_music(options: dict[str, Any]) -> None:
    """Train an RNN-NADE, RNN-RBM or RNN on piano-rolls; validation log-likelihood every epoch."""
    run_training(options, "music")


@command(only(TRAIN, "text"))
def train_text(options: dict[str, Any]) -> None:
    """Train a language model (embedding → recurrent core → softmax); progress shows bits per character."""
    run_training(options, "text")
