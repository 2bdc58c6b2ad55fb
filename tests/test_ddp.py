"""Data-parallel training under torchrun (2 processes, gloo on CPU) tracks the single-process run with the same
global batch and seed; rank 0 alone writes; Ctrl-C reaching one rank stops all ranks, and the run resumes exactly.
`seqgen train --nproc 2` (seqgen's launcher): Ctrl-C exits 130 in one line, a killed rank is named in one line,
and killing the launcher leaves no rank running."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from seqgen.checkpoint import load_checkpoint
from seqgen.core.distributed import Group

WORKER = Path(__file__).with_name("ddp_worker.py")
# Measured over 3 epochs: validation scores agree to 2.5e-7 nats/frame (music) and 6e-8 bits/char (text), train
# losses to 2.4e-6 nats/frame and 1.4e-8 bits/char; the rest is float summation order (per rank, then across ranks).
TOLERANCE = 1e-5
EPOCHS = ["--epochs", "3", "--device", "cpu", "--seed", "3"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    """A tiny piano-roll pickle (13 train pieces: the last batch of 4 has one piece, so rank 1 gets no rows)
    and a small text file."""
    folder = tmp_path_factory.mktemp("ddp-data")
    rng = np.random.default_rng(0)

    def piece() -> list[list[int]]:
        return [sorted(set(rng.integers(48, 72, rng.integers(0, 4)).tolist())) for _ in range(rng.integers(8, 40))]

    rolls = {"train": [piece() for _ in range(13)], "valid": [piece() for _ in range(5)], "test": [piece()]}
    (folder / "tiny.pickle").write_bytes(pickle.dumps(rolls))
    words = rng.choice(["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran"], 4000)
    (folder / "tiny.txt").write_text(" ".join(words) + "\n")
    return {"music": folder / "tiny.pickle", "text": folder / "tiny.txt"}


def music_args(data: dict[str, Path], out: Path) -> list[str]:
    return ["train", "--data", str(data["music"]), "--hidden", "8", "--cond-hidden", "8", "--batch-size", "4",
            "--chunk-len", "16", *EPOCHS, "--out", str(out)]  # fmt: skip


def text_args(data: dict[str, Path], out: Path) -> list[str]:
    # lr 0.1: at the default lr 1 this tiny run is chaotic (a 6e-8 change in one step's gradient, e.g. from
    # summing it in another order, grows to 2e-2 in the weights within 60 steps), whatever the process count
    return ["train", "--text", str(data["text"]), "--hidden", "16", "--embedding", "8", "--batch-size", "8",
            "--chunk-len", "25", "--lr", "0.1", *EPOCHS, "--out", str(out)]  # fmt: skip


def metrics(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ddp_runs(data, tmp_path_factory) -> Path:
    """One torchrun launch (2 processes) running: music, text, music interrupted at rank 1's 5th step, its resume."""
    out = tmp_path_factory.mktemp("ddp")
    commands = [
        music_args(data, out / "music"),
        text_args(data, out / "text"),
        ["interrupt@5", *music_args(data, out / "resumed")],
        [*music_args(data, out / "resumed"), "--resume"],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    done = subprocess.run(
        [*launcher, str(WORKER), str(out), *map(json.dumps, commands)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (out / "stdout.txt").write_text(done.stdout)
    return out


@pytest.mark.parametrize("product", ["music", "text"])
def test_two_processes_track_one(product, data, ddp_runs, tmp_path, cli):
    args = (music_args if product == "music" else text_args)(data, tmp_path / "one")
    assert cli(*args).code == 0
    one, two = metrics(tmp_path / "one"), metrics(ddp_runs / product)
    assert [r["step"] for r in two] == [r["step"] for r in one] and len(one) == 3
    for a, b in zip(one, two):
        assert b["valid"]["score"] == pytest.approx(a["valid"]["score"], abs=TOLERANCE)
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=TOLERANCE)
    assert one[0]["valid"]["score"] != one[-1]["valid"]["score"]  # it trained


def test_rank0_alone_writes(ddp_runs):
    assert sorted(p.name for p in (ddp_runs / "music").iterdir()) == ["best.pt", "last.pt", "metrics.jsonl"]
    reports = [json.loads((ddp_runs / f"report-{rank}.json").read_text()) for rank in (0, 1)]
    assert reports[0]["writes"] > 0 and reports[1]["writes"] == 0
    assert reports[0]["codes"] == reports[1]["codes"] == [0, 0, 130, 0]  # the interrupted run exits 130 on both
    # one summary line per finished command; the interrupted one says where it stopped instead
    assert (ddp_runs / "stdout.txt").read_text().count("checkpoints in") == 3


def test_interrupt_on_one_rank_stops_all_and_resumes_exactly(ddp_runs):
    """Both ranks stopped at step 5 before its update; rank 0 saved epoch 1's progress (4 batches, both ranks'
    carried states and loss sums), and the resume continued at batch 5: the run equals the uninterrupted one."""
    resumed, music = metrics(ddp_runs / "resumed"), metrics(ddp_runs / "music")
    assert [r["epoch"] for r in resumed] == [1, 2, 3]
    assert load_checkpoint(ddp_runs / "resumed" / "last.pt")["epoch"] == 3
    assert [r["step"] for r in resumed] == [r["step"] for r in music]
    for a, b in zip(music, resumed):
        assert b["valid"]["score"] == pytest.approx(a["valid"]["score"], abs=1e-9)
        assert b["train_loss"] == pytest.approx(a["train_loss"], abs=1e-9)


def test_single_process_group_is_transparent():
    group = Group(0, 1, torch.device("cpu"))
    batch = (torch.ones(3, 2), {"mask": torch.ones(3)})
    assert group.shard(batch) is batch and group.sum(1.5, 2) == [1.5, 2] and group.broadcast("x") == "x"


def test_shard_splits_rows_in_blocks():
    rows = torch.arange(5)
    parts = [Group(r, 2, torch.device("cpu")).shard({"x": [rows]})["x"][0].tolist() for r in range(2)]
    assert parts == [[0, 1, 2], [3, 4]]


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def launched(data, tmp_path):
    """`seqgen train --nproc 2` on the text data for many epochs, in its own session, once its first epoch is
    done: (launcher process, its two ranks, OUT)."""
    out = tmp_path / "run"
    args = [*text_args(data, out), "--epochs", "500", "--batch-size", "32", "--nproc", "2"]  # 16 steps an epoch
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    launcher = subprocess.Popen([sys.executable, "-m", "seqgen", *args], env=env, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 120
    while not (out / "metrics.jsonl").exists():
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
        time.sleep(0.1)
    ranks = children(launcher.pid)
    assert len(ranks) == 2
    yield launcher, ranks, out
    for pid in [launcher.pid, *ranks]:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    launcher.communicate()


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_ctrl_c_stops_every_rank_with_exit_130_and_one_line(launched):
    launcher, ranks, out = launched
    os.killpg(launcher.pid, signal.SIGINT)  # what the terminal does: the launcher and both ranks get it
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 130, err
    assert "Traceback" not in err and "error" not in err.lower(), err
    (line,) = [line for line in err.splitlines() if "interrupted" in line]
    assert "interrupted by SIGINT" in line and str(out / "last.pt") in line
    assert len(load_checkpoint(out / "last.pt")["epoch_progress"]["ranks"]) == 2
    assert not any(alive(pid) for pid in ranks)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_a_killed_rank_is_named_in_one_line_and_the_others_stop(launched):
    launcher, ranks, _ = launched
    os.kill(ranks[1], signal.SIGKILL)
    _, err = launcher.communicate(timeout=60)
    assert launcher.returncode == 1
    assert "Traceback" not in err, err
    (line,) = [line for line in err.splitlines() if "error" in line.lower()]
    assert line.startswith(f"error: rank 1 of 2 (pid {ranks[1]}) was killed by SIGKILL"), line
    assert not alive(ranks[0])


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc")
def test_killing_the_launcher_leaves_no_rank_after_10_s(launched):
    launcher, ranks, _ = launched
    os.kill(launcher.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in ranks) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(alive(pid) for pid in ranks)
