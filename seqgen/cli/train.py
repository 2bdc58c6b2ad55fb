"""`seqgen train` (the product is chosen from the data) and its aliases `train-music` and `train-text`."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer

from seqgen.cli.inputs import check_inputs
from seqgen.cli.options import TRAIN, command, only, reject_inapplicable, resolve_training
from seqgen.errors import SeqgenError


def run_training(options: dict[str, Any], task: str | None = None) -> None:
    """Pick the product (given, or from --data / --text), check the options and inputs apply (before torch is
    imported: a mistake is one line at once), train, report."""
    from seqgen.fileio import check_output_folder
    from seqgen.tasks import get_task, task_for_data

    spec = get_task(task) if task else task_for_data(options["data"], options.get("text"))
    if task and not spec.owns_data(options["data"], options.get("text")):
        raise SeqgenError(f"--data {options['data']}: not {task} data (use seqgen train for it)")
    reject_inapplicable(TRAIN, options, spec.name)
    if options["override"] and not options["resume"]:
        raise SeqgenError("--override only applies with --resume")
    check_inputs(options, {"text": "text file", "valid": "text file"})
    if options["nproc"] > 1 and "WORLD_SIZE" not in os.environ:
        _relaunch_under_torchrun(options["nproc"])
    from seqgen.core.distributed import world_from_env
    from seqgen.runtime import set_threads

    check_output_folder(options["out"])
    set_threads(options["threads"])
    resolved = resolve_training({o.name: options.get(o.name, o.default) for o in only(TRAIN, spec.name)}, spec.name)
    summary, interrupted = spec.train(resolved)
    if world_from_env()[1] == 0:  # under torchrun, rank 0 alone reports
        typer.echo(summary)
    if interrupted:
        raise typer.Exit(130)


def _relaunch_under_torchrun(nproc: int) -> None:
    """Replace this process by torchrun running the same command in `nproc` processes (exec, so that
    Ctrl-C reaches torchrun, which forwards it to every rank)."""
    args, rest = [], iter(sys.argv[1:])
    for arg in rest:  # the ranks run under WORLD_SIZE and need no --nproc (torchrun would take it for its own)
        if arg == "--nproc":
            next(rest, None)
        elif not arg.startswith("--nproc="):
            args.append(arg)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"]
    os.execv(sys.executable, [*torchrun, "-m", "seqgen", *args])


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
