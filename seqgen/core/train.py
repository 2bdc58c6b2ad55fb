"""Task-agnostic training loop shared by music and text: epochs of shuffled batches with truncated BPTT,
gradient clipping, L1 activation penalty, NaN/Inf guard, validation, early stopping, checkpoints, resume.

Files in `out_dir`: `last.pt` (after every epoch and on SIGINT/SIGTERM), `best.pt` (best validation score),
`metrics.jsonl` (one JSON object per completed epoch); seqgen.core.run_files writes and restores them.
"""

from __future__ import annotations

import contextlib
import math
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from seqgen.checkpoint import build_checkpoint, save_checkpoint
from seqgen.core.distributed import Group, process_group
from seqgen.core.optim import (
    GradClipper,
    OptimConfig,
    l1_activation_penalty,
    learning_rate_at,
    make_optimizer,
    set_learning_rate,
)
from seqgen.core.run_files import (
    EpochProgress,
    RunProgress,
    pack_state,
    progress_entry,
    progress_of,
    remove_stale_temps,
    restore,
    rng_state,
    save_epoch,
    set_rng_state,
    unpack_state,
)
from seqgen.core.run_lock import run_lock
from seqgen.core.signals import Stopped, stop_requests
from seqgen.errors import SeqgenError
from seqgen.fileio import json_safe
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


class FitTask(Protocol):
    """What `fit` needs from a product (music, text). Optional attributes: `unit` ("frames", "tokens") names
    what `StepLoss.count` counts; `labels` = (train loss name, validation figure name, its key in the
    `evaluate` dict) for the per-epoch log line."""

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
    interrupted: int  # 0, or the signal that stopped the run (SIGINT 2, SIGTERM 15)
    metrics: list[dict[str, Any]] = field(default_factory=list)


def fit(
    task: FitTask,
    model: nn.Module,
    optim_config: OptimConfig,
    train_config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    override: bool = False,
    on_epoch: Callable[[dict[str, Any], nn.Module], None] | None = None,
    on_step: Callable[[int, float], None] | None = None,
) -> FitResult:
    """Train `model` (with a dataclass `model.config`) on `task`; with `resume`, continue from out_dir/last.pt.

    `train_config.epochs` counts all epochs, the resumed ones included. Resuming with training settings
    other than the checkpoint's is refused unless `override`. SIGINT (Ctrl-C) or SIGTERM stops the run at the
    next step (in one process also during validation) and saves last.pt with the epoch's progress; resuming
    continues that epoch where it stopped, as if never stopped; `FitResult.interrupted` is the signal's number.
    Weights are never saved unless finite. The run folder is locked for the duration (seqgen.core.run_lock).

    Under torchrun (WORLD_SIZE > 1) the run is data-parallel with the same global batch; see
    seqgen.core.distributed. Callbacks, so that scripts need no task subclass: `on_epoch(record, model)` after
    each epoch is saved (record as in metrics.jsonl), `on_step(step, loss)` after each optimiser step.
    """
    with process_group(choose_device(train_config.device)) as group, stop_requests() as stop:
        group.stop = stop
        with run_lock(out_dir) if group.is_main else contextlib.nullcontext():
            hooks = Hooks(on_epoch, on_step)
            return _fit(task, model, optim_config, train_config, Path(out_dir), resume, override, group, hooks)


@dataclass(frozen=True)
class Hooks:
    """fit's callbacks (either may be None)."""

    on_epoch: Callable[[dict[str, Any], nn.Module], None] | None
    on_step: Callable[[int, float], None] | None


