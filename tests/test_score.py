"""score_rolls: exact sums, AIS against exact log Z, frame accuracy, checkpoint round trip, overfitting."""

from dataclasses import asdict

import numpy as np
import torch

from seqgen.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint
from seqgen.music.model import MusicModel, make_config
from seqgen.tasks import get_task
from seqgen.music.score import score_rolls


def tiny(kind="rnn-nade", p=12, cond_hidden=6, seed=0) -> MusicModel:
    torch.manual_seed(seed)
    return MusicModel(make_config(kind=kind, n_visible=p, rnn_hidden=8, cond_hidden=cond_hidden)).eval()


def rolls(p=12, lengths=(7, 3, 11), seed=0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((t, p)) < 0.25 for t in lengths]


def test_exact_score_is_sum_over_frames_divided_by_frames():
    model, data = tiny(), rolls()
    result = score_rolls(model, data, batch_size=2, generator=torch.Generator().manual_seed(0), keep_frames=True)
    with torch.no_grad():
        per_seq = []
        for r in data:
            v = torch.from_numpy(r).float()[None]
            per_seq.append(model.conditional.log_prob(v, model.teacher_forced_biases(v)[0])[0])
    expected = torch.cat(per_seq)
    assert result["frames"] == 21 and result["sequences"] == 3 and result["estimator"] == "exact"
    assert abs(result["log_likelihood_per_frame"] - float(expected.sum()) / 21) < 1e-5
    torch.testing.assert_close(result["per_frame"].log_likelihood, expected)
    assert result["per_frame"].sequence.tolist() == [0] * 7 + [1] * 3 + [2] * 11
    assert 0.0 <= result["frame_accuracy"] <= 1.0


def test_ais_score_agrees_with_exact_log_partition():
    model, data = tiny("rnn-rbm", cond_hidden=8), rolls()
    result = score_rolls(model, data, ais_runs=50, ais_steps=100, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        total = 0.0
        for r in data:
            v = torch.from_numpy(r).float()[None]
            total += float(model.conditional.log_prob(v, model.teacher_forced_biases(v)[0]).sum())
    assert result["estimator"] == "ais" and result["stderr"] > 0
    assert abs(result["log_likelihood_per_frame"] - total / 21) < 3 * result["stderr"] + 1e-3


def test_frame_accuracy_is_seeded():
    model, data = tiny(), rolls()
    a = score_rolls(model, data, generator=torch.Generator().manual_seed(5))["frame_accuracy"]
    b = score_rolls(model, data, generator=torch.Generator().manual_seed(5))["frame_accuracy"]
    assert a == b


def test_checkpoint_save_load_gives_identical_scores(tmp_path):
    model, data = tiny("rnn-rbm", cond_hidden=8), rolls()
    ckpt = {"format_version": FORMAT_VERSION, "task": "music", "kind": "rnn-rbm", "model_config": asdict(model.config),
            "state_dict": model.state_dict(),
            "data": {"low_pitch": 21, "n_pitches": model.config.n_visible, "quantisation": {"steps_per_quarter": 2}}}
    save_checkpoint(tmp_path / "m.pt", ckpt)
    again = get_task("music").load(load_checkpoint(tmp_path / "m.pt"), tmp_path / "m.pt", "cpu")
    kw = {"ais_runs": 10, "ais_steps": 20}
    a = score_rolls(model, data, generator=torch.Generator().manual_seed(0), **kw)
    b = score_rolls(again, data, generator=torch.Generator().manual_seed(0), **kw)
    assert a == b


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
