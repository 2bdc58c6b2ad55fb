"""A checkpoint written by the previous release (format 1, made by its code) loads, scores and samples as it did.

tests/fixtures/v1-rnn-nade.pt and its expected figures were produced by seqgen at commit 835891b.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from seqgen.checkpoint import FORMAT_VERSION, load_checkpoint
from seqgen.music.sample import sample_music
from seqgen.tasks import get_task

FIXTURES = Path(__file__).parent / "fixtures"
EXPECTED = json.loads((FIXTURES / "v1-rnn-nade.expected.json").read_text())


def test_v1_checkpoint_is_upgraded_to_the_current_schema():
    ckpt = load_checkpoint(FIXTURES / "v1-rnn-nade.pt")
    assert ckpt["format_version"] == FORMAT_VERSION
    recurrent = ckpt["model_config"]["recurrent"]
    assert recurrent["hidden_size"] == 8 and recurrent["leaky"] and recurrent["input_size"] == 88
    assert "rnn_hidden" not in ckpt["model_config"]


def test_v1_checkpoint_scores_identically(cli):
    result = cli("score", FIXTURES / "v1-song.mid", "--model", FIXTURES / "v1-rnn-nade.pt", "--json", "--seed", 0)
    assert result.code == 0, result.output
    scores = json.loads(result.stdout)
    expected = EXPECTED["score"]
    assert scores["log_likelihood_per_frame"] == pytest.approx(expected["log_likelihood_per_frame"], abs=1e-9)
    assert scores["frames"] == expected["frames"] and scores["frame_accuracy"] == expected["frame_accuracy"]


def test_v1_checkpoint_samples_identically(tmp_path):
    ckpt = load_checkpoint(FIXTURES / "v1-rnn-nade.pt")
    model = get_task("music").load(ckpt, FIXTURES / "v1-rnn-nade.pt", "cpu")
    result = sample_music(ckpt, model, tmp_path / "s.mid", n=2, frames=12, seed=3)
    np.testing.assert_array_equal(result.rolls.astype(int), np.array(EXPECTED["sample_rolls"]))
