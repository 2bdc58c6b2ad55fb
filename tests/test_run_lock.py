"""Nothing lost on a shared --out: a run folder has one writer at a time (a second training into it is refused in
one line while the first goes on), and a fresh run over an existing one is refused unless --resume or --force."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from seqgen.core.run_lock import LOCK_NAME, run_lock
from seqgen.errors import SeqgenError

ARGS = ["train", "--cell", "gru", "--no-leaky", "--hidden", "8", "--embedding", "4", "--batch-size", "4",
        "--chunk-len", "25", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def text(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("text") / "small.txt"
    path.write_text("the cat sat on a mat and the dog ran far away\n" * 30)
    return path


def train(cli, text: Path, out: Path, *extra):
    return cli(*ARGS, "--text", text, "--out", out, "--epochs", "2", *extra)


def test_a_second_training_into_a_busy_folder_is_refused_while_the_first_goes_on(cli, text, tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    first = subprocess.Popen([sys.executable, "-m", "seqgen", *ARGS, "--text", str(text), "--out", str(out),
                              "--epochs", "400"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (out / "metrics.jsonl").exists():  # the first is training (its lock is held from the start)
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.1)
        started = time.perf_counter()
        second = train(cli, text, out, "--force")
        line = second.one_line_error()
        assert f"another training (pid {first.pid})" in line and str(out) in line
        assert time.perf_counter() - started < 5  # refused at once, before any data or model work
        assert first.poll() is None  # the first one is unharmed
    finally:
        first.kill()
        first.wait()


PROBE = "import sys\nfrom seqgen.core.run_lock import run_lock\nwith run_lock(sys.argv[1]):\n    pass"


def test_the_lock_is_held_for_the_run_and_released_after_it(cli, text, tmp_path, monkeypatch):
    out, seen = tmp_path / "run", []
    import seqgen.core.train as loop

    real_fit = loop._fit

    def fit_probing_the_lock(*args, **kwargs):
        probe = subprocess.run([sys.executable, "-c", PROBE, str(out)], capture_output=True, text=True, check=False)
        seen.append((probe.returncode, probe.stderr, (out / LOCK_NAME).read_text().strip()))
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(loop, "_fit", fit_probing_the_lock)
    assert train(cli, text, out).code == 0
    ((code, stderr, holder),) = seen
    assert code == 1 and f"another training (pid {os.getpid()})" in stderr and holder == str(os.getpid())
    assert not (out / LOCK_NAME).exists()
    assert subprocess.run([sys.executable, "-c", PROBE, str(out)], check=False).returncode == 0  # free again


@pytest.mark.parametrize("present", ["metrics.jsonl", "last.pt", "best.pt"])
def test_a_fresh_run_over_an_existing_one_is_refused_in_one_line(cli, text, tmp_path, present):
    out = tmp_path / "run"
    out.mkdir()
    (out / present).write_bytes(b"the earlier run")
    line = train(cli, text, out).one_line_error()
    assert str(out) in line and present in line and "--resume" in line and "--force" in line
    assert (out / present).read_bytes() == b"the earlier run"


def test_force_replaces_the_run_and_resume_with_force_is_refused(cli, text, tmp_path):
    out = tmp_path / "run"
    assert train(cli, text, out, "--seed", "1").code == 0
    before = torch.load(out / "best.pt", weights_only=True)["state_dict"]
    line = train(cli, text, out, "--force", "--resume").one_line_error()
    assert "--force" in line and "--resume" in line
    assert train(cli, text, out, "--force", "--seed", "2", "--epochs", "1").code == 0
    after = torch.load(out / "last.pt", weights_only=True)
    assert after["seed"] == 2 and after["epoch"] == 1 and len((out / "metrics.jsonl").read_text().splitlines()) == 1
    assert any(not torch.equal(before[k], v) for k, v in after["state_dict"].items())
    assert sorted(p.name for p in out.iterdir()) == ["best.pt", "last.pt", "metrics.jsonl"]


def test_nested_locks_in_one_process_share_it(tmp_path):
    with run_lock(tmp_path), run_lock(tmp_path / "."):
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()


HOLDER = """import sys, time
from seqgen.core.run_lock import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_library_runs_into_a_folder_another_process_holds_are_refused(tmp_path):
    """fit and the population search (train --lr-range, seqgen reproduce's cells) lock their folder themselves."""
    from seqgen.core.population_search import run_search
    from seqgen.core.train import TrainConfig, fit

    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for run in (lambda: fit(None, None, None, TrainConfig(device="cpu"), tmp_path),
                    lambda: run_search(None, None, None, None, None, None, tmp_path)):  # fmt: skip
            with pytest.raises(SeqgenError, match=f"another training \\(pid {holder.pid}\\)"):
                run()
    finally:
        holder.kill()
        holder.wait()
