"""Train a population: every member sees the same minibatches (one data stream per population, from
`data_seed`), has its own initialisation seed, learning rate, momentum and clipping threshold, and is
stopped and scored on its own: it leaves the batch when it meets the task's success criterion (checked on
the fixed evaluation set every `eval_every` updates) or when its loss or gradient becomes non-finite.
Gradient diagnostics are taken at update 1 and every `diag_every` updates.

Because members share nothing but the inputs, a member trained in a population follows the same curve as
the same member trained alone (a population of one); tests check it.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from seqgen.core.optim import MemberOptimizer, OptimConfig, clip_members, member_grad_norms
from seqgen.lab.diagnostics import log10_ratio, profile_positions, spectral_radius, veg_profile, veg_summary
from seqgen.lab.population import Shape, init_population, run
from seqgen.lab.tasks import Task, make_task

STATUS = ("fail", "success", "diverged")
EVAL_ELEMENTS = 4_000_000  # bound on N·B·T·(gates·H) floats held at once while evaluating


@dataclass(frozen=True)
class PopulationSpec:
    """What a population's members share: task, model shape, optimiser kind and training budget."""

    task: str
    length: int = 0
    cell: str = "tanh"
    init: str = "orthogonal"
    init_scale: float = 1.0
    leaky: bool = False
    hidden: int = 32
    optimizer: str = "adam"
    momentum_schedule: str = "constant"
    steps: int = 500
    batch_size: int = 20
    eval_every: int = 50
    eval_size: int = 1000
    diag_every: int = 100
    threshold: float | None = None
    data_path: str = ""
    data_seed: int = 0
    dtype: str = "float32"  # "float64" for exact comparisons


@dataclass(frozen=True)
class Member:
    """One RNN of a population: its id, initialisation seed and scalar hyper-parameters (clip 0 = off)."""

    run_id: str
    seed: int
    lr: float
    clip: float = 0.0
    momentum: float = 0.9


