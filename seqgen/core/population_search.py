"""A learning-rate search inside one population, by successive halving.

It starts M = trials × seeds members: ε log-spaced over [lr_low, lr_high] (both included), each with `seeds`
initialisation seeds. At each rung epoch the members still training are ranked by their best validation score and
the best ⌈keep · n⌉ (at least one) go on; the others are dropped and leave the batch, so later epochs cost less.
With `min_delta` > 0 a member also stops when its last `patience` epochs did not beat its best score before them by
more than `min_delta` (a decaying ε otherwise buys ever smaller gains until the epoch cap). With `by_setting` the
rung ranks settings (ε) by the mean best score of their seeds and keeps or drops all seeds
of a setting together, so the selected setting (`best_setting`) ends with every seed trained.
Members also stop on their own (patience, divergence), as in seqgen.core.population_fit.

The run folder holds `members.json` and `members.md` (one row per member), `curves/m<i>.json` (each member's
per-epoch records), `search.pt` (everything needed to resume after any completed epoch) and `best.pt`: the best
member's best weights as a normal single-model checkpoint that `sample` and `score` read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torch import nn

from seqgen.checkpoint import build_checkpoint, load_state, malformed_reason, save_checkpoint, save_state
from seqgen.core.optim import OptimConfig
from seqgen.core.population_fit import MemberSpec, MemberState, Population, train_population
from seqgen.core.run_lock import holding_run_lock
from seqgen.core.train import FitTask, TrainConfig
from seqgen.errors import SeqgenError
from seqgen.fileio import json_safe, write_text_atomic

_MEMBER_FIELDS = ("status", "reason", "best_valid", "best_epoch", "bad_epochs", "steps", "curve", "best_state")


@dataclass(frozen=True)
class SearchConfig:
    """The search: ε range and count, seeds per ε, rung epochs and the fraction kept at each rung."""

    lr_low: float
    lr_high: float
    trials: int = 8
    seeds: int = 2
    rungs: tuple[int, ...] = (5, 15, 45)
    keep: float = 1 / 3
    by_setting: bool = False
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        if not 0 < self.lr_low <= self.lr_high:
            raise SeqgenError(f"{self.lr_low:g}:{self.lr_high:g}: need 0 < LOW ≤ HIGH", param="lr_range")
        if self.trials < 1 or self.seeds < 1:
            raise SeqgenError(f"{self.trials} trials × {self.seeds} seeds: both must be at least 1", param="trials")
        if not 0 < self.keep <= 1:
            raise SeqgenError(f"keep fraction {self.keep}: must be in (0, 1]")

    def members(self, base: MemberSpec) -> list[MemberSpec]:
        """trials × seeds members: ε_k = low·(high/low)^(k/(trials−1)), seeds base.seed, base.seed + 1, ..."""
        ratio = self.lr_high / self.lr_low
        lrs = [self.lr_low * ratio ** (k / max(self.trials - 1, 1)) for k in range(self.trials)]
        return [replace(base, seed=base.seed + s, lr=lr) for lr in lrs for s in range(self.seeds)]


def parse_lr_range(text: str) -> tuple[float, float]:
    """ "0.03:3" → (0.03, 3.0); a clear error for anything else."""
    try:
        low, high = (float(part) for part in text.split(":"))
    except ValueError:
        raise SeqgenError(f"{text!r}: expected a range LOW:HIGH such as 0.03:3", param="lr_range") from None
    return low, high


def halve(population: Population, epoch: int, keep: float, by_setting: bool = False) -> None:
    """Keep the best ⌈keep·n⌉ of the n members (or, `by_setting`, of the n settings) still training, by best
    validation score (a setting's: the mean over all its seeds); drop the others."""
    groups = settings(population.members) if by_setting else {i: [i] for i in range(len(population.members))}
    live = {key: ids for key, ids in groups.items() if any(i in population.active for i in ids)}
    ranked = sorted(live, key=lambda key: -setting_score(population.members, live[key]))
    kept = set(ranked[: max(1, math.ceil(keep * len(ranked)))])
    what = "settings" if by_setting else "members"
    for key in set(ranked) - kept:
        for i in live[key]:
            member = population.members[i]
            if i in population.active:
                member.status = "dropped"
                member.reason = f"rung at epoch {epoch}: not in the best {len(kept)} of {len(ranked)} {what}"
    population.keep(torch.tensor([population.members[i].status != "dropped" for i in population.active]))


def stop_without_gain(population: Population, patience: int, min_delta: float) -> None:
    """Stop the active members whose best score of their last `patience` epochs is at most `min_delta` above
    their best score before them."""
    score = lambda e: e["valid"].get("score") if _finite(e["valid"].get("score")) else -math.inf
    stop = []
    for i in population.active:
        curve = [score(e) for e in population.members[i].curve]
        done = len(curve) > patience and max(curve[-patience:]) - max(curve[:-patience]) <= min_delta
        if done:
            member = population.members[i]
            member.status, member.reason = "stopped", f"no validation gain above {min_delta:g} for {patience} epochs"
        stop.append(done)
    population.keep(~torch.tensor(stop, dtype=torch.bool))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def settings(members: list[MemberState]) -> dict[MemberSpec, list[int]]:
    """Member indices grouped by setting: the member's spec without its seed."""
    groups: dict[MemberSpec, list[int]] = {}
    for i, m in enumerate(members):
        groups.setdefault(replace(m.spec, seed=0), []).append(i)
    return groups


def setting_score(members: list[MemberState], ids: list[int]) -> float:
    """Mean best validation score of the members `ids` (−inf if any has none)."""
    return sum(members[i].best_valid for i in ids) / len(ids)


def best_setting(members: list[MemberState]) -> list[int]:
    """The members (all seeds) of the setting with the best mean validation score among those never dropped."""
    groups = [ids for ids in settings(members).values() if all(members[i].status != "dropped" for i in ids)]
    if not groups:
        raise SeqgenError("no setting of the search kept all its seeds")
    return max(groups, key=lambda ids: setting_score(members, ids))


@holding_run_lock("out_dir")  # one writer per run folder
def run_search(
    task: FitTask,
    make_model: Callable[[], nn.Module],
    search: SearchConfig,
    base: MemberSpec,
    optim_config: OptimConfig,
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
) -> list[MemberState]:
    """Run (or, with `resume`, continue) the search for `train_config.epochs` epochs in all; write the run folder."""
    out = Path(out_dir)
    (out / "curves").mkdir(parents=True, exist_ok=True)
    population = Population(make_model, search.members(base), optim_config)
    if resume and (out / "search.pt").exists():
        _restore(population, out / "search.pt")

    def on_epoch(pop: Population, epoch: int) -> None:
        if search.min_delta > 0 and train_config.patience > 0:
            stop_without_gain(pop, train_config.patience, search.min_delta)
        if epoch in search.rungs and pop.active:
            halve(pop, epoch, search.keep, search.by_setting)
        _save(out, pop, task, optim_config, train_config)

    members = train_population(task, population, train_config, train_config.epochs, on_epoch=on_epoch)
    _save(out, population, task, optim_config, train_config)
    return members


def _save(out: Path, pop: Population, task: FitTask, optim: OptimConfig, train: TrainConfig) -> None:
    """search.pt, the members table, the curves and best.pt, each written atomically."""
    state = {
        "model": pop.model.state_dict(), "active": pop.active, "optimizer_t": pop.optimizer.t,
        "optimizer_state": pop.optimizer.state, "streams": [g.get_state() for g in pop.streams],
        "members": [{k: getattr(m, k) for k in _MEMBER_FIELDS} for m in pop.members],
    }  # fmt: skip
    save_state(out / "search.pt", state)
    rows = [_row(i, m) for i, m in enumerate(pop.members)]
    write_text_atomic(out / "members.json", json.dumps(json_safe(rows), indent=1) + "\n")
    write_text_atomic(out / "members.md", _table(rows))
    for i, m in enumerate(pop.members):
        write_text_atomic(out / "curves" / f"m{i:03d}.json", json.dumps(json_safe(m.curve)) + "\n")
    best = max(range(len(pop.members)), key=lambda i: pop.members[i].best_valid)
    member = pop.members[best]
    if member.best_state is not None:
        ckpt = build_checkpoint(
            task.checkpoint_info(), asdict(pop.model.config), member.best_state, seed=member.spec.seed,
            step=member.steps, epoch=len(member.curve), best_valid=member.best_valid, best_epoch=member.best_epoch,
            train_config=asdict(train), metrics=json_safe(member.curve),
            optim_config=asdict(replace(optim, lr=member.spec.lr, momentum=member.spec.momentum)),
            search={"member": best, **json_safe(_row(best, member))},
        )  # fmt: skip
        save_checkpoint(out / "best.pt", ckpt)


def _restore(pop: Population, path: Path) -> None:
    """Put a population back as `_save` left it in `path` (checked like a checkpoint); a file of another search or
    of another shape is one line naming it."""
    state = load_state(path)
    try:
        _restore_state(pop, state)
    except (KeyError, TypeError, ValueError, IndexError, RuntimeError) as exc:
        raise SeqgenError(f"{path}: not this search's state ({malformed_reason(exc)[:120]}); delete it, or the run "
                          "folder, to start the search again") from None  # fmt: skip


def _restore_state(pop: Population, state: dict) -> None:
    """Set members, active set, weights, optimiser and data streams from `state`."""
    if len(state["members"]) != len(pop.members):
        raise ValueError(f"{len(state['members'])} members saved, this search has {len(pop.members)}")
    for member, saved in zip(pop.members, state["members"]):
        for key in _MEMBER_FIELDS:
            setattr(member, key, saved[key])
    active = state["active"]
    pop.keep(torch.tensor([i in active for i in pop.active], dtype=torch.bool))
    pop.model.load_state_dict(state["model"])
    pop.optimizer.t, pop.optimizer.state = state["optimizer_t"], state["optimizer_state"]
    for g, s in zip(pop.streams, state["streams"]):
        g.set_state(s)


def _row(i: int, m: MemberState) -> dict:
    """One member's line of the members table."""
    return {"member": i, **asdict(m.spec), "status": m.status, "reason": m.reason, "epochs": len(m.curve),
            "best_valid": m.best_valid, "best_epoch": m.best_epoch}  # fmt: skip


def _table(rows: list[dict]) -> str:
    """The members table as Markdown, best validation score first."""
    head = "| member | lr | seed | status | epochs | best valid | best epoch | reason |\n" + "|---" * 8 + "|\n"
    body = "".join(
        f"| m{r['member']:03d} | {r['lr']:.4g} | {r['seed']} | {r['status']} | {r['epochs']} | {r['best_valid']:.4f} "
        f"| {r['best_epoch']} | {r['reason']} |\n"
        for r in sorted(rows, key=lambda r: -r["best_valid"])
    )
    return head + body
