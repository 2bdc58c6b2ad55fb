"""Training history survives any interrupt: SIGKILL or SIGINT while checkpoints are written, or at random
moments, then `--resume`; metrics.jsonl, last.pt and best.pt agree, and equal an uninterrupted run's when
the interrupt fell at an epoch boundary or (SIGINT, SIGTERM) mid-epoch. Interrupted runs exit 130 (SIGINT) or 143
(SIGTERM); changed settings need --override; pool workers die with their parent.

Runs happen in forked children of the test process (torch is already imported there, so each costs
about a second); hooks on os.replace / Path.write_bytes deliver the signal at an exact point of a write.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch
from clirun import exit_code as cli

ARGS = [
    "train",
    "--cell",
    "gru",
    "--no-leaky",
    "--hidden",
    "8",
    "--embedding",
    "4",
    "--epochs",
    "3",
    "--batch-size",
    "4",
    "--chunk-len",
    "25",
    "--seed",
    "0",
    "--device",
    "cpu",
]
EPOCHS = 3


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    """About 1,800 characters of a small repetitive language."""
    rng = random.Random(1)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "far", "away"]
    path = tmp_path_factory.mktemp("text") / "small.txt"
    path.write_text("\n".join(" ".join(rng.choice(words) for _ in range(8)) for _ in range(60)) + "\n")
    return path


def train(text: Path, out: Path, *extra) -> int:
    return cli(*ARGS, "--text", text, "--out", out, *extra)


def in_child(body, kill_after: float | None = None, sig: int = signal.SIGKILL) -> int:
    """Run `body()` in a forked child; its exit code, or -N if signal N ended it. With `kill_after`, the
    parent sends `sig` after that many seconds (if the child still runs)."""
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            torch.set_num_threads(1)
            code = body()
        except SystemExit as exc:
            code = exc.code or 0
        finally:
            os._exit(code)
    if kill_after is not None:
        time.sleep(kill_after)
        if os.waitpid(pid, os.WNOHANG) == (0, 0):
            os.kill(pid, sig)
        else:
            return 0
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def signal_at(sig: int, where: str, n: int) -> None:
    """Make this process send itself `sig` at the n-th os.replace ('before-replace', 'after-replace') or
    halfway through writing the n-th checkpoint temp file ('in-save': a half-written .pt temp)."""
    calls = {"replace": 0, "save": 0}
    real_replace, real_write = os.replace, Path.write_bytes

    def replace(src, dst, *args, **kwargs):
        calls["replace"] += 1
        if where == "before-replace" and calls["replace"] == n:
            os.kill(os.getpid(), sig)
        real_replace(src, dst, *args, **kwargs)
        if where == "after-replace" and calls["replace"] == n:
            os.kill(os.getpid(), sig)

    def write_bytes(self, data):
        if ".pt." in self.name:
            calls["save"] += 1
            if where == "in-save" and calls["save"] == n:
                real_write(self, bytes(data)[: len(data) // 2])
                os.kill(os.getpid(), sig)
        return real_write(self, data)

    os.replace, Path.write_bytes = replace, write_bytes


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def assert_consistent(out: Path) -> None:
    """metrics.jsonl has epochs 1..EPOCHS once each, last.pt carries the same records, best.pt is the last
    epoch flagged best, and no temporary file is left."""
    rows = records(out)
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))
    last = torch.load(out / "last.pt", weights_only=True)
    best = torch.load(out / "best.pt", weights_only=True)
    assert last["epoch"] == EPOCHS and [r["epoch"] for r in last["metrics"]] == list(range(1, EPOCHS + 1))
    best_epoch = max(r["epoch"] for r in rows if r["best"])
    assert best["epoch"] == last["best_epoch"] == best_epoch
    assert best["best_valid"] == pytest.approx(rows[best_epoch - 1]["valid"]["score"])
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "last.pt", "metrics.jsonl"]


@pytest.fixture(scope="module")
def baseline(text, tmp_path_factory) -> Path:
    """An uninterrupted run."""
    out = tmp_path_factory.mktemp("baseline")
    assert in_child(lambda: train(text, out)) == 0
    assert_consistent(out)
    return out


# Writes of a run where every epoch improves: epoch e saves last.pt (save 2e-1) then best.pt (save 2e), and
# renames last.pt, best.pt, metrics.jsonl (replaces 3e-2, 3e-1, 3e). Epoch 2's writes are the targets.
KILL_POINTS = [
    ("SIGKILL", "in-save", 3),  # last.pt half written
    ("SIGKILL", "after-replace", 4),  # new last.pt, stale best.pt and metrics.jsonl
    ("SIGKILL", "after-replace", 5),  # new last.pt and best.pt, stale metrics.jsonl
    ("SIGKILL", "before-replace", 6),  # metrics.jsonl fully written but not yet in place
    ("SIGINT", "in-save", 4),  # Ctrl-C while best.pt is written
    ("SIGINT", "after-replace", 4),  # Ctrl-C between last.pt and best.pt
]


@pytest.mark.parametrize("sig, where, n", KILL_POINTS, ids=[f"{s}-{w}-{n}" for s, w, n in KILL_POINTS])
def test_interrupt_at_checkpoint_write_then_resume_equals_uninterrupted(text, baseline, tmp_path, sig, where, n):
    out = tmp_path / "run"
    signum = getattr(signal, sig)

    def interrupted() -> int:
        signal_at(signum, where, n)
        return train(text, out)

    code = in_child(interrupted)
    assert code == (130 if sig == "SIGINT" else -signal.SIGKILL)
    assert in_child(lambda: train(text, out, "--resume")) == 0
    assert_consistent(out)
    ours, theirs = records(out), records(baseline)
    for mine, base in zip(ours, theirs, strict=True):
        for key in ("epoch", "step", "lr", "best"):
            assert mine[key] == base[key], (mine["epoch"], key)
        assert mine["train_loss"] == pytest.approx(base["train_loss"], rel=1e-6)
        assert mine["valid"]["bits_per_char"] == pytest.approx(base["valid"]["bits_per_char"], rel=1e-6)
    mine_best = torch.load(out / "best.pt", weights_only=True)["state_dict"]
    base_best = torch.load(baseline / "best.pt", weights_only=True)["state_dict"]
    for name, value in base_best.items():
        torch.testing.assert_close(mine_best[name], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(2))
def test_kill_at_random_moments_then_resume_is_consistent(text, baseline, tmp_path, seed):
    """SIGKILL or SIGINT at a random moment (mid-epoch, mid-validation or mid-write), twice, then resume."""
    rng = random.Random(seed)
    out = tmp_path / "run"
    seconds = sum(r["seconds"] for r in records(baseline))
    for attempt in range(2):
        sig = rng.choice([signal.SIGKILL, signal.SIGINT])
        resume = ("--resume",) if (out / "last.pt").exists() else ()
        code = in_child(lambda resume=resume: train(text, out, *resume), kill_after=rng.uniform(0.05, seconds), sig=sig)
        assert code in (0, 130, -signal.SIGKILL), code
        if sig == signal.SIGINT and code not in (0, -signal.SIGKILL):
            assert code == 130
    resume = ("--resume",) if (out / "last.pt").exists() else ()
    assert in_child(lambda: train(text, out, *resume)) == 0
    assert_consistent(out)


def assert_same_as_baseline(out: Path, baseline: Path) -> None:
    """metrics.jsonl equals the uninterrupted run's epoch by epoch (steps, rates, flags, losses, scores)."""
    for mine, base in zip(records(out), records(baseline), strict=True):
        for key in ("epoch", "step", "lr", "best", "skipped_steps"):
            assert mine[key] == base[key], (mine["epoch"], key)
        for key in ("train_loss", "grad_norm_mean", "grad_norm_max", "clip_rate"):
            assert mine[key] == pytest.approx(base[key], rel=1e-6), (mine["epoch"], key)
        assert mine["valid"]["bits_per_char"] == pytest.approx(base["valid"]["bits_per_char"], rel=1e-6)


