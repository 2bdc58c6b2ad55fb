"""RNNs trained per hour on this CPU: a population of N trained as one batched model against the same
members trained one at a time (each a population of one), at equal results (their curves are compared),
and the projected time of a 40,000-RNN design at this budget on one core.

Times are CPU seconds of this single-threaded process (time.process_time), so that other jobs on a shared
machine do not inflate them; wall seconds are recorded beside them.

    python scripts/lab_throughput.py --json results/lab/throughput.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import torch

from seqgen.fileio import write_text_atomic
from seqgen.lab.train import Member, PopulationSpec, train_population

DESIGN_SIZE = 40_000


def measure(cell: str, init: str, args) -> dict:
    """Time one population of `args.members` and `args.singles` of its members alone; compare curves."""
    spec = PopulationSpec(task="adding", length=args.length, cell=cell, init=init, hidden=args.hidden,
                          steps=args.steps, batch_size=args.batch_size, eval_every=args.steps // 4,
                          eval_size=args.eval_size, diag_every=args.steps // 4, threshold=0.0)  # fmt: skip
    lrs = torch.logspace(-4, -1, args.members).tolist()
    members = [Member(f"m{i}", seed=i, lr=lr, clip=1.0) for i, lr in enumerate(lrs)]
    started, wall = time.process_time(), time.perf_counter()
    together = train_population(spec, members)
    population_s, population_wall = time.process_time() - started, time.perf_counter() - wall
    step = max(1, args.members // args.singles)
    alone_s, agreement = [], []
    for i in range(0, args.members, step)[: args.singles]:
        started = time.process_time()
        alone = train_population(spec, [members[i]])[0]
        alone_s.append(time.process_time() - started)
        diffs = [abs(a - b) / max(abs(b), 1e-12) for a, b in zip(alone["metric_curve"], together[i]["metric_curve"])]
        agreement.append({"lr": members[i].lr, "first_eval": diffs[0], "worst_eval": max(diffs)})
    per_rnn_population = population_s / args.members
    per_rnn_alone = sum(alone_s) / len(alone_s)
    return {
        "cell": cell, "init": init, "members": args.members, "singles_timed": len(alone_s),
        "cpu_seconds_population": population_s,
        "wall_seconds_population": population_wall, "cpu_seconds_per_rnn_population": per_rnn_population,
        "cpu_seconds_per_rnn_alone": per_rnn_alone,
        "rnns_per_hour_population": 3600 / per_rnn_population, "rnns_per_hour_alone": 3600 / per_rnn_alone,
        "speedup": per_rnn_alone / per_rnn_population,
        "relative_curve_difference_alone_vs_population": agreement,
        "hours_for_40000_population": DESIGN_SIZE * per_rnn_population / 3600,
        "hours_for_40000_alone": DESIGN_SIZE * per_rnn_alone / 3600,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=32, help="population size N")
    parser.add_argument("--singles", type=int, default=4, help="members also trained alone (timed)")
    parser.add_argument("--length", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--eval-size", type=int, default=256)
    parser.add_argument("--cells", default="relu/identity,tanh/orthogonal,lstm/default,gru/default")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for item in args.cells.split(","):
        cell, init = item.split("/")
        r = measure(cell, init, args)
        results.append(r)
        first = max(a["first_eval"] for a in r["relative_curve_difference_alone_vs_population"])
        print(
            f"{cell}/{init}: population of {r['members']}: {r['rnns_per_hour_population']:,.0f} RNNs/h; "
            f"one at a time: {r['rnns_per_hour_alone']:,.0f} RNNs/h; speed-up ×{r['speedup']:.1f}; "
            f"40,000 RNNs: {r['hours_for_40000_population']:.1f} h vs {r['hours_for_40000_alone']:.1f} h "
            f"(curves alone vs in the population differ by ≤ {first:.1e} at the first evaluation)",
            flush=True,
        )
    summary = {
        "settings": vars(args),
        "budget": f"adding T={args.length}, hidden {args.hidden}, {args.steps} Adam updates of {args.batch_size} "
        f"sequences, evaluation on {args.eval_size} sequences every {args.steps // 4} updates, one thread",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "load_average_at_end": os.getloadavg(),
        },
        "gpu": "not measured: no GPU was available to this session",
        "results": results,
    }
    if args.json:
        write_text_atomic(args.json, json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