def _fit(task, model, optim_config, train_config, out_dir, resume, override, group: Group, hooks: Hooks) -> FitResult:
    """`fit` inside its process group (a group of one when not under torchrun)."""
    device = group.device
    if train_config.batch_size < group.world_size:
        raise SeqgenError(f"--batch-size {train_config.batch_size} is smaller than the {group.world_size} processes")
    seed_everything(train_config.seed)
    model.to(device)
    optimizer = make_optimizer(model.parameters(), optim_config)
    if group.is_main:
        remove_stale_temps(out_dir)
    run, metrics, epoch = RunProgress(), [], None
    if resume:
        task_name = task.checkpoint_info()["task"]
        run, metrics, ckpt = restore(
            out_dir, task_name, model, optimizer, optim_config, train_config, override, write=group.is_main
        )
        epoch = progress_of(ckpt, out_dir / "last.pt", group.rank, group.world_size)
    group.check_same("data and model", (task.checkpoint_info(), asdict(model.config)))
    group.broadcast_module(model)
    group.seed_rank(train_config.seed, run.step)
    clipper = GradClipper(train_config.clip)
    generator = torch.Generator()
    unit = getattr(task, "unit", "items")
    stopped_early = 0 < train_config.patience <= run.bad_epochs
    interrupted = 0

    def checkpoint(in_progress: dict[str, Any] | None = None) -> dict[str, Any]:
        return build_checkpoint(
            task.checkpoint_info(), asdict(model.config), model.state_dict(), optimizer_state=optimizer.state_dict(),
            step=run.step, epoch=run.epoch, best_valid=run.best_valid, best_epoch=run.best_epoch,
            bad_epochs=run.bad_epochs, seed=train_config.seed, train_config=asdict(train_config),
            optim_config=asdict(optim_config), rng=rng_state(), metrics=[json_safe(r) for r in metrics],
            epoch_progress=in_progress,
        )  # fmt: skip

    with progress() as bar:
        epoch_bar = bar.add_task("epochs", total=train_config.epochs, completed=run.epoch, status="")
        try:
            while run.epoch < train_config.epochs and not stopped_early:
                lr = learning_rate_at(run.epoch, optim_config)
                set_learning_rate(optimizer, lr)
                generator.manual_seed(train_config.seed * 100_003 + run.epoch)
                epoch = epoch or EpochProgress()
                clipper.reset()
                for name, value in epoch.clipper.items():
                    setattr(clipper, name, value)
                started = time.perf_counter() - epoch.seconds
                train = _train_epoch(
                    task, model, optimizer, clipper, train_config, run, generator, group, bar, epoch, hooks.on_step
                )
                model.eval()
                group.stop.immediate = not group.active  # one process: a signal stops validation at once
                try:
                    with torch.no_grad():
                        valid = task.evaluate(model, "valid") if group.is_main else None
                finally:
                    group.stop.immediate = False
                valid = group.broadcast(valid)  # rank 0's score, so that all ranks stop early together
                model.train()
                run.epoch += 1
                epoch = None
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
                    f"{unit}_per_second": train["count"] / max(train["seconds"], 1e-9),
                    "train_seconds": train["seconds"],
                    "seconds": time.perf_counter() - started,
                }
                metrics.append(record)
                if group.is_main:
                    save_epoch(out_dir, checkpoint(), improved, metrics)
                if hooks.on_epoch is not None:
                    hooks.on_epoch(record, model)
                _log_epoch(record, train_config.epochs, task)
                bar.update(epoch_bar, completed=run.epoch, status=_valid_figure(task, valid))
        except KeyboardInterrupt as stop:  # Stopped at a safe point, or a KeyboardInterrupt raised in a task
            stop = stop if isinstance(stop, Stopped) else Stopped(signal.SIGINT)
            interrupted = stop.signum
            in_progress = None if epoch is None else progress_entry(group.gather(_portable(epoch)))
            if group.is_main:
                save_checkpoint(out_dir / "last.pt", checkpoint(in_progress))
                where = f"in epoch {run.epoch + 1}" if in_progress else f"after epoch {run.epoch}"
                log.warning("interrupted by %s %s: saved %s (resume with --resume)", stop, where, out_dir / "last.pt")
    if stopped_early:
        log.info("early stop: no better validation score for %d epochs", train_config.patience)
    return FitResult(run.epoch, run.step, run.best_valid, run.best_epoch, stopped_early, interrupted, metrics)


