"""`seqgen train --nproc N` (torch-free): start N ranks of the same command on this machine and watch them.

Each rank runs `python -m seqgen ARGS` with torchrun's environment (WORLD_SIZE, RANK, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT), so seqgen.core.distributed joins them into one process group. The launcher forwards SIGINT and
SIGTERM to the ranks, which stop together and save last.pt (exit 130 or 143); the ranks die with the
launcher (parent-death signal, seqgen.core.signals). When a rank ends abnormally, the launcher says which
and how in one line, stops the others and exits 1.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from seqgen.core.signals import STOP_SIGNALS

PEER_LOST = 3  # exit status of a rank that stopped because another rank of its run was lost
LAUNCHED = "SEQGEN_LAUNCHED"  # set in the ranks' environment: the launcher reports lost ranks
NORMAL = {0, 130, 143, PEER_LOST}


def launch(nproc: int, args: list[str]) -> int:
    """Run `seqgen ARGS` as `nproc` ranks until all end; return the run's exit status."""
    base = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()), "WORLD_SIZE": str(nproc),
            "LOCAL_WORLD_SIZE": str(nproc), LAUNCHED: "1"}  # fmt: skip
    ranks: list[subprocess.Popen] = []
    received: list[int] = []

    def forward(signum, frame) -> None:
        received.append(signum)
        for rank in ranks:
            if rank.poll() is None:
                rank.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in STOP_SIGNALS}
    try:
        for r in range(nproc):
            env = {**base, "RANK": str(r), "LOCAL_RANK": str(r)}
            ranks.append(subprocess.Popen([sys.executable, "-m", "seqgen", *args], env=env))
        for signum in received[:1]:  # a signal that came while the ranks were starting reaches them all
            forward(signum, None)
        return _watch(ranks, received)
    finally:
        for rank in ranks:
            if rank.poll() is None:
                rank.kill()
                rank.wait()
        for s, handler in previous.items():
            signal.signal(s, handler)


def _watch(ranks: list[subprocess.Popen], received: list[int]) -> int:
    """Wait for every rank. At the first abnormal end (a signal the launcher did not forward, an error, a status
    that is not a stop), stop the others and return 1, saying what happened unless rank 0 reported its own error;
    else rank 0's status (128 + N for a rank ended by a forwarded signal N)."""
    while True:
        normal = {*NORMAL, *(-s for s in received)}  # a forwarded signal can end a rank that is still starting
        running = [rank for rank in ranks if rank.poll() is None]
        lost = [(r, rank) for r, rank in enumerate(ranks) if rank.poll() not in (None, *normal)]
        if lost:
            r, rank = lost[0]
            if r > 0 and rank.returncode == 1:  # the same error may reach rank 0, which then says it
                _wait_any(ranks[:1], 2.0)
            _stop(ranks)
            if ranks[0].returncode != 1:
                print(f"error: rank {r} of {len(ranks)} (pid {rank.pid}) {_how(rank.returncode)}; stopped the "
                      "other ranks (resume the run with --resume)", file=sys.stderr, flush=True)  # fmt: skip
            return 1
        if not running:
            break
        time.sleep(0.05)
    code = ranks[0].returncode
    return 128 - code if code < 0 else code if code != PEER_LOST else 1


def _wait_any(ranks: list[subprocess.Popen], seconds: float) -> None:
    """Wait up to `seconds` for these ranks to end."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        for rank in ranks:
            rank.wait(seconds)


def _stop(ranks: list[subprocess.Popen], grace: float = 5.0) -> None:
    """SIGTERM the ranks still running, then SIGKILL those still running after `grace` seconds."""
    for rank in ranks:
        if rank.poll() is None:
            rank.terminate()
    deadline = time.monotonic() + grace
    for rank in ranks:
        try:
            rank.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            rank.kill()
            rank.wait()


def _how(code: int) -> str:
    """'was killed by SIGKILL' or 'exited with status 1'."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}" + (" (see its error above)" if code == 1 else "")


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (rank 0 binds it for the rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
