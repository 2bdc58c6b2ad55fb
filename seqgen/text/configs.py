"""The text product's contract for training: its defaults (one per setting) and its configs from options."""

from __future__ import annotations

from typing import Any

from seqgen.errors import SeqgenError

DEFAULTS: dict[str, Any] = {
    "lr": 1.0, "lr_schedule": "constant", "lr_decay": 1.0,  # 1.50 bpc on PTB chars (results/ptb-char.json)
    "momentum": 0.9, "momentum_schedule": "constant",
    "clip": 1.0, "epochs": 20, "batch_size": 32,  # one PTB epoch is 5M characters
    "chunk_len": 100, "patience": 5, "hidden": 512, "embedding": 64,
}


def build_configs(options: dict[str, Any], n_inputs: int | None = None):
    """RunConfigs of a language model from resolved options; `n_inputs` is the vocabulary size (1 until the
    tokenizer is fitted)."""
    from seqgen.core.recurrent import RecurrentConfig
    from seqgen.core.run_configs import recurrent_overrides, run_configs
    from seqgen.text.model import TextModelConfig

    try:
        embedding = options["embedding"]
        rnn = RecurrentConfig(embedding, options["hidden"], **recurrent_overrides(options))
        return run_configs(TextModelConfig(n_inputs or 1, embedding, rnn), options)
    except ValueError as exc:
        raise SeqgenError(str(exc)) from None
