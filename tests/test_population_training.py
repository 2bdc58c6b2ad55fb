"""A member trained in a population equals the same model trained alone by `fit` (float64, 1e-8): same curves and
same final weights, for every cell and every conditional, with per-member ε, μ_max, clip and L1; a divergent
member is frozen and reported without touching the others; the optimiser follows the core's alone."""

from __future__ import annotations

import math

import pytest
import torch

from seqgen.core.optim import MemberOptimizer, OptimConfig, SimplifiedNesterov, make_optimizer
from seqgen.core.population import member_model
from seqgen.core.population_fit import MemberSpec, Population, train_population
from seqgen.core.train import TrainConfig, fit
from seqgen.music.model import MusicModel, make_config
from seqgen.music.train_music import MusicTask

P = 10


class TinyMusic:
    """8 random pieces of 12 frames in float64, batches of 4 cut into carried chunks of 6; exact validation."""

    unit = "frames"

    def __init__(self):
        gen = torch.Generator().manual_seed(7)
        self.rolls = (torch.rand(8, 12, P, generator=gen) < 0.3).double()
        self.valid = (torch.rand(3, 12, P, generator=gen) < 0.3).double()

    def batches(self, epoch, generator):
        order = torch.randperm(8, generator=generator)
        mask = torch.ones(4, 6, dtype=torch.bool)
        return [((self.rolls[order[b : b + 4], c : c + 6], mask), c > 0) for b in (0, 4) for c in (0, 6)]

    def step_loss(self, model, batch, state):
        return MusicTask.step_loss(self, model, batch, state)

    def evaluate(self, model, split="valid"):
        biases = model.teacher_forced(self.valid).biases
        cond = model.conditional
        if hasattr(cond, "free_energy"):  # the RBM: a deterministic stand-in score, −F(v) per frame
            return {"score": float(-cond.free_energy(self.valid, biases).mean().detach())}
        return {"score": float(cond.log_prob(self.valid, biases).mean().detach())}

    def checkpoint_info(self):
        return {"task": "music", "kind": "tiny", "data": {}}


OPTIM = OptimConfig("nesterov", lr=0.1, momentum=0.9, momentum_schedule="sutskever", momentum_period=3,
                    lr_schedule="exponential", lr_decay=0.8)  # fmt: skip
SPECS = [MemberSpec(seed=1, lr=0.05, momentum=0.9, clip=0.5, l1=0.01),
         MemberSpec(seed=2, lr=0.2, momentum=0.5, clip=0.0, l1=0.0),
         MemberSpec(seed=3, lr=0.1, momentum=0.95, clip=2.0, l1=0.1)]  # fmt: skip


def alone(config, spec: MemberSpec, tmp_path, epochs=3):
    """The member's model trained by `fit` with its own settings (and its own CD-k stream)."""
    torch.manual_seed(spec.seed)
    model = MusicModel(config).double()
    if hasattr(model.conditional, "streams"):
        model.conditional.streams = torch.Generator().manual_seed(spec.seed)
    optim = OptimConfig(**{**OPTIM.__dict__, "lr": spec.lr, "momentum": spec.momentum})
    train = TrainConfig(epochs=epochs, patience=0, clip=spec.clip, l1=spec.l1, seed=5, device="cpu")
    result = fit(TinyMusic(), model, optim, train, tmp_path / f"alone-{spec.seed}")
    return model, result.metrics


def together(config, specs, epochs=3, patience=0):
    pop = Population(lambda: MusicModel(config).double(), specs, OPTIM)
    train = TrainConfig(epochs=epochs, patience=patience, seed=5, device="cpu")
    final = {}

    def keep_final(p, epoch):
        if epoch == epochs:
            final.update({p.active[j]: member_model(p.model, j) for j in range(len(p.active))})

    members = train_population(TinyMusic(), pop, train, epochs, on_epoch=keep_final)
    return members, final


def assert_same(model_alone, metrics, member, model_member):
    for mine, theirs in zip(member.curve, metrics, strict=True):
        for key in ("train_loss", "grad_norm_mean", "clip_rate", "lr"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-8, abs=1e-12), key
        assert mine["valid"]["score"] == pytest.approx(theirs["valid"]["score"], rel=1e-8)
    for (k, a), b in zip(model_alone.state_dict().items(), model_member.state_dict().values()):
        torch.testing.assert_close(b, a, rtol=1e-8, atol=1e-10, msg=lambda m, k=k: f"{k}: {m}")


CASES = [("rnn", "tanh", False), ("rnn", "relu", False), ("rnn", "sigmoid", False), ("rnn", "tanh", True),
         ("rnn", "lstm", False), ("rnn", "gru", False), ("rnn-nade", "tanh", True), ("rnn-rbm", "tanh", True),
         ("rnn-nade", "gru", False)]  # fmt: skip


@pytest.mark.parametrize("kind,cell,leaky", CASES)
def test_member_in_a_population_equals_the_model_trained_alone(kind, cell, leaky, tmp_path):
    config = make_config(kind=kind, n_visible=P, cond_hidden=6, rnn_hidden=5, cell=cell, leaky=leaky, cd_k=2)
    members, final = together(config, SPECS)
    assert [m.status for m in members] == ["finished"] * 3
    for i, spec in enumerate(SPECS):
        model, metrics = alone(config, spec, tmp_path)
        assert_same(model, metrics, members[i], final[i])
    assert any(e["clip_rate"] > 0 for e in members[0].curve)  # the clip of member 0 really acted


