"""The batched sampler draws from the model's exact distribution, honours temperature and primers, and is seeded."""

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from seqgen.music.model import MusicModel, make_config
from seqgen.music.sample import sample_rolls

P = 3  # pitches of the tiny models: 2^(2P) = 64 two-frame songs, all enumerable
SONGS = 20000
KINDS = ["rnn", "rnn-nade", "rnn-rbm"]


def tiny_model(kind: str) -> MusicModel:
    """A tiny model with fixed, deliberately strong parameters (so the distribution is far from uniform)."""
    torch.manual_seed(7)
    model = MusicModel(make_config(kind=kind, n_visible=P, rnn_hidden=4, cond_hidden=3))
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(1.5 * torch.randn_like(param))
    return model.eval()


def frame_log_probs(model: MusicModel, v: torch.Tensor, biases: dict, temperature: float) -> torch.Tensor:
    """Exact log p_T(v) [...] of frames v [..., P]: every logit / energy divided by T, normalised by enumeration."""
    cond = model.conditional
    if model.config.kind == "rnn":
        return -F.binary_cross_entropy_with_logits(biases["b_v"] / temperature, v, reduction="none").sum(-1)
    if model.config.kind == "rnn-nade":
        logits = cond.logits(v, biases) / temperature
        return -F.binary_cross_entropy_with_logits(logits, v, reduction="none").sum(-1)

    def unnormalised(x: torch.Tensor, b_v: torch.Tensor, b_h: torch.Tensor) -> torch.Tensor:
        # log Σ_h exp(−E(x, h) / T) = x·b_v / T + Σ_j softplus((b_h + xW)_j / T)
        return (x * b_v).sum(-1) / temperature + F.softplus((b_h + x @ cond.W) / temperature).sum(-1)

    every = torch.tensor(list(itertools.product([0.0, 1.0], repeat=P)))  # [2^P, P]
    log_z = torch.logsumexp(unnormalised(every, biases["b_v"][..., None, :], biases["b_h"][..., None, :]), -1)
    return unnormalised(v, biases["b_v"], biases["b_h"]) - log_z


@torch.no_grad()
def exact_song_probs(model: MusicModel, temperature: float) -> np.ndarray:
    """p_T of each of the 2^(2P) two-frame songs [64], in the order of `song_index`."""
    songs = torch.tensor(list(itertools.product([0.0, 1.0], repeat=2 * P))).reshape(-1, 2, P)
    biases, _ = model.teacher_forced_biases(songs)
    log_p = frame_log_probs(model, songs, biases, temperature).sum(-1)
    return log_p.exp().numpy()


def song_index(rolls: np.ndarray) -> np.ndarray:
    """Index [n] of each two-frame song bool[n, 2, P] in the enumeration order of `exact_song_probs`."""
    bits = rolls.reshape(len(rolls), -1).astype(np.int64)
    return bits @ (1 << np.arange(bits.shape[1] - 1, -1, -1))


def fit_p_value(rolls: np.ndarray, probs: np.ndarray) -> float:
    """Chi-square goodness of fit of the sampled songs to `probs`; cells expecting < 5 songs are pooled."""
    counts = np.bincount(song_index(rolls), minlength=len(probs)).astype(float)
    expected = probs.astype(np.float64) / probs.sum(dtype=np.float64) * len(rolls)
    small = expected < 5
    observed = np.append(counts[~small], counts[small].sum())
    wanted = np.append(expected[~small], expected[small].sum())
    return float(chisquare(observed, wanted).pvalue)


