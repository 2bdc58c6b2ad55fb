"""Signals of a training run (torch-free): SIGINT and SIGTERM become a stop request that the training loop
honours at its next safe point (seqgen.core.train), and child processes die with their parent.

Exit statuses follow the shell's convention, 128 + the signal's number: 130 after Ctrl-C, 143 after SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Stopped(KeyboardInterrupt):
    """The run was asked to stop by `signum` (SIGINT: Ctrl-C; SIGTERM: a job scheduler, a dying parent)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class StopRequest:
    """The signal handler of a training run: records the first stop signal in `signum`; while `immediate`
    is set (a phase without safe points, such as validation in one process) it raises `Stopped` at once."""

    def __init__(self) -> None:
        self.signum = 0
        self.immediate = False

    def __call__(self, signum: int, frame) -> None:
        self.signum = self.signum or signum
        if self.immediate:
            self.immediate = False
            raise Stopped(self.signum)

    def check(self) -> None:
        """Raise `Stopped` if a stop signal arrived (called at the loop's safe points)."""
        if self.signum:
            raise Stopped(self.signum)


@contextlib.contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """Route SIGINT and SIGTERM to a `StopRequest` for the duration; the previous handlers come back on exit.
    Outside the main thread (where handlers cannot be set) the request simply never fires."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, request) for s in STOP_SIGNALS}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextlib.contextmanager
def stopping_on(signum: int) -> Iterator[None]:
    """For the duration, `signum` raises `Stopped` wherever the program is (in the main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, _raise_stopped)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def _raise_stopped(signum: int, frame) -> None:
    raise Stopped(signum)


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Have this process receive `signum` when its parent dies: Linux's parent-death signal, elsewhere a
    thread that watches the parent's pid. A parent already gone (reparented to init) sends it at once."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        import ctypes  # here: the command line imports this module on every start

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    else:
        threading.Thread(target=_watch_parent, args=(parent, signum), daemon=True).start()
    if parent == 1:
        os.kill(os.getpid(), signum)


def _watch_parent(parent: int, signum: int) -> None:
    """Send `signum` to this process once its parent `parent` is gone (polled every half second)."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signum)