def test_a_divergent_member_is_frozen_and_the_others_go_on(tmp_path):
    config = make_config(kind="rnn", n_visible=P, rnn_hidden=5, cell="relu", init="identity")
    wild = MemberSpec(seed=9, lr=1e300, momentum=0.9)
    members, final = together(config, [SPECS[1], wild, SPECS[2]])
    assert members[1].status == "diverged" and "non-finite" in members[1].reason
    assert 1 not in final and all(math.isfinite(float(p.detach().abs().sum())) for p in final[0].parameters())
    for i, spec in ((0, SPECS[1]), (2, SPECS[2])):
        model, metrics = alone(config, spec, tmp_path)
        assert_same(model, metrics, members[i], final[i])


def test_early_stopping_is_per_member_with_its_own_best_weights():
    config = make_config(kind="rnn", n_visible=P, rnn_hidden=5, cell="tanh")
    specs = [MemberSpec(seed=1, lr=0.0), MemberSpec(seed=2, lr=0.05)]
    members, _ = together(config, specs, epochs=4, patience=1)
    slow = members[0]
    assert slow.status == "stopped" and len(slow.curve) == 2  # ε = 0: no better score after epoch 1
    torch.manual_seed(1)
    start = MusicModel(config).double()  # its best weights: those of epoch 1, its initial ones
    for k, v in start.state_dict().items():
        torch.testing.assert_close(slow.best_state[k], v, rtol=0, atol=0)
    assert members[1].best_epoch > 1 and members[1].best_state is not None


@pytest.mark.parametrize("name,schedule", [("nesterov", "sutskever"), ("sgd", "constant"), ("adam", "constant")])
def test_member_optimizer_follows_the_core_optimiser_alone(name, schedule):
    lrs, mus = [0.01, 0.05, 0.002], [0.9, 0.5, 0.0]
    start = torch.randn(3, 4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    config = OptimConfig(name, momentum_schedule=schedule, momentum_period=2)
    stacked = start.clone().requires_grad_()
    opt = MemberOptimizer(
        {"w": stacked}, config, torch.tensor(lrs, dtype=torch.float64), torch.tensor(mus, dtype=torch.float64)
    )
    singles = [torch.nn.Parameter(start[i].clone()) for i in range(3)]
    single_opts = [make_optimizer([p], OptimConfig(name, lr, mu, schedule, 2)) for p, lr, mu in zip(singles, lrs, mus)]
    assert isinstance(single_opts[0], SimplifiedNesterov) == (name == "nesterov")
    loss = lambda w: ((w - 1) ** 2 * torch.arange(1.0, 3.0, dtype=w.dtype)).sum() + torch.cos(w).sum()
    for _ in range(6):
        stacked.grad = torch.autograd.grad(loss(stacked), stacked)[0]
        opt.step()
        for p, o in zip(singles, single_opts):
            o.zero_grad()
            loss(p).backward()
            o.step()
    for i, p in enumerate(singles):
        torch.testing.assert_close(stacked[i].detach(), p.detach(), rtol=1e-12, atol=1e-14)


class TinyText:
    """Random token rows in carried chunks (the text task's step loss); validation: −bits per token on fixed rows."""

    unit = "tokens"
    chars_per_token = 1.0

    def __init__(self):
        gen = torch.Generator().manual_seed(3)
        self.rows = torch.randint(9, (4, 17), generator=gen)
        self.valid = torch.randint(9, (2, 9), generator=gen)

    def batches(self, epoch, generator):
        rows = self.rows[torch.randperm(4, generator=generator)]
        return [((rows[:, i : i + 8], rows[:, i + 1 : i + 9]), i > 0) for i in (0, 8)]

    def step_loss(self, model, batch, state):
        from seqgen.text.train_text import TextTask

        return TextTask.step_loss(self, model, batch, state)

    def evaluate(self, model, split="valid"):
        logits = model(self.valid[:, :-1])[0]
        nats = torch.nn.functional.cross_entropy(logits.reshape(-1, 9), self.valid[:, 1:].reshape(-1))
        return {"score": -float(nats.detach())}

    def checkpoint_info(self):
        return {"task": "text", "kind": "tiny", "data": {}}


@pytest.mark.parametrize("cell,leaky", [("tanh", True), ("relu", False), ("gru", False)])
def test_text_lm_member_equals_the_model_trained_alone(cell, leaky, tmp_path):
    from seqgen.core.recurrent import RecurrentConfig
    from seqgen.text.model import TextLM, TextModelConfig

    config = TextModelConfig(9, 4, RecurrentConfig(4, 5, cell=cell, leaky=leaky))
    pop = Population(lambda: TextLM(config).double(), SPECS, OPTIM)
    final = {}
    keep = lambda p, e: final.update({p.active[j]: member_model(p.model, j) for j in range(len(p.active))})
    members = train_population(
        TinyText(), pop, TrainConfig(epochs=3, patience=0, seed=2, device="cpu"), 3, on_epoch=keep
    )
    for i, spec in enumerate(SPECS):
        torch.manual_seed(spec.seed)
        model = TextLM(config).double()
        optim = OptimConfig(**{**OPTIM.__dict__, "lr": spec.lr, "momentum": spec.momentum})
        train = TrainConfig(epochs=3, patience=0, clip=spec.clip, l1=spec.l1, seed=2, device="cpu")
        result = fit(TinyText(), model, optim, train, tmp_path / f"alone-{i}")
        assert_same(model, result.metrics, members[i], final[i])
