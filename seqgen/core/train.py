"""Task-agnostic training loop shared by music and text: epochs of shuffled batches with truncated BPTT,
gradient clipping, L1 activation penalty, NaN/Inf guard, validation, early stopping, checkpoints, resume.

Files in `out_dir`: `last.pt` (after every epoch and on Ctrl-C), `best.pt` (best validation score),
`metrics.jsonl` (one JSON object per completed epoch).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from seqgen.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from seqgen.core.optim import (
    GradClipper,
    OptimConfig,
    l1_activation_penalty,
    learning_rate_at,
    make_optimizer,
    set_learning_rate,
)
from seqgen.errors import SeqgenError
from seqgen.fileio import write_text_atomic
from seqgen.runtime import choose_device, log, progress, seed_everything


@dataclass
class StepLoss:
    """What a task returns for one batch.

    `loss`: scalar to minimise (mean per frame/token); `count`: frames/tokens it averages over;
    `state`: recurrent state after the batch (the loop detaches it before the next `carry` batch);
    `activations` [..., H]: rectifier activations of valid frames/tokens for the L1 penalty, or None.
    """

    loss: Tensor
    count: int
    state: Any = None
    activations: Tensor | None = None


class Task(Protocol):
    """What `fit` needs from music or text. An optional attribute `unit` ("frames", "tokens") names
    what `StepLoss.count` counts, for throughput in logs and metrics."""

    def batches(self, epoch: int, generator: torch.Generator) -> Iterable[tuple[Any, bool]]:
        """Yield (batch, carry) for one epoch, shuffled with the CPU `generator` (reseeded from the seed
        and epoch, so a resumed run sees the same order). carry=True continues the previous batch's
        state (long pieces cut into chunks / text TBPTT); False starts from the initial state (state None).
        Tensors in tuples, lists and dicts are moved to the model's device by the loop; a sized iterable
        (with `len`) gets a progress bar with a total."""
        ...

    def step_loss(self, model: nn.Module, batch: Any, state: Any) -> StepLoss:
        """Loss of one batch starting from `state` (None: the model's initial state)."""
        ...

    def evaluate(self, model: nn.Module, split: str = "valid") -> dict[str, float]:
        """Metrics on a split (called in eval mode under no_grad); key "score" is higher-is-better
        (music: log-likelihood per frame; text: −bits per character)."""
        ...

    def checkpoint_info(self) -> dict[str, Any]:
        """`task`, `kind`, `data` (and `tokenizer` for text) to store in every checkpoint."""
        ...


@dataclass
class TrainConfig:
    """Settings of one training run; plain values, stored in checkpoints.

    `batch_size` and `chunk_len` (frames/tokens per TBPTT chunk) are read by tasks; `patience` epochs
    without a better validation score stop training (0: never); `clip` is the gradient-norm threshold c
    (0: off); `l1` the weight λ of the L1 penalty on activations (0: off).
    """

    epochs: int = 100
    batch_size: int = 32
    chunk_len: int = 100
    patience: int = 10
    clip: float = 1.0
    l1: float = 0.0
    seed: int = 0
    device: str = "auto"


@dataclass
class FitResult:
    """How a run ended; `metrics` holds one dict per completed epoch (as in metrics.jsonl)."""

    epochs_completed: int
    steps: int
    best_valid: float
    best_epoch: int
    stopped_early: bool
    interrupted: bool
    metrics: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Progress:
    """Counters that checkpoints carry across a resume."""

    epoch: int = 0
    step: int = 0
    best_valid: float = -math.inf
    best_epoch: int = 0
    bad_epochs: int = 0


def detach_state(state: Any) -> Any:
    """Detach every tensor in a state (Tensor, tuple, list, dict or None) for truncated BPTT."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    if isinstance(state, dict):
        return {k: detach_state(v) for k, v in state.items()}
    return state


def fit(
    task: Task,
    model: nn.Module,
    optim_config: OptimConfig,
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
) -> FitResult:
    """Train `model` (with a dataclass `model.config`) on `task`; with `resume`, continue from out_dir/last.pt.

    `train_config.epochs` counts all epochs, the resumed ones included. A run interrupted mid-epoch
    (Ctrl-C) saves last.pt with the current weights and the count of completed epochs; resuming
    re-runs that epoch from those weights. Weights are never saved unless finite.
    """
    out_dir = Path(out_dir)
    device = choose_device(train_config.device)
    seed_everything(train_config.seed)
    model.to(device)
    optimizer = make_optimizer(model.parameters(), optim_config)
    run, metrics = _Progress(), []
    if resume:
        run, metrics = _restore(out_dir, model, optimizer, optim_config.name)
    clipper = GradClipper(train_config.clip)
    generator = torch.Generator()
    unit = getattr(task, "unit", "items")
    stopped_early = 0 < train_config.patience <= run.bad_epochs
    interrupted = False

    def checkpoint() -> dict[str, Any]:
        return {
            **task.checkpoint_info(),
            "format_version": FORMAT_VERSION,
            "model_config": asdict(model.config),
            "state_dict": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "step": run.step,
            "epoch": run.epoch,
            "best_valid": run.best_valid,
            "best_epoch": run.best_epoch,
            "bad_epochs": run.bad_epochs,
            "seed": train_config.seed,
            "train_config": asdict(train_config),
            "optim_config": asdict(optim_config),
            "rng": _rng_state(),
        }

    with progress() as bar:
        epoch_bar = bar.add_task("epochs", total=train_config.epochs, completed=run.epoch, status="")
        try:
            while run.epoch < train_config.epochs and not stopped_early:
                started = time.perf_counter()
                lr = learning_rate_at(run.epoch, optim_config)
                set_learning_rate(optimizer, lr)
                generator.manual_seed(train_config.seed * 100_003 + run.epoch)
                clipper.reset()
                train = _train_epoch(
                    task, model, optimizer, clipper, train_config, run, generator, device, bar
                )
                train_seconds = time.perf_counter() - started
                model.eval()
                with torch.no_grad():
                    valid = task.evaluate(model, "valid")
                model.train()
                run.epoch += 1
                score = valid.get("score", math.nan)
                improved = math.isfinite(score) and score > run.best_valid
                if improved:
                    run.best_valid, run.best_epoch, run.bad_epochs = score, run.epoch, 0
                else:
                    run.bad_epochs += 1
                stopped_early = 0 < train_config.patience <= run.bad_epochs
                record = {
                    "epoch": run.epoch,
                    "step": run.step,
                    "lr": lr,
                    "train_loss": train["loss"],
                    "valid": valid,
                    "best": improved,
                    "grad_norm_mean": clipper.norm_mean,
                    "grad_norm_max": clipper.norm_max,
                    "clip_rate": clipper.clip_rate,
                    "skipped_steps": train["skipped"],
                    f"{unit}_per_second": train["count"] / max(train_seconds, 1e-9),
                    "seconds": time.perf_counter() - started,
                }
                metrics.append(record)
                _save_epoch(out_dir, checkpoint(), improved, metrics)
                _log_epoch(record, train_config.epochs, unit)
                bar.update(
                    epoch_bar, completed=run.epoch, status=f"valid {score:.4g} (best {run.best_valid:.4g})"
                )
        except KeyboardInterrupt:
            interrupted = True
            save_checkpoint(out_dir / "last.pt", checkpoint())
            log.warning("interrupted: saved %s (resume with --resume)", out_dir / "last.pt")
    if stopped_early:
        log.info("early stop: no better validation score for %d epochs", train_config.patience)
    return FitResult(run.epoch, run.step, run.best_valid, run.best_epoch, stopped_early, interrupted, metrics)


def _train_epoch(
    task: Task,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    clipper: GradClipper,
    config: TrainConfig,
    run: _Progress,
    generator: torch.Generator,
    device: torch.device,
    bar,
) -> dict[str, float]:
    """One pass over the task's batches; returns mean train loss, counted items and skipped steps."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    batches = task.batches(run.epoch, generator)
    batch_bar = bar.add_task(f"epoch {run.epoch + 1}", total=_length(batches), status="")
    unit = getattr(task, "unit", "items")
    loss_sum, count, skipped, steps, state = 0.0, 0, 0, 0, None
    started = time.perf_counter()
    for batch, carry in batches:
        out = task.step_loss(model, _to_device(batch, device), state if carry else None)
        loss = out.loss
        if config.l1 > 0 and out.activations is not None:
            loss = loss + l1_activation_penalty(out.activations, config.l1)
        optimizer.zero_grad(set_to_none=True)
        steps += 1
        norm = math.nan
        if torch.isfinite(loss):
            loss.backward()
            norm, _ = clipper(params)
        if not math.isfinite(norm):
            skipped += 1
            state = None
            log.warning("step %d: non-finite loss or gradient norm, step skipped", run.step + 1)
            optimizer.zero_grad(set_to_none=True)
            bar.advance(batch_bar)
            continue
        optimizer.step()
        run.step += 1
        state = detach_state(out.state)
        loss_sum += float(out.loss.detach()) * out.count
        count += out.count
        rate = count / max(time.perf_counter() - started, 1e-9)
        bar.update(
            batch_bar, advance=1, status=f"loss {loss_sum / count:.4f}  ‖g‖ {norm:.3g}  {rate:,.0f} {unit}/s"
        )
    bar.remove_task(batch_bar)
    if steps == 0:
        raise SeqgenError(f"epoch {run.epoch + 1}: the task produced no training batches")
    if skipped == steps:
        raise SeqgenError(
            f"epoch {run.epoch + 1}: every step had a non-finite loss or gradient (training diverged; "
            "lower the learning rate or clip gradients)"
        )
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise SeqgenError(
            f"epoch {run.epoch + 1}: weights became non-finite (training diverged; lower the learning rate)"
        )
    return {"loss": loss_sum / max(count, 1), "count": count, "skipped": skipped}


def _save_epoch(out_dir: Path, ckpt: dict[str, Any], improved: bool, metrics: list[dict[str, Any]]) -> None:
    """Write best.pt (if improved), last.pt and the whole metrics.jsonl, each atomically."""
    if improved:
        save_checkpoint(out_dir / "best.pt", ckpt)
    save_checkpoint(out_dir / "last.pt", ckpt)
    lines = (json.dumps(_json_safe(record)) for record in metrics)
    write_text_atomic(out_dir / "metrics.jsonl", "".join(line + "\n" for line in lines))


def _restore(
    out_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, optim_name: str
) -> tuple[_Progress, list]:
    """Load last.pt into model and optimiser; restore counters, RNG and the metrics of completed epochs."""
    path = out_dir / "last.pt"
    ckpt = load_checkpoint(path, map_location=next(model.parameters()).device)
    if ckpt["model_config"] != asdict(model.config):
        raise SeqgenError(f"{path}: was trained with a different model configuration than the one given")
    if ckpt.get("optim_config", {}).get("name") != optim_name:
        raise SeqgenError(
            f"{path}: was trained with another optimiser than {optim_name} (its state cannot be reused)"
        )
    model.load_state_dict(ckpt["state_dict"])
    optimizer.load_state_dict(ckpt["optimizer_state"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    if torch.cuda.is_available() and ckpt["rng"].get("cuda"):
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    run = _Progress(ckpt["epoch"], ckpt["step"], ckpt["best_valid"], ckpt["best_epoch"], ckpt["bad_epochs"])
    metrics_path = out_dir / "metrics.jsonl"
    metrics = []
    if metrics_path.is_file():
        records = (json.loads(line) for line in metrics_path.read_text().splitlines() if line.strip())
        metrics = [r for r in records if r["epoch"] <= run.epoch]
    log.info(
        "resuming from %s: epoch %d, step %d, best valid %.4g", path, run.epoch, run.step, run.best_valid
    )
    return run, metrics


def _rng_state() -> dict[str, Any]:
    """Global torch RNG states (dropout, sampling in losses) for an exact resume."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _to_device(batch: Any, device: torch.device) -> Any:
    """Move the tensors of a (nested tuple/list/dict) batch to `device`."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    return batch


def _length(batches: Iterable) -> int | None:
    """len(batches) where the task gives a sized iterable, else None (an open-ended bar)."""
    return len(batches) if hasattr(batches, "__len__") else None


def _json_safe(value: Any) -> Any:
    """Non-finite floats become None so that every metrics line is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def _log_epoch(record: dict[str, Any], epochs: int, unit: str) -> None:
    """One log line per epoch with the figures of its metrics record."""
    log.info(
        "epoch %d/%d: train %.4f, valid %.4g%s, ‖g‖ mean %.3g max %.3g, clipped %.0f%%, %s %s/s, %.1f s",
        record["epoch"],
        epochs,
        record["train_loss"],
        record["valid"].get("score", math.nan),
        " (best)" if record["best"] else "",
        record["grad_norm_mean"],
        record["grad_norm_max"],
        100 * record["clip_rate"],
        f"{record[f'{unit}_per_second']:,.0f}",
        unit,
        record["seconds"],
    )