def _train_epoch(
    task: FitTask,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    clipper: GradClipper,
    config: TrainConfig,
    run: RunProgress,
    generator: torch.Generator,
    group: Group,
    bar,
    epoch: EpochProgress,
    on_step: Callable[[int, float], None] | None = None,
) -> dict[str, float]:
    """One pass over the task's batches (this rank's rows of each), from batch `epoch.batches` on (a resumed
    epoch), keeping `epoch` up to date at every safe point; returns mean train loss, counted items, skipped
    steps and training seconds, summed over ranks."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    batches = task.batches(run.epoch, generator)
    batch_bar = bar.add_task(f"epoch {run.epoch + 1}", total=_length(batches), completed=epoch.batches, status="")
    unit = getattr(task, "unit", "items")
    resume_at, resume_rng, n = epoch.batches, epoch.rng, 0
    epoch.state = unpack_state(epoch.state, group.device) if resume_rng is not None else epoch.state
    started = time.perf_counter() - epoch.seconds

    def safe_point(index: int) -> None:
        """Between two steps: record where the epoch is; in one process, stop here if a signal came."""
        if index == resume_at and resume_rng is not None:
            set_rng_state(resume_rng)
        epoch.batches, epoch.rng, epoch.seconds = index, rng_state(), time.perf_counter() - started
        if not group.active:  # under torchrun every rank stops at the same step (average_gradients)
            group.stop.check()

    for n, (batch, carry) in enumerate(batches, 1):
        if n <= resume_at:
            continue  # done before the run was stopped
        safe_point(n - 1)
        shard, state = group.shard(batch), epoch.state if carry else None
        if group.has_rows(shard):
            out = task.step_loss(model, _to_device(shard, group.device), state)
        else:  # this rank's block of a small last batch is empty: it adds nothing to the averaged gradient
            out = StepLoss(torch.zeros((), device=group.device), 0)
        loss = out.loss
        if config.l1 > 0 and out.activations is not None:
            loss = loss + l1_activation_penalty(out.activations, config.l1)
        optimizer.zero_grad(set_to_none=True)
        finite = bool(torch.isfinite(loss))
        if finite and loss.requires_grad:
            loss.backward()
        if group.active:
            finite = group.average_gradients(params, out.count, finite)
        norm = clipper(params)[0] if finite else math.nan
        if not math.isfinite(norm):
            epoch.skipped += 1
            epoch.state = None
            log.warning("step %d: non-finite loss or gradient norm, step skipped", run.step + 1)
            optimizer.zero_grad(set_to_none=True)
            bar.advance(batch_bar)
            continue
        optimizer.step()
        run.step += 1
        epoch.state = None if out.state is None else out.state.detach()
        step_loss = float(out.loss.detach())
        epoch.loss_sum += step_loss * out.count
        epoch.count += out.count
        epoch.clipper = {k: getattr(clipper, k) for k in ("steps", "clipped", "norm_sum", "norm_max")}
        rate = epoch.count / max(time.perf_counter() - started, 1e-9)
        status = f"loss {epoch.loss_sum / max(epoch.count, 1):.4f}  ‖g‖ {norm:.3g}  {rate:,.0f} {unit}/s"
        bar.update(batch_bar, advance=1, status=status)
        if on_step is not None:
            on_step(run.step, step_loss)
    safe_point(max(n, resume_at))
    bar.remove_task(batch_bar)
    loss_sum, count = group.sum(epoch.loss_sum, epoch.count)
    if epoch.batches == 0:
        raise SeqgenError(f"epoch {run.epoch + 1}: the task produced no training batches")
    if epoch.skipped == epoch.batches:
        raise SeqgenError(
            f"epoch {run.epoch + 1}: every step had a non-finite loss or gradient (training diverged; "
            "lower the learning rate or clip gradients)"
        )
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
        raise SeqgenError(
            f"epoch {run.epoch + 1}: weights became non-finite (training diverged; lower the learning rate)"
        )
    return {"loss": loss_sum / max(count, 1), "count": int(count), "skipped": epoch.skipped, "seconds": epoch.seconds}


def _portable(epoch: EpochProgress) -> EpochProgress:
    """`epoch` with its carried state packed (on the CPU), to gather across ranks and save."""
    return replace(epoch, state=pack_state(epoch.state))


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


def _labels(task: FitTask) -> tuple[str, str, str]:
    """(train loss name, validation figure name, its key) as the task states them."""
    return getattr(task, "labels", ("train loss", "valid score", "score"))


def _valid_figure(task: FitTask, valid: dict[str, Any]) -> str:
    """e.g. 'valid bits/char 1.5451', with the sign the task reports."""
    _, label, key = _labels(task)
    return f"{label} {valid.get(key, math.nan):.4f}"


def _log_epoch(record: dict[str, Any], epochs: int, task: FitTask) -> None:
    """One log line per epoch, each figure with its name and sign as the task states them."""
    unit = getattr(task, "unit", "items")
    r = record
    log.info(
        "epoch %d/%d: %s %.4f, %s%s, ‖g‖ mean %.3g max %.3g, clipped %.0f%%, %s %s/s, %.1f s",
        r["epoch"], epochs, _labels(task)[0], r["train_loss"], _valid_figure(task, r["valid"]),
        " (best)" if r["best"] else "", r["grad_norm_mean"], r["grad_norm_max"], 100 * r["clip_rate"],
        f"{r[f'{unit}_per_second']:,.0f}", unit, r["seconds"],
    )  # fmt: skip
