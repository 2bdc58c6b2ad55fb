"""What every product's config building shares: the optimiser and loop configs of a run, from resolved options
(a dict keyed like the training options, every default filled in by seqgen.options.training_options)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from seqgen.core.optim import OptimConfig
from seqgen.core.train import TrainConfig

RECURRENT_OPTIONS = ("cell", "leaky", "learn_alpha", "tau_max", "init", "init_scale", "dropout")


@dataclass
class RunConfigs:
    """Model, optimiser and training configs of one run (the model config is the product's own class)."""

    model: Any
    optim: OptimConfig
    train: TrainConfig


def recurrent_overrides(options: dict[str, Any]) -> dict[str, Any]:
    """The recurrent-core options that were set (None and "auto" leave the model's own default)."""
    return {k: options[k] for k in RECURRENT_OPTIONS if options.get(k) not in (None, "auto")}


def run_configs(model: Any, options: dict[str, Any]) -> RunConfigs:
    """The run's configs around `model` (whose `recurrent` config gets leaky units where "auto" asks for them:
    tanh, relu and sigmoid cells, not LSTM or GRU)."""
    optim = OptimConfig(
        name=options["optimizer"], lr=options["lr"], momentum=options["momentum"],
        momentum_schedule=options["momentum_schedule"], lr_schedule=options["lr_schedule"],
        lr_decay=options["lr_decay"], lr_step=options["lr_step"],
    )  # fmt: skip
    train = TrainConfig(
        epochs=options["epochs"], batch_size=options["batch_size"], chunk_len=options["chunk_len"],
        patience=options["patience"], clip=options["clip"], l1=options["l1"], seed=options["seed"],
        device=options["device"],
    )  # fmt: skip
    if options.get("leaky") == "auto":
        rnn = model.recurrent
        model = replace(model, recurrent=replace(rnn, leaky=rnn.cell not in ("lstm", "gru")))
    return RunConfigs(model, optim, train)