def stop_at(sig: int, where: str) -> None:
    """Make this process send itself `sig` at its 25th optimiser zero_grad (epoch 2, batch 8 of 17: 'step') or
    during epoch 2's validation ('validation')."""
    if where == "step":
        real, calls = torch.optim.Optimizer.zero_grad, {"n": 0}

        def zero_grad(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 25:
                os.kill(os.getpid(), sig)
            return real(self, *args, **kwargs)

        torch.optim.Optimizer.zero_grad = zero_grad
    else:
        from seqgen.text.train_text import TextTask

        real, calls = TextTask.evaluate, {"n": 0}

        def evaluate(self, *args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 2:
                os.kill(os.getpid(), sig)
            return real(self, *args, **kwargs)

        TextTask.evaluate = evaluate


STOPS = [("SIGINT", "step"), ("SIGTERM", "step"), ("SIGTERM", "validation")]


@pytest.mark.parametrize("sig, where", STOPS, ids=[f"{s}-{w}" for s, w in STOPS])
def test_signal_mid_epoch_saves_last_and_resume_equals_uninterrupted(text, baseline, tmp_path, capfd, sig, where):
    """SIGINT (Ctrl-C) or SIGTERM (a job scheduler) in epoch 2: exit 130 or 143, one line saying where it stopped,
    last.pt holds epoch 2's progress, and the resume continues it: the run equals the uninterrupted one."""
    out, signum = tmp_path / "run", getattr(signal, sig)

    def stopped() -> int:
        stop_at(signum, where)
        return train(text, out)

    capfd.readouterr()
    assert in_child(stopped) == 128 + signum
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if "interrupted" in line]
    assert len(warnings) == 1 and f"interrupted by {sig} in epoch 2: saved" in warnings[0], err
    assert "Traceback" not in err and "checkpoints in" not in err
    last = torch.load(out / "last.pt", weights_only=True)
    assert last["epoch"] == 1 and [r["epoch"] for r in records(out)] == [1]
    assert last["epoch_progress"]["batches"] == (8 if where == "step" else 17)
    assert last["step"] == (25 if where == "step" else 34)
    assert in_child(lambda: train(text, out, "--resume")) == 0
    assert_consistent(out)
    assert_same_as_baseline(out, baseline)


def test_sigterm_before_training_begins_exits_143_in_one_line(text, tmp_path, capfd):
    from seqgen.text import train_text

    def stopped() -> int:
        real = train_text.train_tokenizer

        def slow_tokenizer(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGTERM)
            return real(*args, **kwargs)

        train_text.train_tokenizer = slow_tokenizer
        return train(text, tmp_path / "run")

    capfd.readouterr()
    assert in_child(stopped) == 143
    err = capfd.readouterr().err
    assert err.strip().splitlines()[-1] == "interrupted by SIGTERM" and "Traceback" not in err


POOL_PARENT = """
import signal, time
from concurrent.futures import ProcessPoolExecutor
import multiprocessing
from seqgen.core.signals import die_with_parent
pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent,
                           initargs=(signal.SIGKILL,))
list(pool.map(abs, [1, 2]))  # both workers started
pool.submit(time.sleep, 600)
print(" ".join(str(p) for p in pool._processes), flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_pool_workers_die_with_their_parent(tmp_path):
    """What seqgen reproduce's pool does (experiments/runner.py): SIGKILL of the parent leaves no worker."""
    import subprocess
    import sys

    parent = subprocess.Popen([sys.executable, "-c", POOL_PARENT], stdout=subprocess.PIPE, text=True)
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(alive(p) for p in workers)
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(p) for p in workers)


def test_resume_with_changed_settings_refused_naming_them_unless_override(text, baseline, tmp_path, capfd):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("last.pt", "best.pt", "metrics.jsonl"):
        (out / name).write_bytes((baseline / name).read_bytes())
    changed = ("--lr", "0.5", "--batch-size", "8", "--clip", "3")
    capfd.readouterr()
    assert in_child(lambda: train(text, out, "--resume", "--epochs", "4", *changed)) == 1
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert all(name in errors[0] for name in ("lr 1.0 → 0.5", "batch_size 4 → 8", "clip 1.0 → 3.0", "override"))
    assert [r["epoch"] for r in records(out)] == [1, 2, 3]
    assert in_child(lambda: train(text, out, "--resume", "--epochs", "4", *changed, "--override")) == 0
    assert [r["epoch"] for r in records(out)] == [1, 2, 3, 4]
    assert records(out)[3]["lr"] == 0.5