def evaluate(params: dict[str, Tensor], shape: Shape, task: Task, x: Tensor, y: Tensor) -> Tensor:
    """Per-member metric [N] on (x, y), in chunks of sequences so that memory stays bounded."""
    n = next(iter(params.values())).shape[0]
    width = shape.hidden_size * (4 if shape.gated else 1)
    chunk = max(1, EVAL_ELEMENTS // (n * x.shape[1] * width))
    with torch.no_grad():
        preds = [run(params, shape, x[i : i + chunk], task.readout_steps)[0] for i in range(0, len(x), chunk)]
    return task.metric(torch.cat(preds, 1), y)


def _schedule(steps: int, every: int, first: bool) -> list[int]:
    """Update numbers at which something happens: every `every` updates, the last one, and 1 if `first`."""
    points = set(range(every, steps + 1, every)) | {steps} | ({1} if first else set())
    return sorted(points)


def train_population(spec: PopulationSpec, members: list[Member]) -> list[dict]:
    """Train all members; return one JSON-ready record per member (status, curves, diagnostics)."""
    started = time.perf_counter()
    task = make_task(spec.task, spec.length, spec.eval_size, spec.threshold, spec.data_path)
    shape = Shape(task.input_size, spec.hidden, task.output_size, spec.cell, spec.init, spec.init_scale, spec.leaky)
    dtype = getattr(torch, spec.dtype)
    params = init_population(shape, [m.seed for m in members], dtype)
    n0 = len(members)
    lr, momentum, clip = (
        torch.tensor([getattr(m, k) for m in members], dtype=dtype) for k in ("lr", "momentum", "clip")
    )
    opt = MemberOptimizer(params, OptimConfig(spec.optimizer, momentum_schedule=spec.momentum_schedule), lr, momentum)
    generator = torch.Generator().manual_seed(spec.data_seed)
    eval_x, eval_y = task.eval_set()
    eval_x = eval_x.to(dtype)
    eval_at, diag_at = (
        _schedule(spec.steps, spec.eval_every, False),
        _schedule(spec.steps, spec.diag_every, True),
    )
    positions = profile_positions(task.seq_len)
    nan = lambda *size: torch.full(size, math.nan, dtype=torch.float64)
    hist = {"metric": nan(len(eval_at), n0), "loss": nan(len(eval_at), n0), "ratio": nan(len(diag_at), n0),
         "grad_norm": nan(len(diag_at), n0), "radius": nan(len(diag_at), n0),
         "profile": nan(len(diag_at), n0, len(positions))}  # fmt: skip
    status, stopped = torch.zeros(n0, dtype=torch.long), torch.full((n0,), spec.steps)
    clip_count, updates = torch.zeros(n0), torch.zeros(n0)
    ids, loss_sum, loss_count = torch.arange(n0), torch.zeros(n0, dtype=dtype), 0
    pos_index = torch.tensor(positions) - 1

    def drop(keep: Tensor) -> None:
        nonlocal params, ids, clip, loss_sum
        params = {k: p.detach()[keep].requires_grad_() for k, p in params.items()}
        opt.select(params, keep)
        ids, clip, loss_sum = ids[keep], clip[keep], loss_sum[keep]

    for step in range(1, spec.steps + 1):
        if len(ids) == 0:
            break
        x, y = task.sample(spec.batch_size, generator)
        x = x.to(dtype)
        diag = step in diag_at
        pred, states = run(params, shape, x, task.readout_steps, keep_states=diag)
        losses = task.loss(pred, y)
        grads_all = torch.autograd.grad(losses.sum(), [*params.values(), *states])
        grads = dict(zip(params, grads_all[: len(params)]))
        norms = member_grad_norms(grads.values())
        if diag:
            d = diag_at.index(step)
            profile = veg_profile(list(grads_all[len(params) :]), gated_pairs=shape.cell == "lstm")
            hist["ratio"][d, ids] = log10_ratio(profile).double()
            hist["grad_norm"][d, ids] = norms.double()
            hist["radius"][d, ids] = spectral_radius(params.get("W_uu"), len(ids)).double()
            hist["profile"][d, ids] = profile[:, pos_index].double()
        clip_count[ids] += clip_members(grads.values(), norms, clip).float()
        updates[ids] += 1
        for name, p in params.items():
            p.grad = grads[name]
        opt.step()
        loss_sum += losses.detach()
        loss_count += 1
        finite = torch.isfinite(losses.detach()) & torch.isfinite(norms)
        if not finite.all():
            status[ids[~finite]], stopped[ids[~finite]] = 2, step
            drop(finite)
        if step in eval_at and len(ids):
            e = eval_at.index(step)
            metric = evaluate(params, shape, task, eval_x, eval_y)
            hist["metric"][e, ids], hist["loss"][e, ids] = metric.double(), (loss_sum / loss_count).double()
            loss_sum.zero_()
            loss_count = 0
            done = task.success(metric)
            status[ids[done]], stopped[ids[done]] = 1, step
            drop(~done)
    seconds = (time.perf_counter() - started) / n0
    spec_info = {"metric": task.metric_name, "criterion": task.criterion, "seq_len": task.seq_len}
    return [
        _record(m, i, hist, status, stopped, clip_count, updates, eval_at, diag_at, positions, seconds, spec_info)
        for i, m in enumerate(members)
    ]


def _record(member, i, hist, status, stopped, clip_count, updates, eval_at, diag_at, positions, seconds, info):
    """One member's JSON-ready record; curves stop where the member stopped."""
    n_eval = sum(s <= int(stopped[i]) for s in eval_at)
    n_diag = sum(s <= int(stopped[i]) for s in diag_at)
    column = lambda key, n: [_num(v) for v in hist[key][:n, i].tolist()]
    ratios = column("ratio", n_diag)
    metric = column("metric", n_eval)
    state = STATUS[int(status[i])]
    return {
        **asdict(member),
        **info,
        "status": state,
        "success": state == "success",
        "stopped_step": int(stopped[i]),
        "final_metric": next((v for v in reversed(metric) if v is not None), None),
        "eval_steps": eval_at[:n_eval],
        "metric_curve": metric,
        "loss_curve": column("loss", n_eval),
        "diag_steps": diag_at[:n_diag],
        "log10_ratio": ratios,
        "grad_norm": column("grad_norm", n_diag),
        "spectral_radius": column("radius", n_diag),
        "profile_t": positions,
        "profiles": [[_num(v) for v in row] for row in hist["profile"][:n_diag, i].tolist()],
        "clip_rate": float(clip_count[i] / updates[i]) if updates[i] else 0.0,
        "veg": veg_summary([math.nan if r is None else r for r in ratios], state == "diverged"),
        "seconds": seconds,
    }


def _num(value: float) -> float | None:
    """6 significant digits for JSON; NaN → None (±inf stay: Python's json reads them back)."""
    return None if math.isnan(value) else float(f"{value:.6g}")