def draw(model: MusicModel, temperature: float = 1.0, seed: int = 0) -> np.ndarray:
    return sample_rolls(
        model, n=SONGS, frames=2, temperature=temperature, primer=None,
        generator=torch.Generator().manual_seed(seed), device="cpu",
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_songs_follow_the_exact_tempered_distribution(kind: str, temperature: float) -> None:
    model = tiny_model(kind)
    rolls = draw(model, temperature)
    assert rolls.shape == (SONGS, 2, P) and rolls.dtype == bool
    assert fit_p_value(rolls, exact_song_probs(model, temperature)) > 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_a_sampler_that_ignores_temperature_fails_the_test(kind: str) -> None:
    model = tiny_model(kind)
    assert fit_p_value(draw(model, 1.0), exact_song_probs(model, 0.6)) < 1e-6


def test_the_rbm_samples_with_its_own_gibbs_steps() -> None:
    """The model's `sample_steps` is what runs: 0 rounds (v ~ σ(b_v), no Gibbs) fails the exact-distribution test."""
    model = tiny_model("rnn-rbm")
    assert model.conditional.sample_steps == 25
    model.conditional.configure(sample_steps=0)
    assert fit_p_value(draw(model), exact_song_probs(model, 1.0)) < 1e-6


def test_a_thresholding_sampler_fails_the_test(monkeypatch) -> None:
    """A greedy NADE (v_i = 1 iff p(v_i | v_<i) > 0.5, the bug the design warns of) is caught."""
    model = tiny_model("rnn-nade")

    def greedy(biases, generator=None, temperature=1.0):
        v = biases["b_v"].new_zeros(biases["b_v"].shape)
        for i in range(P):
            v[..., i] = (model.conditional.logits(v, biases)[..., i] > 0).float()
        return v

    monkeypatch.setattr(model.conditional, "sample", greedy)
    assert fit_p_value(draw(model), exact_song_probs(model, 1.0)) < 1e-6


def test_primer_is_reproduced_verbatim_and_conditions_the_rest() -> None:
    model = MusicModel(make_config(kind="rnn-nade", n_visible=8, rnn_hidden=6, cond_hidden=5)).eval()
    primer = np.random.default_rng(0).random((5, 8)) < 0.4

    def run(primer_roll: np.ndarray) -> np.ndarray:
        return sample_rolls(
            model, n=4, frames=12, primer=primer_roll, generator=torch.Generator().manual_seed(3), device="cpu"
        )

    rolls = run(primer)
    assert rolls.shape == (4, 12, 8)
    assert (rolls[:, :5] == primer).all()
    assert not np.array_equal(run(~primer)[:, 5:], rolls[:, 5:])  # the primer went through the RNN


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_songs_different_seed_different_songs(kind: str) -> None:
    model = MusicModel(make_config(kind=kind, n_visible=16, rnn_hidden=8, cond_hidden=8)).eval()

    def run(seed: int) -> np.ndarray:
        return sample_rolls(model, n=3, frames=20, generator=torch.Generator().manual_seed(seed), device="cpu")

    assert np.array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))


def test_songs_in_one_batch_differ() -> None:
    model = MusicModel(make_config(kind="rnn-nade", n_visible=16, rnn_hidden=8, cond_hidden=8)).eval()
    rolls = sample_rolls(model, n=2, frames=20, generator=torch.Generator().manual_seed(0), device="cpu")
    assert not np.array_equal(rolls[0], rolls[1])


def test_a_primer_that_fills_the_song_is_refused() -> None:
    model = MusicModel(make_config(kind="rnn", n_visible=8, rnn_hidden=4)).eval()
    with pytest.raises(ValueError, match="primer"):
        sample_rolls(model, n=1, frames=4, primer=np.zeros((4, 8), bool), generator=torch.Generator())


def test_one_conditional_draw_and_one_rnn_step_per_frame_whatever_the_number_of_songs(monkeypatch) -> None:
    """Songs are batched: the number of draws and RNN steps depends on the frames only, never on n."""
    model = MusicModel(make_config(kind="rnn-nade", n_visible=8, rnn_hidden=6, cond_hidden=5)).eval()
    calls = []
    draw_frame, step = model.conditional.sample, model.step

    def counted_draw(biases, *args):
        calls.append(("draw", len(biases["b_v"])))
        return draw_frame(biases, *args)

    def counted_step(v, state):
        calls.append(("step", len(v)))
        return step(v, state)

    monkeypatch.setattr(model.conditional, "sample", counted_draw)
    monkeypatch.setattr(model, "step", counted_step)
    for n in (1, 64):
        calls.clear()
        sample_rolls(model, n=n, frames=10, primer=np.ones((3, 8), bool), generator=torch.Generator())
        assert calls.count(("step", n)) == 10 and calls.count(("draw", n)) == 7 and len(calls) == 17
