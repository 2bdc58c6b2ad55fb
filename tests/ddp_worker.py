"""Run under torchrun by tests/test_ddp.py: `seqgen train` commands in one process group, one per argument.

Each argument is a JSON list of CLI arguments; a leading "interrupt@N" sends SIGINT to rank 1 alone at its
N-th training step (as if Ctrl-C reached one process only). OUT/report-RANK.json gets the exit code of each
command and the number of files the training loop wrote in this process.
"""

import json
import os
import signal
import sys

import torch.distributed as dist

import seqgen.core.run_files
from seqgen.cli import main
from seqgen.music.train_music import MusicTask

WRITES = [0]


def counted(write):
    """`write` (a file writer of the training loop) counting its calls in WRITES."""

    def run(*args, **kwargs):
        WRITES[0] += 1
        return write(*args, **kwargs)

    return run


def run(args: list[str]) -> int:
    """Exit code of one `seqgen ...` call in this process."""
    try:
        main(args)
        return 0
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1


def interrupt_rank1_at(step: int) -> None:
    """Make rank 1's `step`-th music training step send itself SIGINT."""
    original, calls = MusicTask.step_loss, [0]

    def step_loss(self, *args):
        calls[0] += 1
        if calls[0] == step and dist.get_rank() == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return original(self, *args)

    MusicTask.step_loss = step_loss


if __name__ == "__main__":
    out, commands = sys.argv[1], [json.loads(a) for a in sys.argv[2:]]
    dist.init_process_group("gloo")
    for name in ("save_checkpoint", "write_text_atomic"):
        setattr(seqgen.core.run_files, name, counted(getattr(seqgen.core.run_files, name)))
    codes = []
    for command in commands:
        if command[0].startswith("interrupt@"):
            interrupt_rank1_at(int(command.pop(0).split("@")[1]))
        codes.append(run(command))
    with open(os.path.join(out, f"report-{dist.get_rank()}.json"), "w") as f:
        json.dump({"codes": codes, "writes": WRITES[0]}, f)
    dist.destroy_process_group()
