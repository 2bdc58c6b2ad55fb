"""Designs expand into the stated cells; a sweep resumes by training only the missing runs; a real
two-worker Dask cluster (separate scheduler and worker processes) runs a sweep; the CLI fails in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from seqgen.errors import SeqgenError
from seqgen.lab.cli import app
from seqgen.lab.design import expand, load_design, pack
from seqgen.lab.sweep import finished_runs, plan_sweep, run_sweep

TINY = """
name = "tiny"
seed = 3
paired_seeds = true
max_members = 4
[defaults]
task = "adding"
length = 8
hidden = 4
steps = 6
batch_size = 4
eval_every = 3
eval_size = 16
diag_every = 3
[[block]]
cell = ["tanh", "relu"]
init = ["identity", "orthogonal"]
lr = [0.001, 0.01]
seeds = 2
[[block]]
cell = "gru"
init = ["identity", "orthogonal"]
lr = 0.01
seeds = [0, 1, 2]
"""


@pytest.fixture
def design_file(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def test_design_expands_blocks_and_collapses_gated_inits(design_file):
    design = load_design(design_file)
    assert len(design.runs) == 2 * 2 * 2 * 2 + 3  # GRU keeps PyTorch's init: identity/orthogonal collapse
    assert design.n_cells == 8 + 1 and {r.seed for r in design.runs} == {3, 4, 5}
    populations = pack(design.runs, design.seed, design.max_members)
    assert sum(len(p.members) for p in populations) == len(design.runs)
    assert max(len(p.members) for p in populations) <= 4
    for p in populations:  # members differ only in lr/clip/momentum/seed
        assert len({r.population_key for r in p.runs}) == 1
    assert load_design(design_file, seed=10).runs[0].seed == 10


@pytest.mark.parametrize(
    "text,message",
    [("[[block]]\nlr = 'fast'", "lr = 'fast' should be float"), ("[[block]]\ncolour = 1", "unknown setting"),
     ("seed = 1", "no \\[\\[block\\]\\]"), ("[[block]]\ninit = 'xavier'", "init 'xavier'")],
)  # fmt: skip
def test_bad_designs_are_one_clear_error(text, message):
    from seqgen.lab.design import tomllib

    with pytest.raises(SeqgenError, match=message):
        expand(tomllib.loads(text))


def test_resume_trains_only_the_missing_runs(design_file, tmp_path):
    out = tmp_path / "out"
    design = load_design(design_file)
    first = list(run_sweep(plan_sweep(design, out), out, workers=0))
    assert set(finished_runs(out)) == {r.run_id for r in design.runs}
    files = sorted((out / "runs").glob("*.json"))
    removed = files[0]
    lost = {r["run_id"] for r in json.loads(removed.read_text())["runs"]}
    removed.unlink()
    kept = {f: f.stat().st_mtime_ns for f in files[1:]}
    plan = plan_sweep(design, out)
    assert plan.pending == len(lost) and plan.done == len(design.runs) - len(lost)
    second = list(run_sweep(plan, out, workers=0))
    assert {r["run_id"] for _, records in second for r in records} == lost
    assert all(f.stat().st_mtime_ns == t for f, t in kept.items())  # finished populations untouched
    assert set(finished_runs(out)) == {r.run_id for r in design.runs}
    assert plan_sweep(design, out).pending == 0 and len(first) > len(second)



def test_a_sweep_committed_part_way_resumes_from_its_pack(design_file, tmp_path):
    """A fresh clone holds only runs.jsonl.gz (runs/ is not committed): the sweep trains just the runs missing from
    it, and the records then hold the packed runs and the new ones together."""
    from seqgen.lab import records as lab_records

    out = tmp_path / "out"
    design = load_design(design_file)
    list(run_sweep(plan_sweep(design, out), out, workers=0))
    records, _ = lab_records.load_records(out)
    first_population = records[0]["population_id"]
    kept = [r for r in records if r["population_id"] == first_population]
    (out / lab_records.PACKED).write_bytes(lab_records.pack(kept))
    for path in (out / "runs").glob("*.json"):
        path.unlink()
    plan = plan_sweep(design, out)
    assert plan.done == len(kept) and plan.pending == len(design.runs) - len(kept)
    trained = list(run_sweep(plan, out, workers=0))
    missing = {r.run_id for r in design.runs} - {r["run_id"] for r in kept}
    assert {r["run_id"] for _, rs in trained for r in rs} == missing
    merged, from_runs = lab_records.load_records(out)
    assert from_runs and len(merged) == len(design.runs)
    packed = {r["run_id"]: (r["status"], r["metric_curve"]) for r in kept}
    assert {r["run_id"]: (r["status"], r["metric_curve"]) for r in merged if r["run_id"] in packed} == packed


def _dask(*args: str, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dask", *args], stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip


def test_two_worker_cluster_runs_a_sweep(design_file, tmp_path):
    """`dask scheduler` and two `dask worker` processes on localhost (random ports), driven by `--scheduler`."""
    from dask.distributed import Client

    address_file = tmp_path / "scheduler.json"
    procs = [_dask("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                   "--scheduler-file", str(address_file), log=tmp_path / "scheduler.log")]  # fmt: skip
    try:
        deadline = time.time() + 60
        while not address_file.exists() and time.time() < deadline:
            time.sleep(0.2)
        address = json.loads(address_file.read_text())["address"]
        for i in range(2):
            procs.append(_dask("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                               "--host", "127.0.0.1", log=tmp_path / f"worker{i}.log"))  # fmt: skip
        client = Client(address, timeout=30)
        client.wait_for_workers(2, timeout=60)
        out = tmp_path / "out"
        result = CliRunner().invoke(app, ["sweep", str(design_file), "--out", str(out), "--scheduler", address])
        assert result.exit_code == 0, result.output
        records = finished_runs(out)
        assert len(records) == len(load_design(design_file).runs)
        assert len({r["pid"] for r in records.values()}) == 2  # both workers trained populations
        client.shutdown()  # closes the scheduler and its workers
    finally:
        for p in procs[::-1]:  # workers first, then the scheduler
            p.terminate()
        for p in procs[::-1]:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_cli_dry_run_and_errors(design_file, tmp_path):
    result = CliRunner().invoke(app, ["sweep", str(design_file), "--out", str(tmp_path / "o"), "--dry-run"])
    assert result.exit_code == 0 and "9 cells, 19 runs" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text("[[block]]\nlr = 'fast'\n")
    done = subprocess.run(
        [sys.executable, "-m", "seqgen", "lab", "sweep", str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error:") and len(done.stderr.strip().splitlines()) == 1


def test_cli_imports_neither_torch_nor_dask():
    """`seqgen lab --help` stays instant: the CLI module loads typer only."""
    code = "import sys, seqgen.lab.cli; print(sorted(m for m in ('torch', 'dask', 'matplotlib') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_embedded_cluster_is_loopback_tls_without_dashboard():
    """Every socket of the embedded cluster listens on 127.0.0.1, no dashboard is served, and a second client
    (no credentials, or another temporary certificate) is refused: only this sweep can run code on its workers."""
    from urllib.request import urlopen

    import psutil
    from dask.distributed import Client
    from distributed.security import Security

    from seqgen.lab.sweep import embedded_cluster

    with embedded_cluster(1) as cluster:
        address = cluster.scheduler_address
        assert address.startswith("tls://127.0.0.1:")
        with Client(cluster) as client:
            assert client.submit(sum, [1, 2]).result() == 3
        me = psutil.Process()
        listening = [c for p in [me, *me.children(recursive=True)] for c in p.net_connections("inet")
                     if c.status == psutil.CONN_LISTEN]  # fmt: skip
        assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}
        http_port = cluster.scheduler.http_server.port
        with pytest.raises(OSError):  # no dashboard page, only the bare health routes
            urlopen(f"http://127.0.0.1:{http_port}/status", timeout=5)
        for intruder in (Security(), Security.temporary()):  # no credentials, or another sweep's certificate
            assert _identity(address, intruder) is None
        assert _identity(address, cluster.security)["type"] == "Scheduler"  # this sweep's own credentials work


def _identity(address: str, security) -> dict | None:
    """The scheduler's identity reply to a client holding `security`, or None when the connection is refused.
    (A bare comm, not a dask Client: a Client that fails to start can deadlock the next one when collected.)"""
    from seqgen.lab.sweep import scheduler_identity

    try:
        return scheduler_identity(address, security)
    except Exception:  # noqa: BLE001 - refused: TLS handshake, no context, closed comm, timeout
        return None


@pytest.mark.parametrize("kind", ["silent", "malformed", "scheme", "refused"])
def test_bad_scheduler_is_one_line_fast(design_file, tmp_path, kind):
    """A --scheduler that accepts and never answers, a malformed address or a refused port: one line, < 30 s."""
    import socket

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # accepts connections, never reads them
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    address = {"silent": f"tcp://127.0.0.1:{silent.getsockname()[1]}", "malformed": "127.0.0.1:abc",
               "scheme": "http://127.0.0.1:8786", "refused": f"tcp://127.0.0.1:{port}"}[kind]  # fmt: skip
    started = time.time()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "seqgen", "lab", "sweep", str(design_file), "--out", str(tmp_path / "o"),
             "--scheduler", address], capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        silent.close()
    assert time.time() - started < 30
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --scheduler " + address), done.stderr


def test_workers_have_an_upper_bound(design_file, tmp_path):
    from seqgen.lab.sweep import max_workers

    plan = plan_sweep(load_design(design_file), tmp_path / "o")
    with pytest.raises(SeqgenError, match=f"at most {max_workers()}"):
        list(run_sweep(plan, tmp_path / "o", workers=max_workers() + 1))


HOLDER = (  # a process that holds a folder's lock for a minute
    "import sys, time\nfrom seqgen.core.run_lock import run_lock\n"
    "with run_lock(sys.argv[1]):\n    print('held', flush=True)\n    time.sleep(60)\n"
)


def test_a_second_sweep_into_a_busy_folder_is_refused_in_one_line(design_file, tmp_path):
    out = tmp_path / "o"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        command = [sys.executable, "-m", "seqgen", "lab", "sweep", str(design_file), "--out", str(out)]
        done = subprocess.run([*command, "--workers", "0"], capture_output=True, text=True, check=False)
        assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1
        assert f"another training (pid {holder.pid})" in done.stderr and not (out / "runs").exists()
        looked = subprocess.run([*command, "--dry-run"], capture_output=True, text=True, check=False)
        assert looked.returncode == 0 and "19 to train" in looked.stderr  # a dry run only reads: not refused
    finally:
        holder.kill()
        holder.wait()
