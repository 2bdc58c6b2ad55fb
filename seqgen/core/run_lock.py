"""One writer per run folder (torch-free): an exclusive flock on OUT/.seqgen.lock held for the whole training,
and the refusal of a fresh run over an existing one unless it is resumed or replaced.

The kernel drops a flock when its process dies, so a killed run never leaves the folder locked. Locks are
counted per process: the command line and the training loop inside it take the same lock once.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import inspect
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from seqgen.errors import SeqgenError

LOCK_NAME = ".seqgen.lock"
RUN_FILES = ("last.pt", "best.pt", "metrics.jsonl", "search.pt", "members.json")
_held: dict[Path, list] = {}  # folder -> [file descriptor, holders in this process]


def existing_run(folder: str | os.PathLike) -> list[str]:
    """The files of an earlier training run in `folder` (none if it does not exist)."""
    return [name for name in RUN_FILES if (Path(folder) / name).exists()]


def check_fresh(folder: str | os.PathLike, resume: bool, force: bool) -> None:
    """Refuse, in one line, a run that would silently replace the run already in `folder`."""
    if resume and force:
        raise SeqgenError("--force replaces the run in OUT and --resume continues it: give one of them")
    found = existing_run(folder)
    if found and not resume and not force:
        raise SeqgenError(
            f"{folder}: already holds a training run ({', '.join(found)}); use --resume to continue it "
            "or --force to replace it"
        )


def remove_run(folder: str | os.PathLike) -> None:
    """Delete the files of the earlier run in `folder` (--force), so none of them outlives the new run."""
    for name in existing_run(folder):
        (Path(folder) / name).unlink()


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike) -> Iterator[None]:
    """Hold the run folder's lock (creating the folder) for the duration; SeqgenError at once, naming the
    holder's pid, if another process holds it. Nested uses in one process share the lock."""
    key = Path(folder).resolve()
    if key in _held:
        _held[key][1] += 1
    else:
        _held[key] = [_acquire(Path(folder)), 1]
    try:
        yield
    finally:
        _held[key][1] -= 1
        if not _held[key][1]:
            fd = _held.pop(key)[0]
            with contextlib.suppress(OSError):  # unlink while holding it: a waiter then sees the file is gone
                os.unlink(Path(folder) / LOCK_NAME)
            os.close(fd)


def holding_run_lock(parameter: str) -> Callable[[Callable], Callable]:
    """Decorate a function that writes a run folder: it holds `run_lock` on its argument `parameter`."""

    def decorate(function: Callable) -> Callable:
        signature = inspect.signature(function)

        @functools.wraps(function)
        def locked(*args, **kwargs):
            with run_lock(signature.bind(*args, **kwargs).arguments[parameter]):
                return function(*args, **kwargs)

        return locked

    return decorate


def _acquire(folder: Path) -> int:
    """An open descriptor of folder/.seqgen.lock holding its exclusive flock, with this pid written in it."""
    path = folder / LOCK_NAME
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "another process"
            os.close(fd)
            raise SeqgenError(
                f"{folder}: another training (pid {holder}) is writing this run folder; wait for it to end "
                "or choose another --out"
            ) from None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else its holder deleted it after we opened it: lock the new one
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
