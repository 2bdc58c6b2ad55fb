"""The files of a training run and how they survive interrupts: last.pt, best.pt and metrics.jsonl.

last.pt is the source of truth: it carries the metrics of every completed epoch, so a resume rewrites
metrics.jsonl and repairs best.pt from it after an interrupt at any moment (even between two of the three
writes), and deletes the temp files a killed write left behind.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from seqgen.checkpoint import has_training_state, load_checkpoint, load_weights, save_checkpoint
from seqgen.core.optim import OptimConfig
from seqgen.errors import SeqgenError
from seqgen.fileio import json_safe, write_text_atomic
from seqgen.runtime import log


@dataclass
class RunProgress:
    """Counters that checkpoints carry across a resume."""

    epoch: int = 0
    step: int = 0
    best_valid: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0


def save_epoch(out_dir: Path, ckpt: dict[str, Any], improved: bool, metrics: list[dict[str, Any]]) -> None:
    """Write last.pt, then best.pt (if improved), then metrics.jsonl, each atomically; see `restore`."""
    save_checkpoint(out_dir / "last.pt", ckpt)
    if improved:
        save_checkpoint(out_dir / "best.pt", ckpt)
    write_metrics(out_dir, metrics)


def write_metrics(out_dir: Path, metrics: list[dict[str, Any]]) -> None:
    """metrics.jsonl, one strict-JSON line per completed epoch, written atomically."""
    lines = (json.dumps(json_safe(record), allow_nan=False) for record in metrics)
    write_text_atomic(out_dir / "metrics.jsonl", "".join(line + "\n" for line in lines))


def remove_stale_temps(out_dir: Path) -> None:
    """Delete temp files an earlier run killed mid-write left behind (.last.pt.*.tmp and the like)."""
    if out_dir.is_dir():
        for name in ("last.pt", "best.pt", "metrics.jsonl"):
            for tmp in out_dir.glob(f".{name}.*.tmp"):
                tmp.unlink(missing_ok=True)


# Settings that may change on resume without --override: more epochs, another device, a new patience.
RESUMABLE = {"epochs", "device", "patience"}


def restore(
    out_dir: Path,
    task_name: str,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    optim_config: OptimConfig,
    train_config: Any,
    override: bool,
    write: bool = True,
) -> tuple[RunProgress, list]:
    """Load last.pt into model and optimiser; restore counters, RNG and the metrics of completed epochs;
    with `write` (rank 0), rewrite metrics.jsonl and repair best.pt from it (they may lag if a run was
    killed between writes)."""
    path = out_dir / "last.pt"
    ckpt = load_checkpoint(path, map_location=next(model.parameters()).device)
    if ckpt["task"] != task_name:
        raise SeqgenError(f"{out_dir}: this folder holds a {ckpt['task']} run, not a {task_name} run")
    if not has_training_state(ckpt):
        raise SeqgenError(f"{path}: holds no training state to resume from")
    if ckpt["model_config"] != asdict(model.config):
        changed = _changed(ckpt["model_config"], asdict(model.config))
        raise SeqgenError(f"{path}: was trained with another model configuration ({changed})")
    changed = _changed(
        {**ckpt["train_config"], **{f"optim.{k}": v for k, v in ckpt["optim_config"].items()}},
        {**asdict(train_config), **{f"optim.{k}": v for k, v in asdict(optim_config).items()}},
        skip=RESUMABLE,
    )
    if changed and not override:
        raise SeqgenError(
            f"{path}: resuming with other training settings ({changed}); pass override (--override) to accept them"
        )
    if ckpt["optim_config"]["name"] != optim_config.name:
        raise SeqgenError(
            f"{path}: was trained with {ckpt['optim_config']['name']}; its state cannot seed {optim_config.name}"
        )
    try:
        load_weights(model, ckpt["state_dict"])
    except ValueError as exc:
        raise SeqgenError(f"{path}: {exc}") from None
    optimizer.load_state_dict(ckpt["optimizer_state"])
    torch.set_rng_state(ckpt["rng"]["torch"].cpu())
    if torch.cuda.is_available() and ckpt["rng"].get("cuda"):
        torch.cuda.set_rng_state_all([s.cpu() for s in ckpt["rng"]["cuda"]])
    run = RunProgress(ckpt["epoch"], ckpt["step"], ckpt["best_valid"], ckpt["best_epoch"], ckpt["bad_epochs"])
    metrics = [r for r in ckpt.get("metrics", []) if r["epoch"] <= run.epoch]
    if not write:
        return run, metrics
    write_metrics(out_dir, metrics)
    best = out_dir / "best.pt"
    best_is_last = run.best_epoch == run.epoch and run.epoch > 0
    if best_is_last and (not best.is_file() or load_checkpoint(best).get("epoch") != run.epoch):
        save_checkpoint(best, ckpt)
    best_text = f"best epoch {run.best_epoch}" if run.best_epoch else "no best epoch yet"
    log.info("resuming from %s: epoch %d, step %d, %s", path, run.epoch, run.step, best_text)
    return run, metrics


def _changed(old: dict[str, Any], new: dict[str, Any], skip: set[str] = frozenset()) -> str:
    """'name old → new' for every setting that differs, comma-separated."""
    keys = [k for k in {**old, **new} if k not in skip and old.get(k) != new.get(k)]
    return ", ".join(f"{k} {old.get(k)!r} → {new.get(k)!r}" for k in keys)


def rng_state() -> dict[str, Any]:
    """Global torch RNG states (dropout, sampling in losses) for an exact resume."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state

