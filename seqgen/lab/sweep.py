"""Run a design on Dask.distributed: one task per population, results written atomically per population
into OUT/runs/<population_id>.json by the client (workers need no shared disk), finished runs skipped.

By default an embedded `LocalCluster` (one single-threaded worker process per core, at most MAX_WORKERS_PER_CORE
per core) starts and stops with the sweep: it listens on 127.0.0.1 only, over TLS with a self-signed certificate
made for this sweep (so no other client can reach its workers), with no dashboard. With
`scheduler="tcp://host:port"` the populations go to an existing cluster started with `dask scheduler` and
`dask worker` on any number of machines (each with seqgen installed); that cluster is trusted completely (its
workers' results are unpickled here), and its security comes from the Dask configuration (distributed.comm.tls).
`workers=0` trains in this process without Dask (debugging, tests).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from seqgen.errors import SeqgenError
from seqgen.fileio import write_text_atomic
from seqgen.lab.design import Design, Population, pack

log = logging.getLogger("seqgen")
MAX_WORKERS_PER_CORE = 4
CONNECT_SECONDS = 10  # a --scheduler that does not answer its identity call within this is refused


@dataclass
class SweepPlan:
    """What a sweep will do: populations to train, and how many runs are done already / in all."""

    populations: list[Population]
    done: int
    total: int

    @property
    def pending(self) -> int:
        return sum(len(p.members) for p in self.populations)


def finished_runs(out_dir: str | Path) -> dict[str, dict]:
    """Records of every finished run, by run id: those packed in OUT/runs.jsonl.gz (a sweep committed part way)
    and those in OUT/runs/*.json (seqgen.lab.records reads and checks both)."""
    from seqgen.lab.records import finished

    try:
        return finished(out_dir)[0]
    except SeqgenError as exc:
        raise SeqgenError(f"{exc}; delete that file to rerun its runs") from None


def plan_sweep(design: Design, out_dir: str | Path) -> SweepPlan:
    """Skip the runs already finished in `out_dir`; pack the rest into populations."""
    done = finished_runs(out_dir)
    pending = [r for r in design.runs if r.run_id not in done]
    populations = pack(pending, design.seed, design.max_members)
    return SweepPlan(populations, len(design.runs) - len(pending), len(design.runs))


def train_job(spec: dict, members: list[dict]) -> list[dict]:
    """What a worker runs: one population on one thread (workers are one process per core); each record
    notes the host and process that trained it."""
    import socket

    import torch

    from seqgen.lab.train import Member, PopulationSpec, train_population

    torch.set_num_threads(1)
    records = train_population(PopulationSpec(**spec), [Member(**m) for m in members])
    where = {"host": socket.gethostname(), "pid": os.getpid()}
    return [{**r, **where} for r in records]


def _save(out_dir: Path, population: Population, records: list[dict]) -> None:
    """Write one population's records, each with its run's settings and cell id, atomically."""
    by_id = {r.run_id: r for r in population.runs}
    for rec in records:
        run = by_id[rec["run_id"]]
        rec.update(cell_id=run.cell_id, settings=run.settings)
    payload = {"population_id": population.population_id, "spec": population.spec, "runs": records}
    write_text_atomic(out_dir / "runs" / f"{population.population_id}.json", json.dumps(payload))
    log.debug("saved population %s: %d runs, %d succeeded", population.population_id, len(records),
              sum(r["success"] for r in records))  # fmt: skip


def run_sweep(
    plan: SweepPlan, out_dir: str | Path, scheduler: str | None = None, workers: int | None = None
) -> Iterator[tuple[Population, list[dict]]]:
    """Train every planned population; yield (population, records) as each finishes and is saved."""
    out = Path(out_dir)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    if not plan.populations:
        return
    if workers is not None and workers > max_workers():
        raise SeqgenError(f"--workers {workers}: at most {max_workers()} ({MAX_WORKERS_PER_CORE} per core)")
    if workers == 0 and scheduler is None:
        for population in plan.populations:
            records = train_job(population.spec, population.members)
            _save(out, population, records)
            yield population, records
        return
    yield from _run_dask(plan, out, scheduler, workers)


def max_workers() -> int:
    """The most local worker processes a sweep starts."""
    return MAX_WORKERS_PER_CORE * (os.cpu_count() or 1)


def embedded_cluster(workers: int | None):
    """A LocalCluster for this sweep only: loopback, TLS with a temporary certificate, no dashboard."""
    from dask.distributed import LocalCluster
    from distributed.security import Security

    return LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, host="127.0.0.1",
        security=Security.temporary(), dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": False},
        silence_logs=logging.WARNING,
    )  # fmt: skip


def scheduler_identity(address: str, security=None, seconds: float = CONNECT_SECONDS):
    """The reply of the scheduler at `address` to an identity call from a client holding `security` (default:
    the Dask configuration's), within `seconds`; raises what Dask raises (or TimeoutError) when it cannot.
    A bare comm, not a Client: Dask's Client would wait for ever on a silent socket."""
    import asyncio

    from distributed.comm import connect
    from distributed.security import Security

    async def identity():
        args = (security or Security()).get_connection_args("client")
        comm = await connect(address, timeout=seconds, **args)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    return asyncio.run(asyncio.wait_for(identity(), seconds))


def check_scheduler(address: str, seconds: float = CONNECT_SECONDS) -> None:
    """One SeqgenError if the scheduler at `address` is malformed, refused, silent or not a Dask scheduler."""
    import asyncio

    try:
        reply = scheduler_identity(address, seconds=seconds)
    except asyncio.TimeoutError:
        raise SeqgenError(f"--scheduler {address}: refused or no answer within {seconds:g} s") from None
    except Exception as exc:  # noqa: BLE001 - Dask raises ValueError, TypeError, OSError, CommClosedError
        raise SeqgenError(f"--scheduler {address}: cannot connect ({type(exc).__name__}: {exc})") from None
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        raise SeqgenError(f"--scheduler {address}: not a Dask scheduler (it answered {str(reply)[:80]!r})")


def _run_dask(plan: SweepPlan, out: Path, scheduler: str | None, workers: int | None):
    """Submit one Dask task per population (largest first) and save results as they complete."""
    from dask.distributed import Client, as_completed

    cluster = None
    try:
        if scheduler is None:
            cluster = embedded_cluster(workers)
            client = Client(cluster)
        else:
            check_scheduler(scheduler)
            client = Client(scheduler, timeout=CONNECT_SECONDS)
    except OSError as exc:
        raise SeqgenError(f"cannot reach the Dask scheduler {scheduler or '(local)'}: {exc}") from exc
    try:
        by_key = {}
        for p in plan.populations:
            future = client.submit(train_job, p.spec, p.members, key=f"population-{p.population_id}", pure=False)
            by_key[future.key] = (future, p)
        for future in as_completed([f for f, _ in by_key.values()]):
            population = by_key[future.key][1]
            records = future.result()
            _save(out, population, records)
            yield population, records
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def describe_cluster(scheduler: str | None, workers: int | None) -> str:
    """One line naming where the sweep runs."""
    if scheduler:
        return f"Dask cluster at {scheduler}"
    if workers == 0:
        return "this process (no Dask)"
    return f"embedded Dask LocalCluster, {workers or os.cpu_count()} single-threaded worker processes"
