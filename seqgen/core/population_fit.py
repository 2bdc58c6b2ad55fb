"""Train a population of models on one task (the `FitTask` of seqgen.core.train) as one stacked model.

Every member sees the same batches as the model trained alone by `fit` with the same `TrainConfig.seed`, has its
own initialisation seed, learning rate ε, μ_max, clipping threshold (its own gradient norm) and L1 weight, its own
random stream for CD-k (seeded by its seed), and its own early stopping with a snapshot of its best weights.
A member whose loss or gradient norm becomes non-finite is frozen at its last finite weights and reported; members
that stop (patience, divergence, `keep` of a search) leave the batch, so later steps cost less.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from seqgen.core.optim import MemberOptimizer, OptimConfig, clip_members, learning_rate_at, member_grad_norms
from seqgen.core.population import member_model, reuse_freed_memory, select_members, stack_models
from seqgen.core.train import FitTask, TrainConfig
from seqgen.runtime import log

STATUSES = ("training", "finished", "stopped", "diverged", "dropped")


@dataclass(frozen=True)
class MemberSpec:
    """One member: initialisation seed and scalar hyper-parameters (ε, μ_max, clip c, L1 λ; 0 turns c or λ off)."""

    seed: int  # initialisation, and the member's CD-k stream
    lr: float  # ε (the optimiser's schedule scales it per epoch)
    momentum: float = 0.9  # μ_max
    clip: float = 0.0  # threshold on the member's own gradient norm
    l1: float = 0.0  # λ of the L1 penalty on rectifier activations


@dataclass
class MemberState:
    """What is known of one member: status, per-epoch records, best validation score and its weights."""

    spec: MemberSpec
    status: str = "training"
    reason: str = ""
    best_valid: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    steps: int = 0
    curve: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, Tensor] | None = field(default=None, repr=False)


class Population:
    """A population under training: the stacked model of the members still training (`active` indexes `members`)."""

    def __init__(self, make_model: Callable[[], nn.Module], specs: list[MemberSpec], optim: OptimConfig):
        reuse_freed_memory()
        singles = []
        for spec in specs:
            torch.manual_seed(spec.seed)
            singles.append(make_model())
        self.model = stack_models(singles)
        self.members = [MemberState(s) for s in specs]
        self.active = list(range(len(specs)))
        self.optim_config = optim
        dtype = next(self.model.parameters()).dtype
        vector = lambda key: torch.tensor([getattr(s, key) for s in specs], dtype=dtype)
        self.clip, self.l1 = vector("clip"), vector("l1")
        self.optimizer = MemberOptimizer(dict(self.model.named_parameters()), optim, vector("lr"), vector("momentum"))
        self.streams = [torch.Generator().manual_seed(s.seed) for s in specs]
        self._attach_streams()

    def _attach_streams(self) -> None:
        """Give a conditional that draws random numbers in training (the RBM) one stream per active member."""
        cond = getattr(self.model, "conditional", None)
        if cond is not None and hasattr(cond, "streams"):
            cond.streams = self.streams

    def keep(self, mask: Tensor) -> None:
        """Keep the active members where `mask` [N_active] is true; the others leave the batch."""
        if bool(mask.all()):
            return
        keep = torch.nonzero(mask).flatten()
        self.model = select_members(self.model, keep)
        self.optimizer.select(dict(self.model.named_parameters()), keep)
        self.clip, self.l1 = self.clip[keep], self.l1[keep]
        self.streams = [self.streams[int(i)] for i in keep]
        self.active = [self.active[int(i)] for i in keep]
        self._attach_streams()

    def member(self, i: int) -> nn.Module:
        """Active member i (a position in the batch) as a single model."""
        return member_model(self.model, i)


def train_population(
    task: FitTask,
    population: Population,
    train_config: TrainConfig,
    epochs: int,
    *,
    on_epoch: Callable[[Population, int], None] | None = None,
) -> list[MemberState]:
    """Train the active members up to `epochs` epochs in all (counting those already done); return every member.

    Validation (`task.evaluate` of each member as a single model) and early stopping (`train_config.patience`)
    are per member; `on_epoch(population, epoch)` runs after each epoch (a search drops members there).
    """
    start = max((len(population.members[i].curve) for i in population.active), default=epochs)
    generator = torch.Generator()
    for epoch in range(start, epochs):
        if not population.active:
            break
        generator.manual_seed(train_config.seed * 100_003 + epoch)  # the batches `fit` draws for this epoch
        started = time.perf_counter()
        train = _train_epoch(task, population, epoch, generator)
        _validate(task, population, epoch, train, time.perf_counter() - started, train_config.patience)
        if on_epoch is not None:
            on_epoch(population, epoch + 1)
    for i in population.active:
        population.members[i].status = "finished"
    return population.members


def _train_epoch(task: FitTask, pop: Population, epoch: int, generator: torch.Generator) -> dict[int, dict]:
    """One pass over the batches; returns per-member (by index into `members`) loss, norms and clip counts."""
    factor = _lr_factor(pop.optim_config, epoch)
    pop.model.train()
    sums = {
        i: {"loss": 0.0, "count": 0, "norm_sum": 0.0, "norm_max": 0.0, "clipped": 0, "steps": 0} for i in pop.active
    }
    state = None
    for batch, carry in task.batches(epoch, generator):
        out = task.step_loss(pop.model, batch, state if carry else None)
        loss = out.loss
        if out.activations is not None and bool((pop.l1 > 0).any()):
            loss = loss + pop.l1 * out.activations.abs().sum(-1).flatten(1).mean(1)
        params = list(pop.model.parameters())
        for p in params:
            p.grad = None
        loss.sum().backward()
        grads = [p.grad for p in params]
        norms = member_grad_norms(grads)
        losses, out_state = out.loss.detach(), out.state
        finite = torch.isfinite(loss.detach()) & torch.isfinite(norms)
        if not bool(finite.all()):
            for j in torch.nonzero(~finite).flatten().tolist():
                what = "loss" if not torch.isfinite(loss[j]) else "gradient norm"
                member = pop.members[pop.active[j]]
                member.status, member.reason = "diverged", f"non-finite {what} at epoch {epoch + 1}"
                log.warning("member %d (lr %g, seed %d) frozen: %s", pop.active[j], member.spec.lr, member.spec.seed,
                            member.reason)  # fmt: skip
            keep = torch.nonzero(finite).flatten()
            grads, norms, losses = [g[keep] for g in grads], norms[keep], losses[keep]
            out_state = None if out_state is None else out_state.select(keep)
            pop.keep(finite)  # the diverged members stay frozen at the weights before this step
            if not pop.active:
                break
            params = list(pop.model.parameters())
            for p, g in zip(params, grads):
                p.grad = g
        clipped = clip_members(grads, norms, pop.clip)
        pop.optimizer.step(torch.full_like(pop.clip, factor))
        state = None if out_state is None else out_state.detach()
        for j, i in enumerate(pop.active):
            s = sums[i]
            s["loss"] += float(losses[j]) * out.count
            s["count"] += out.count
            s["norm_sum"] += float(norms[j])
            s["norm_max"] = max(s["norm_max"], float(norms[j]))
            s["clipped"] += int(clipped[j])
            s["steps"] += 1
            pop.members[i].steps += 1
    return sums


def _validate(task: FitTask, pop: Population, epoch: int, sums: dict[int, dict], seconds: float, patience: int) -> None:
    """Score each active member alone on the validation split; record its epoch; stop members out of patience."""
    keep, factor = [], _lr_factor(pop.optim_config, epoch)
    for j, i in enumerate(pop.active):
        member, s = pop.members[i], sums[i]
        single = pop.member(j).eval()
        with torch.no_grad():
            valid = task.evaluate(single, "valid")
        score = valid.get("score", math.nan)
        improved = math.isfinite(score) and score > member.best_valid
        if improved:
            member.best_valid, member.best_epoch, member.bad_epochs = score, epoch + 1, 0
            member.best_state = {k: v.detach().clone() for k, v in single.state_dict().items()}
        else:
            member.bad_epochs += 1
        steps = max(s["steps"], 1)
        member.curve.append({
            "epoch": epoch + 1, "lr": member.spec.lr * factor,
            "train_loss": s["loss"] / max(s["count"], 1), "valid": valid, "best": improved,
            "grad_norm_mean": s["norm_sum"] / steps, "grad_norm_max": s["norm_max"], "clip_rate": s["clipped"] / steps,
            "seconds": seconds,
        })  # fmt: skip
        stop = 0 < patience <= member.bad_epochs
        if stop:
            member.status, member.reason = "stopped", f"no better validation score for {patience} epochs"
        keep.append(not stop)
    pop.keep(torch.tensor(keep, dtype=torch.bool))


def _lr_factor(config: OptimConfig, epoch: int) -> float:
    """The schedule's factor at `epoch` (ε_i(epoch) = ε_i · factor), as `learning_rate_at` gives it alone."""
    return learning_rate_at(epoch, config) / config.lr if config.lr else 1.0
