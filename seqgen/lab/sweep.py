"""Run a design on Dask.distributed: one task per population, results written atomically per population
into OUT/runs/<population_id>.json by the client (workers need no shared disk), finished runs skipped.

By default an embedded `LocalCluster` (one single-threaded worker process per core) starts and stops with
the sweep; with `scheduler="tcp://host:port"` the populations go to an existing cluster started with
`dask scheduler` and `dask worker` on any number of machines (each with seqgen installed).
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
    """Records of every finished run in OUT/runs/*.json, by run id."""
    records = {}
    for path in sorted(Path(out_dir, "runs").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise SeqgenError(f"{path}: unreadable result file ({exc}); delete it to rerun its runs") from exc
        records.update({r["run_id"]: r for r in data["runs"]})
    return records


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
    if workers == 0 and scheduler is None:
        for population in plan.populations:
            records = train_job(population.spec, population.members)
            _save(out, population, records)
            yield population, records
        return
    yield from _run_dask(plan, out, scheduler, workers)


def _run_dask(plan: SweepPlan, out: Path, scheduler: str | None, workers: int | None):
    """Submit one Dask task per population (largest first) and save results as they complete."""
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    try:
        if scheduler is None:
            n = workers or os.cpu_count() or 1
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=":0",
                silence_logs=logging.WARNING,
            )  # fmt: skip
            client = Client(cluster)
        else:
            client = Client(scheduler, timeout=30)
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
