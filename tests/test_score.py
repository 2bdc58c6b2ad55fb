"""score_rolls: exact sums, AIS bracket against exact log Z, frame accuracy, checkpoint round trip, overfitting."""

import itertools
from dataclasses import asdict

import numpy as np
import torch
import torch.nn.functional as F

from seqgen.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from seqgen.music.model import MusicModel, make_config
from seqgen.music.score import score_rolls
from seqgen.tasks import get_task


def tiny(kind="rnn-nade", p=12, cond_hidden=6, seed=0, **settings) -> MusicModel:
    torch.manual_seed(seed)
    config = make_config(kind=kind, n_visible=p, rnn_hidden=8, cond_hidden=cond_hidden, **settings)
    return MusicModel(config).eval()


def without_time(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "seconds"}


def rolls(p=12, lengths=(7, 3, 11), seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((t, p)) < 0.25 for t in lengths]


def test_exact_score_is_sum_over_frames_divided_by_frames():
    model, data = tiny(), rolls()
    result = score_rolls(
        model, data, batch_size=2, generator=torch.Generator().manual_seed(0), keep_frames=True
    )
    with torch.no_grad():
        per_seq = []
        for r in data:
            v = torch.from_numpy(r).float()[None]
            per_seq.append(model.conditional.log_prob(v, model.teacher_forced_biases(v)[0])[0])
    expected = torch.cat(per_seq)
    assert result["frames"] == 21 and result["sequences"] == 3 and result["estimator"] == "exact"
    assert result["stderr"] == 0 and result["lower"] == result["upper"] == result["log_likelihood_per_frame"]
    assert abs(result["log_likelihood_per_frame"] - float(expected.sum()) / 21) < 1e-5
    torch.testing.assert_close(result["per_frame"].log_likelihood, expected)
    assert result["per_frame"].sequence.tolist() == [0] * 7 + [1] * 3 + [2] * 11
    assert 0.0 <= result["frame_accuracy"] <= 1.0


def test_ais_score_brackets_the_exact_log_likelihood():
    model, data = tiny("rnn-rbm", cond_hidden=8, ais_runs=50, ais_steps=100), rolls()
    result = score_rolls(model, data, generator=torch.Generator().manual_seed(1))
    rbm, hs = model.conditional, torch.tensor(list(itertools.product([0.0, 1.0], repeat=8)))
    with torch.no_grad():
        total = 0.0
        for r in data:
            v = torch.from_numpy(r).float()[None]
            b = model.teacher_forced_biases(v)[0]
            log_z = torch.logsumexp(
                b["b_h"] @ hs.T + F.softplus(b["b_v"][..., None, :] + hs @ rbm.W.T).sum(-1), -1
            )
            total += float((-rbm.free_energy(v, b) - log_z).sum())
    exact = total / 21
    assert result["estimator"] == "ais" and result["ais_runs"] == 50 and result["stderr"] > 0
    assert result["upper"] == result["log_likelihood_per_frame"]
    assert abs(result["log_likelihood_per_frame"] - exact) < 3 * result["stderr"] + 1e-3
    assert result["lower"] - 0.01 < exact < result["upper"] + 0.01


def test_frame_accuracy_is_seeded():
    model, data = tiny(), rolls()
    a = score_rolls(model, data, generator=torch.Generator().manual_seed(5))["frame_accuracy"]
    b = score_rolls(model, data, generator=torch.Generator().manual_seed(5))["frame_accuracy"]
    assert a == b


def test_checkpoint_save_load_gives_identical_scores(tmp_path):
    model, data = tiny("rnn-rbm", cond_hidden=8, ais_runs=10, ais_steps=20), rolls()
    ckpt = {
        "format_version": FORMAT_VERSION,
        "task": "music",
        "kind": "rnn-rbm",
        "model_config": asdict(model.config),
        "state_dict": model.state_dict(),
        "data": {
            "roll_format": {
                "low_pitch": 21,
                "n_pitches": model.config.n_visible,
                "quantisation": {"steps_per_quarter": 2, "tempo_bpm": 120.0},
            }
        },
    }
    save_checkpoint(tmp_path / "m.pt", ckpt)
    again = get_task("music").load(load_checkpoint(tmp_path / "m.pt"), tmp_path / "m.pt", "cpu")
    assert again.conditional.describe() == model.conditional.describe()
    a = score_rolls(model, data, generator=torch.Generator().manual_seed(0))
    b = score_rolls(again, data, generator=torch.Generator().manual_seed(0))
    assert without_time(a) == without_time(b) and a["ais_runs"] == 10


def test_tiny_model_overfits_one_sequence():
    model = tiny("rnn-nade", p=10).train()
    rng = np.random.default_rng(0)
    song = torch.from_numpy(rng.random((1, 16, 10)) < 0.3).float()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    for _ in range(100):
        loss = model.conditional.loss(song, model.teacher_forced_biases(song)[0]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    result = score_rolls(model, [song[0].bool().numpy()], generator=torch.Generator().manual_seed(0))
    assert result["log_likelihood_per_frame"] > -0.1
    assert result["frame_accuracy"] > 0.9
