"""`seqgen train` (the product is chosen from the data) and its aliases `train-music` and `train-text`; with
--nproc N, seqgen's launcher (seqgen.core.launch) runs the command as N data-parallel ranks."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

import typer

from seqgen.cli.inputs import check_inputs
from seqgen.cli.options import TRAIN, command, only, reject_inapplicable, resolve_training
from seqgen.core.signals import Stopped, die_with_parent, stopping_on
from seqgen.errors import SeqgenError


def run_training(options: dict[str, Any], task: str | None = None) -> None:
    """Pick the product (given, or from --data / --text), check the options, inputs and run folder (before torch
    is imported: a mistake is one line at once), train, report. Exit 130 after Ctrl-C, 143 after SIGTERM."""
    from seqgen.core.run_lock import check_fresh, remove_run, run_lock
    from seqgen.fileio import check_output_folder
    from seqgen.tasks import get_task, task_for_data

    spec = get_task(task) if task else task_for_data(options["data"], options.get("text"))
    if task and not spec.owns_data(options["data"], options.get("text")):
        raise SeqgenError(f"--data {options['data']}: not {task} data (use seqgen train for it)")
    reject_inapplicable(TRAIN, options, spec.name)
    if options["override"] and not options["resume"]:
        raise SeqgenError("--override only applies with --resume")
    check_inputs(options, {"text": "text file", "valid": "text file"})
    check_output_folder(options["out"])
    check_fresh(options["out"], options["resume"], options["force"])
    rank = int(os.environ.get("RANK", "0"))
    if options["nproc"] > 1 and "WORLD_SIZE" not in os.environ:
        from seqgen.core.launch import launch

        with run_lock(options["out"]):  # an occupied folder is refused before any rank starts
            pass
        raise typer.Exit(launch(options["nproc"], _rank_args()))
    if "WORLD_SIZE" in os.environ:  # a rank (of seqgen's launcher or torchrun) stops when its launcher dies
        die_with_parent(signal.SIGTERM)
    try:
        with stopping_on(signal.SIGTERM), run_lock(options["out"]) if rank == 0 else contextlib.nullcontext():
            if options["force"] and rank == 0:
                remove_run(options["out"])
            summary, interrupted = _train(spec, options)  # the training loop itself stops at a safe point
    except Stopped as exc:  # before the training loop began (loading data, pretraining)
        typer.echo(f"interrupted by {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    if interrupted:  # the loop said where it stopped and what it saved
        raise typer.Exit(128 + interrupted)
    if rank == 0:  # under torchrun, rank 0 alone reports
        typer.echo(summary)


def _train(spec, options: dict[str, Any]) -> tuple[str, int]:
    """Train with the resolved options; under seqgen's launcher a rank that lost a peer exits quietly
    (launch.PEER_LOST), as the launcher names the rank that ended."""
    from seqgen.core.distributed import PeerLost
    from seqgen.core.launch import LAUNCHED, PEER_LOST
    from seqgen.runtime import set_threads

    set_threads(options["threads"])
    resolved = resolve_training({o.name: options.get(o.name, o.default) for o in only(TRAIN, spec.name)}, spec.name)
    try:
        return spec.train(resolved)
    except PeerLost:
        if os.environ.get(LAUNCHED):
            raise typer.Exit(PEER_LOST) from None
        raise


def _rank_args() -> list[str]:
    """This command's arguments without --nproc (the ranks run under WORLD_SIZE and need none)."""
    args, rest = [], iter(sys.argv[1:])
    for arg in rest:
        if arg == "--nproc":
            next(rest, None)
        elif not arg.startswith("--nproc="):
            args.append(arg)
    return args


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
