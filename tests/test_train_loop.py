"""The task-agnostic training loop on a toy task: it learns, resumes exactly, guards NaN, stops early."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from seqgen.checkpoint import load_checkpoint
from seqgen.core.optim import OptimConfig
from seqgen.core.recurrent import Recurrent, RecurrentConfig
from seqgen.core.train import StepLoss, TrainConfig, fit
from seqgen.errors import SeqgenError


class DelayModel(nn.Module):
    """Recurrent layer + linear read-out predicting x_{t−1} from x_≤t."""

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        self.rnn = Recurrent(config)
        self.readout = nn.Linear(config.hidden_size, 1)

    def forward(self, x, state):
        h, state = self.rnn(x, state)
        return self.readout(h).squeeze(-1), h, state


@dataclass
class DelayTask:
    """Random ±1 sequences [N, 40], shown as two chunks of 20 steps with the state carried."""

    unit = "frames"
    n: int = 32
    batch_size: int = 8
    nan_at_call: int | None = None
    interrupt_at_call: int | None = None
    constant_score: bool = False

    def __post_init__(self):
        g = torch.Generator().manual_seed(1)
        self.data = torch.randint(0, 2, (self.n, 40), generator=g).float() * 2 - 1
        self.calls = 0

    def batches(self, epoch, generator):
        order = torch.randperm(self.n, generator=generator)
        for i in range(0, self.n, self.batch_size):
            seq = self.data[order[i : i + self.batch_size]]
            yield seq[:, :20], False
            yield seq[:, 19:], True

    def step_loss(self, model, batch, state):
        self.calls += 1
        if self.calls == self.interrupt_at_call:
            raise KeyboardInterrupt
        x = batch[:, 1:].unsqueeze(-1)
        pred, h, state = model(x, state)
        loss = ((pred - batch[:, :-1]) ** 2).mean()
        if self.calls == self.nan_at_call:
            loss = loss * float("nan")
        return StepLoss(loss, pred.numel(), state, h)

    def evaluate(self, model, split="valid"):
        if self.constant_score:
            return {"score": 0.0}
        x = self.data[:, 1:].unsqueeze(-1)
        pred, _, _ = model(x, None)
        return {"score": -float(((pred - self.data[:, :-1]) ** 2).mean())}

    def checkpoint_info(self):
        return {"task": "delay", "kind": "rnn", "data": {"dataset": "toy"}}


def make_model(seed=0):
    torch.manual_seed(seed)
    return DelayModel(RecurrentConfig(1, 8, cell="tanh", dropout=0.1))


OPTIM = OptimConfig(name="nesterov", lr=0.05, momentum=0.9)


def config(**kw):
    return TrainConfig(**{"epochs": 6, "patience": 0, "clip": 1.0, "seed": 3, "device": "cpu", **kw})


def test_fit_learns_and_writes_files(tmp_path):
    result = fit(DelayTask(), make_model(), OPTIM, config(l1=1e-4), tmp_path)
    losses = [m["train_loss"] for m in result.metrics]
    assert losses[-1] < 0.5 * losses[0]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in lines] == list(range(1, 7))
    for key in ("train_loss", "valid", "grad_norm_mean", "grad_norm_max", "clip_rate", "frames_per_second"):
        assert key in lines[0]
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["epoch"] == result.best_epoch and best["best_valid"] == result.best_valid
    assert best["model_config"]["hidden_size"] == 8 and best["data"] == {"dataset": "toy"}
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 6


def test_resume_continues_exactly(tmp_path):
    straight = make_model()
    fit(DelayTask(), straight, OPTIM, config(), tmp_path / "a")
    fit(DelayTask(), make_model(), OPTIM, config(epochs=3), tmp_path / "b")
    resumed = make_model(seed=9)
    result = fit(DelayTask(), resumed, OPTIM, config(), tmp_path / "b", resume=True)
    assert [m["epoch"] for m in result.metrics] == list(range(1, 7))
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_nan_guard_skips_the_step(tmp_path):
    model = make_model()
    result = fit(DelayTask(nan_at_call=3), model, OPTIM, config(epochs=1), tmp_path)
    assert result.metrics[0]["skipped_steps"] == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 7


def test_ctrl_c_saves_last_and_resume_finishes(tmp_path):
    result = fit(DelayTask(interrupt_at_call=13), make_model(), OPTIM, config(), tmp_path)
    assert result.interrupted and result.epochs_completed == 1
    ckpt = load_checkpoint(tmp_path / "last.pt")
    assert (ckpt["epoch"], ckpt["step"]) == (1, 12)
    result = fit(DelayTask(), make_model(), OPTIM, config(epochs=2), tmp_path, resume=True)
    assert result.epochs_completed == 2 and not result.interrupted


def test_early_stopping(tmp_path):
    result = fit(DelayTask(constant_score=True), make_model(), OPTIM, config(patience=2), tmp_path)
    assert result.stopped_early and result.epochs_completed == 3 and result.best_epoch == 1
    again = fit(
        DelayTask(constant_score=True), make_model(), OPTIM, config(patience=2), tmp_path, resume=True
    )
    assert again.stopped_early and again.epochs_completed == 3


@dataclass
class VectorConfig:
    size: int = 4


class Vector(nn.Module):
    def __init__(self):
        super().__init__()
        self.config = VectorConfig()
        self.h = nn.Parameter(torch.tensor([1.0, -2.0, 0.5, 3.0]))


class PenaltyOnlyTask(DelayTask):
    """A zero loss whose only gradient is the L1 penalty on the 'activations' h."""

    def step_loss(self, model, batch, state):
        return StepLoss(model.h.sum() * 0, 1, None, model.h.unsqueeze(0))

    def evaluate(self, model, split="valid"):
        return {"score": 0.0}


def test_l1_penalty_shrinks_activations(tmp_path):
    plain, penalised = Vector(), Vector()
    sgd = OptimConfig(name="sgd", lr=0.01, momentum=0.0)
    fit(PenaltyOnlyTask(), plain, sgd, config(epochs=1, l1=0.0, clip=0.0), tmp_path / "a")
    fit(PenaltyOnlyTask(), penalised, sgd, config(epochs=1, l1=1.0, clip=0.0), tmp_path / "b")
    assert torch.equal(plain.h, Vector().h)
    # 8 SGD steps of λ·sign(h) with ε = 0.01 move every entry 0.08 towards zero
    torch.testing.assert_close(penalised.h.detach(), torch.tensor([0.92, -1.92, 0.42, 2.92]))


def test_resume_refuses_other_settings_or_no_checkpoint(tmp_path):
    fit(DelayTask(), make_model(), OPTIM, config(epochs=1), tmp_path)
    other = DelayModel(RecurrentConfig(1, 9))
    with pytest.raises(SeqgenError, match="another model configuration .*hidden_size"):
        fit(DelayTask(), other, OPTIM, config(epochs=2), tmp_path, resume=True)
    with pytest.raises(SeqgenError, match=r"optim.name .* pass override \(--override\) to accept"):
        fit(DelayTask(), make_model(), OptimConfig(name="adam"), config(epochs=2), tmp_path, resume=True)
    with pytest.raises(SeqgenError, match="its state cannot seed adam"):
        fit(DelayTask(), make_model(), OptimConfig(name="adam"), config(epochs=2), tmp_path, resume=True,
            override=True)
    with pytest.raises(SeqgenError, match=r"clip 1\.0 → 0\.5"):
        fit(DelayTask(), make_model(), OPTIM, config(epochs=2, clip=0.5), tmp_path, resume=True)
    result = fit(DelayTask(), make_model(), OPTIM, config(epochs=2, clip=0.5), tmp_path, resume=True, override=True)
    assert result.epochs_completed == 2
    with pytest.raises(SeqgenError, match="no such checkpoint"):
        fit(DelayTask(), make_model(), OPTIM, config(epochs=2), tmp_path / "empty", resume=True)


def test_callbacks_see_every_step_and_epoch_and_change_nothing(tmp_path):
    """fit's on_step gets steps 1..n with their losses, on_epoch each record as metrics.jsonl has it and the model;
    a run with callbacks trains exactly as one without."""
    steps, epochs = [], []
    plain = fit(DelayTask(), make_model(), OPTIM, config(), tmp_path / "plain")
    hooked = fit(
        DelayTask(), make_model(), OPTIM, config(), tmp_path / "hooked",
        on_step=lambda step, loss: steps.append((step, loss)),
        on_epoch=lambda record, model: epochs.append((record, isinstance(model, DelayModel))),
    )  # fmt: skip
    assert [s for s, _ in steps] == list(range(1, hooked.steps + 1)) and all(math.isfinite(x) for _, x in steps)
    lines = [json.loads(line) for line in (tmp_path / "hooked" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r, _ in epochs] == [r["epoch"] for r in lines] and all(ok for _, ok in epochs)
    assert [r["train_loss"] for r, _ in epochs] == [r["train_loss"] for r in lines]
    assert [r["train_loss"] for r in hooked.metrics] == [r["train_loss"] for r in plain.metrics]
