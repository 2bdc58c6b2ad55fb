"""Populations of the core's models: member i of a stacked population computes exactly what the single model
of seed i computes (outputs, losses and gradients, float64), for every cell, conditional and the text LM."""

from __future__ import annotations

import pytest
import torch

from seqgen.core.population import member_model, select_members, stack_models
from seqgen.core.recurrent import Recurrent, RecurrentConfig
from seqgen.core.recurrent_scan import scan
from seqgen.music.model import MusicModel, make_config
from seqgen.text.model import TextLM, TextModelConfig

CELLS = [("tanh", False), ("relu", False), ("sigmoid", False), ("linear", False), ("tanh", True), ("relu", True),
         ("lstm", False), ("gru", False)]  # fmt: skip
SEEDS = [3, 8, 21]


def singles(build, seeds=SEEDS):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(build().double())
    return out


def grads(model) -> dict[str, torch.Tensor]:
    return {k: p.grad for k, p in model.named_parameters()}


@pytest.mark.parametrize("cell,leaky", [c for c in CELLS if c[0] not in ("lstm", "gru")])  # gated: autograd
def test_scan_gradients_match_finite_differences(cell, leaky):
    """The hand-written backward of the time loop (one bmm for ∂L/∂W_uu) is the true gradient."""
    gen = torch.Generator().manual_seed(0)
    args = [
        torch.randn(*s, dtype=torch.float64, generator=gen).requires_grad_()
        for s in ((2, 3, 5, 4), (2, 5, 4), (2, 4, 4))
    ]
    alpha = torch.rand(2, 4, dtype=torch.float64, generator=gen).requires_grad_() if leaky else None
    assert torch.autograd.gradcheck(lambda d, h, w, a: scan(d, h, w, a, cell), (*args, alpha))


@pytest.mark.parametrize("cell,leaky", CELLS)
def test_recurrent_members_equal_single_layers(cell, leaky):
    layers = singles(lambda: Recurrent(RecurrentConfig(5, 6, cell=cell, leaky=leaky)))
    pop = stack_models(layers)
    x = torch.randn(4, 9, 5, dtype=torch.float64)
    h, last = pop(x)
    assert h.shape == (3, 4, 9, 6) and last.h.shape == (3, 4, 6)
    h.pow(2).sum().backward()
    for i, layer in enumerate(layers):
        hi, li = layer(x)
        hi.pow(2).sum().backward()
        torch.testing.assert_close(h[i], hi, rtol=0, atol=1e-12)
        torch.testing.assert_close(last.h[i], li.h, rtol=0, atol=1e-12)
        for k, g in grads(layer).items():
            torch.testing.assert_close(grads(pop)[k][i], g, rtol=0, atol=1e-10)
    steps, state = [], pop.initial_state(4)
    for t in range(9):
        h_t, state = pop.step(x[:, t], state)
        steps.append(h_t)
    torch.testing.assert_close(torch.stack(steps, 2), h.detach(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "rnn-nade", "rnn-rbm"])
@pytest.mark.parametrize("cell,leaky", [("tanh", True), ("relu", False), ("gru", False)])
def test_music_members_equal_single_models(kind, cell, leaky):
    config = make_config(kind=kind, n_visible=12, cond_hidden=7, rnn_hidden=6, cell=cell, leaky=leaky, cd_k=3)
    models = singles(lambda: MusicModel(config))
    pop = stack_models(models)
    rolls = (torch.rand(2, 8, 12, generator=torch.Generator().manual_seed(1)) < 0.3).double()
    out = pop.teacher_forced(rolls)
    streams = [torch.Generator().manual_seed(s) for s in SEEDS]
    loss = pop.conditional.loss(rolls, out.biases, streams)
    assert loss.shape == (3, 2, 8)
    loss.sum().backward()
    for i, model in enumerate(models):
        single = model.teacher_forced(rolls)
        for k, b in single.biases.items():
            torch.testing.assert_close(out.biases[k][i], b, rtol=0, atol=1e-12)
        li = model.conditional.loss(rolls, single.biases, torch.Generator().manual_seed(SEEDS[i]))
        torch.testing.assert_close(loss[i], li, rtol=0, atol=1e-10)
        li.sum().backward()
        for k, g in grads(model).items():
            torch.testing.assert_close(grads(pop)[k][i], g, rtol=0, atol=1e-9)


@pytest.mark.parametrize("kind", ["rnn", "rnn-nade", "rnn-rbm"])
def test_music_population_samples_like_its_members(kind):
    """One sampling step of the population draws for member i what member i draws alone from the same stream."""
    config = make_config(kind=kind, n_visible=10, cond_hidden=5, rnn_hidden=4, sample_steps=3)
    models = singles(lambda: MusicModel(config), seeds=[5])
    pop = stack_models(models)
    biases = pop.next_biases(pop.initial_state(6))
    drawn = pop.conditional.sample(biases, torch.Generator().manual_seed(2))
    alone = models[0].conditional.sample(
        models[0].next_biases(models[0].initial_state(6)), torch.Generator().manual_seed(2)
    )
    assert drawn.shape == (1, 6, 10)
    torch.testing.assert_close(drawn[0], alone)


def test_text_members_equal_single_models():
    config = TextModelConfig(11, 4, RecurrentConfig(4, 5, cell="tanh", leaky=True))
    models = singles(lambda: TextLM(config))
    pop = stack_models(models)
    ids = torch.randint(11, (2, 7), generator=torch.Generator().manual_seed(0))
    logits, _, _ = pop(ids)
    assert logits.shape == (3, 2, 7, 11)
    for i, model in enumerate(models):
        torch.testing.assert_close(logits[i], model(ids)[0], rtol=0, atol=1e-12)


def test_members_come_out_as_single_models_with_the_old_keys():
    config = make_config("paper-nade")
    models = singles(lambda: MusicModel(config), seeds=[0, 1])
    pop = stack_models(models)
    one = member_model(pop, 1)
    assert one.members is None and one.state_dict().keys() == models[1].state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(one.state_dict().values(), models[1].state_dict().values()))
    kept = select_members(pop, torch.tensor([1]))
    assert kept.members == 1 and torch.equal(kept.conditional.W[0], models[1].conditional.W)
