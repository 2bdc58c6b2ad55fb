"""The files of a training run and how they survive interrupts: last.pt, best.pt and metrics.jsonl.

last.pt is the source of truth: it carries the metrics of every completed epoch, so a resume rewrites
metrics.jsonl and repairs best.pt from it after an interrupt at any moment (even between two of the three
writes), and deletes the temp files a killed write left behind. A run stopped by a signal mid-epoch saves
last.pt with its `EpochProgress`, and the resume continues that epoch at the batch where it stopped.
"""

from __future__ import annotations

import importlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
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


@dataclass
class EpochProgress:
    """How far the epoch in progress got: batches done, skipped steps, training seconds and gradient-norm
    counters (the same on every rank), and this rank's loss sum and count over those batches, the recurrent
    state carried into the next batch and the RNG state at that batch."""

    batches: int = 0
    skipped: int = 0
    seconds: float = 0.0
    clipper: dict[str, float] = field(default_factory=dict)
    loss_sum: float = 0.0
    count: int = 0
    state: Any = None
    rng: dict[str, Any] | None = None


SHARED = ("batches", "skipped", "seconds", "clipper")
PER_RANK = ("loss_sum", "count", "state", "rng")


def progress_entry(ranks: list[EpochProgress]) -> dict[str, Any]:
    """The checkpoint's `epoch_progress` from every rank's progress (carried states packed by `pack_state`):
    the shared fields, and the per-rank ones under "ranks"."""
    per_rank = [{k: getattr(p, k) for k in PER_RANK} for p in ranks]
    return {**{k: getattr(ranks[0], k) for k in SHARED}, "ranks": per_rank}


def progress_of(ckpt: dict[str, Any], path: Path, rank: int, world_size: int) -> EpochProgress | None:
    """This rank's EpochProgress from a checkpoint saved mid-epoch (None at an epoch boundary); its carried
    state is still packed (`unpack_state`)."""
    entry = ckpt.get("epoch_progress")
    if entry is None:
        return None
    if len(entry["ranks"]) != world_size:
        raise SeqgenError(
            f"{path}: was saved in the middle of an epoch by {len(entry['ranks'])} processes; resume it with "
            f"--nproc {len(entry['ranks'])}"
        )
    return EpochProgress(**{k: entry[k] for k in SHARED}, **entry["ranks"][rank])


def pack_state(state: Any) -> Any:
    """A carried recurrent state (a tensor, a seqgen dataclass of tensors such as recurrent.State, or None) as
    plain values on the CPU, which a weights_only load reads back."""
    if isinstance(state, torch.Tensor):
        return state.detach().cpu()
    if is_dataclass(state) and type(state).__module__.startswith("seqgen."):
        kind = f"{type(state).__module__}:{type(state).__qualname__}"
        return {"class": kind, "fields": {f.name: pack_state(getattr(state, f.name)) for f in fields(state)}}
    if state is None:
        return None
    raise TypeError(f"cannot save a carried state of type {type(state).__name__}")


def unpack_state(packed: Any, device: torch.device) -> Any:
    """The state `pack_state` packed, on `device`."""
    if isinstance(packed, torch.Tensor):
        return packed.to(device)
    if isinstance(packed, dict):
        module, _, name = packed["class"].partition(":")
        if not module.startswith("seqgen."):
            raise SeqgenError(f"checkpoint carried state of class {packed['class']!r}: not a seqgen state")
        kind = getattr(importlib.import_module(module), name)
        return kind(**{k: unpack_state(v, device) for k, v in packed["fields"].items()})
    return None


def set_rng_state(rng: dict[str, Any]) -> None:
    """Restore the global torch RNG states `rng_state` returned."""
    torch.set_rng_state(rng["torch"].cpu())
    if torch.cuda.is_available() and rng.get("cuda"):
        torch.cuda.set_rng_state_all([s.cpu() for s in rng["cuda"]])


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
) -> tuple[RunProgress, list, dict[str, Any]]:
    """Load last.pt into model and optimiser; restore counters, RNG and the metrics of completed epochs;
    with `write` (rank 0), rewrite metrics.jsonl and repair best.pt from it (they may lag if a run was
    killed between writes). Returns the counters, the metrics and the checkpoint."""
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
    set_rng_state(ckpt["rng"])
    run = RunProgress(ckpt["epoch"], ckpt["step"], ckpt["best_valid"], ckpt["best_epoch"], ckpt["bad_epochs"])
    metrics = [r for r in ckpt.get("metrics", []) if r["epoch"] <= run.epoch]
    if not write:
        return run, metrics, ckpt
    write_metrics(out_dir, metrics)
    best = out_dir / "best.pt"
    mid_epoch = ckpt.get("epoch_progress") is not None  # its weights are past the best epoch's
    best_is_last = run.best_epoch == run.epoch and run.epoch > 0 and not mid_epoch
    if best_is_last and (not best.is_file() or load_checkpoint(best).get("epoch") != run.epoch):
        save_checkpoint(best, ckpt)
    best_text = f"best epoch {run.best_epoch}" if run.best_epoch else "no best epoch yet"
    where = f"epoch {run.epoch}"
    if mid_epoch:
        where = f"epoch {run.epoch + 1} at batch {ckpt['epoch_progress']['batches'] + 1}"
    log.info("resuming from %s: %s, step %d, %s", path, where, run.step, best_text)
    return run, metrics, ckpt


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
