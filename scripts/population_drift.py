"""How long a member trained in a population follows the same member trained alone, in float32 and float64, and
how long a run follows itself after a 1e-13 change to W_uu: the first evaluation (every 10 updates) at which the
adding-problem metric (T = 50, tanh 32, simplified Nesterov, clip 1) differs by more than 1e-3 relative.

Rounding differs between a batched matmul over 8 members and over 1, and chaotic members (large ε) amplify it like
any other 1e-13 perturbation; short runs agree to 1e-8 in float64 (tests/test_population_training.py).

    OMP_NUM_THREADS=1 python scripts/population_drift.py --json results/population_drift.json
"""

from __future__ import annotations

import argparse
import json
import os

import torch

import seqgen.lab.train as lab_train
from seqgen.fileio import write_text_atomic
from seqgen.lab.train import Member, PopulationSpec, train_population

LRS = [0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0]


def first_difference(curve: list, reference: list, eval_steps: list[int], tol: float = 1e-3) -> int | None:
    """The first evaluation step where the two metric curves differ by more than `tol` relative (None: never)."""
    for step, a, b in zip(eval_steps, curve, reference):
        if a is None or b is None or abs(a - b) > tol * max(abs(b), 1e-12):
            return step
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default="results/population_drift.json")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0, help="seed of the first member (the others follow)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = {"task": "adding", "length": 50, "cell": "tanh", "init": "orthogonal", "hidden": 32,
            "optimizer": "nesterov", "steps": args.steps, "batch_size": 20, "eval_every": 10, "eval_size": 200,
            "diag_every": args.steps, "threshold": 0.0}  # fmt: skip
    members = [Member(f"m{i}", seed=args.seed + i, lr=lr, clip=1.0) for i, lr in enumerate(LRS)]
    result = {"command": f"python scripts/population_drift.py --steps {args.steps} --seed {args.seed}",
              "threads": 1, "load_average": os.getloadavg(), "spec": spec}  # fmt: skip
    for dtype in ("float32", "float64"):
        s = PopulationSpec(**spec, dtype=dtype)
        together = train_population(s, members)
        rows = []
        for member, joint in zip(members, together):
            alone = train_population(s, [member])[0]
            step = first_difference(joint["metric_curve"], alone["metric_curve"], joint["eval_steps"])
            rows.append({"lr": member.lr, "first_update_differing": step})
        result[f"population_vs_alone_{dtype}"] = rows
        print(dtype, "population vs alone:", rows)
    s, original, rows = PopulationSpec(**spec, dtype="float64"), lab_train.init_population, []
    for member in members[3:]:
        base = train_population(s, [member])[0]

        def nudged(shape, seeds, dtype):
            params = original(shape, seeds, dtype)
            with torch.no_grad():
                params["W_uu"].add_(1e-13)
            return params

        lab_train.init_population = nudged
        try:
            moved = train_population(s, [member])[0]
        finally:
            lab_train.init_population = original
        rows.append({"lr": member.lr, "first_update_differing": first_difference(
            moved["metric_curve"], base["metric_curve"], base["eval_steps"])})  # fmt: skip
    result["w_uu_plus_1e-13_float64"] = rows
    print("W_uu + 1e-13 (float64):", rows)
    write_text_atomic(args.json, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
