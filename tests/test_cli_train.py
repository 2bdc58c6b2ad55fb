"""`seqgen train` chooses the product from the data and rejects what does not apply; --nproc runs the command
as ranks under seqgen's launcher."""

import sys

import pytest


def test_nproc_launches_the_same_command_as_ranks_without_nproc(cli, monkeypatch, tmp_path):
    import seqgen.core.launch

    calls = []
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setattr(seqgen.core.launch, "launch", lambda nproc, args: calls.append((nproc, args)) or 0)
    (tmp_path / "t.txt").write_text("the inputs are checked before the relaunch\n")
    args = ["train", "--text", tmp_path / "t.txt", "--nproc", "3", "--epochs", "2", "--out", tmp_path / "run"]
    monkeypatch.setattr(sys, "argv", ["seqgen", *map(str, args)])
    assert cli(*args).code == 0
    assert calls == [(3, ["train", "--text", str(tmp_path / "t.txt"), "--epochs", "2", "--out", str(tmp_path / "run")])]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "--text", "t.txt", "--cd-k", "3"], "--cd-k: not an option for text models"),
        (["train", "--data", "jsb", "--tokenizer", "word"], "--tokenizer: not an option for music models"),
        (["train-text", "--data", "jsb"], "--data jsb: not text data"),
        (["train", "--override"], "--override only applies with --resume"),
    ],
)
def test_options_of_another_product_are_refused_before_any_work(cli, tmp_path, args, message):
    line = cli(*args, "--out", tmp_path / "run").one_line_error()
    assert message in line
    assert not (tmp_path / "run").exists()
