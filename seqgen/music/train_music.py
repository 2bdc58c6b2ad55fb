"""Training music models with the shared loop (seqgen.core.train.fit): the music Task and `train_music`.

Training loss per frame: exact NLL for RNN-NADE / RNN, the CD-k free-energy difference for RNN-RBM.
Validation each epoch ("score"): the lower end of the conditional's log-likelihood bracket per frame: exact for
NADE / Bernoulli; for the RBM reverse AIS from the data (RAISE, seqgen.music.ais), which errs low, so a model whose
weights outgrow the AIS settings cannot look better than it is. `pretrain_conditional` fits the conditional alone
on single frames before the RNN is trained (Boulanger-Lewandowski et al. 2012 pretrain the RBM with CD).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqgen.core.run_configs import RunConfigs
from seqgen.core.train import FitResult, StepLoss, TrainConfig, fit
from seqgen.errors import SeqgenError
from seqgen.music.batching import roll_batches
from seqgen.music.model import MusicModel
from seqgen.music.pianoroll import MidiReadOptions
from seqgen.music.score import score_rolls


class MusicTask:
    """The Task protocol for piano-roll datasets: (rolls [B, T, P], mask [B, T]) chunks with carried state."""

    unit = "frames"
    labels = ("train loss (nats/frame)", "valid log-likelihood (nats/frame)", "score")

    def __init__(
        self,
        dataset,
        kind: str,
        train_config: TrainConfig,
        *,
        valid_ais_runs: int | None = None,
        valid_ais_steps: int | None = None,
        valid_seed: int = 0,
        transpose: int = 0,
    ):
        from seqgen.music.stats import roll_statistics

        for split in ("train", "valid"):
            if not dataset.splits.get(split):
                raise SeqgenError(f"dataset {dataset.name}: the {split} split is empty")
        self.dataset, self.kind = dataset, kind
        self.config = train_config
        self.valid_ais_runs, self.valid_ais_steps, self.valid_seed = valid_ais_runs, valid_ais_steps, valid_seed
        self.transpose = transpose
        self.train_stats = roll_statistics(dataset.splits["train"], low_pitch=dataset.low_pitch)

    def batches(self, epoch: int, generator: torch.Generator) -> list[tuple[tuple[torch.Tensor, ...], bool]]:
        """Shuffled, length-grouped, padded (optionally transposed) chunks of the training split;
        carry=True continues a piece."""
        train, config = self.dataset.splits["train"], self.config
        return [
            ((b.rolls, b.mask), carry)
            for b, carry in roll_batches(train, config.batch_size, config.chunk_len, generator, self.transpose)
        ]

    def step_loss(self, model: MusicModel, batch: tuple[torch.Tensor, ...], state: Any) -> StepLoss:
        """Mean per-frame loss over the real frames of the chunk, teacher forced from `state`."""
        rolls, mask = batch
        out = model.teacher_forced(rolls, state)
        per_frame = model.conditional.loss(rolls, out.biases)  # [(N,) B, T]: a population has one loss per member
        count = int(mask.sum())
        loss = (per_frame * mask).sum((-2, -1)) / max(count, 1)
        activations = out.hidden[..., mask, :] if model.config.recurrent.cell == "relu" else None
        return StepLoss(loss, count, out.state, activations)

    def evaluate(self, model: MusicModel, split: str = "valid") -> dict[str, float]:
        """Lower end of the log-likelihood bracket per frame on `split` ("score"), with the estimate itself, its
        stderr and upper end; `valid_ais_*` (None: the model's settings) size the estimate where the conditional
        has such settings."""
        device = next(model.parameters()).device
        generator = torch.Generator(device=device).manual_seed(self.valid_seed)
        cond = model.conditional
        wanted = {"ais_runs": self.valid_ais_runs, "ais_steps": self.valid_ais_steps}
        previous = cond.configure(**{k: v for k, v in wanted.items() if k in cond.settings})
        try:
            scores = score_rolls(
                model, self.dataset.splits[split], batch_size=max(self.config.batch_size, 64), generator=generator,
                frame_accuracy=False,
            )  # fmt: skip
        finally:
            cond.configure(**previous)
        keys = ("log_likelihood_per_frame", "stderr", "lower", "upper", "estimator")
        return {"score": scores["lower"], **{k: scores[k] for k in keys}}

    def checkpoint_info(self) -> dict[str, Any]:
        """task, kind and the data settings that sampling and scoring need (pitch range, quantisation, stats)."""
        ds = self.dataset
        read = getattr(ds, "read", None) or MidiReadOptions()  # how its MIDI files were read (issue 19)
        return {
            "task": "music",
            "kind": self.kind,
            "data": {
                "dataset": ds.name,
                "roll_format": ds.roll_format.to_dict(),
                "midi_read": {k: getattr(read, k) for k in ("include_drums", "sustain", "ticks_per_step")},
                "train_stats": self.train_stats,
            },
        }


def train_music(
    dataset,
    configs: RunConfigs,
    out_dir: str | Path,
    *,
    resume: bool = False,
    override: bool = False,
    valid_ais_runs: int | None = None,
    valid_ais_steps: int | None = None,
    transpose: int = 0,
    pretrain_epochs: int = 0,
) -> FitResult:
    """Train a MusicModel (`configs` from seqgen.music.configs) on a PianoRollDataset; writes best.pt, last.pt and
    metrics.jsonl in `out_dir`.

    `transpose` > 0 augments the training split with random transpositions of up to that many semitones.
    `pretrain_epochs` > 0 first fits the conditional on single frames (`pretrain_conditional`; not on resume).
    """
    model_config, train_config = configs.model, configs.train
    if model_config.n_visible != dataset.n_pitches:
        raise SeqgenError(
            f"dataset {dataset.name} has {dataset.n_pitches} pitches but the model expects {model_config.n_visible}"
        )
    task = MusicTask(
        dataset, model_config.kind, train_config,
        valid_ais_runs=valid_ais_runs, valid_ais_steps=valid_ais_steps, transpose=transpose,
    )
    torch.manual_seed(train_config.seed)
    model = MusicModel(model_config)
    if pretrain_epochs > 0 and not resume:
        pretrain_conditional(model, dataset.splits["train"], pretrain_epochs, seed=train_config.seed)
    return fit(task, model, configs.optim, train_config, out_dir, resume=resume, override=override)


def search_music(dataset, configs: RunConfigs, out_dir: str | Path, search, *, resume: bool = False,
                 transpose: int = 0, pretrain_epochs: int = 0, valid_ais_runs: int | None = None,
                 valid_ais_steps: int | None = None):  # fmt: skip
    """A learning-rate search (seqgen.core.population_search.SearchConfig) of the model `configs` describe, as one
    population on the task `train_music` trains; each member is built (and pretrained) under its own seed."""
    from seqgen.core.population_fit import MemberSpec
    from seqgen.core.population_search import run_search

    model_config, train, optim = configs.model, configs.train, configs.optim
    task = MusicTask(dataset, model_config.kind, train, valid_ais_runs=valid_ais_runs,
                     valid_ais_steps=valid_ais_steps, transpose=transpose)  # fmt: skip

    restored = resume and (Path(out_dir) / "search.pt").is_file()  # its weights replace the pretrained ones
    pretrained: dict[int, dict] = {}  # by initialisation seed: members of one seed pretrain to the same weights

    def make_model() -> MusicModel:
        seed = torch.initial_seed()  # the member's seed, set by the population before each call
        model = MusicModel(model_config)
        if pretrain_epochs > 0 and not restored:
            if seed not in pretrained:
                pretrain_conditional(model, dataset.splits["train"], pretrain_epochs, seed=train.seed)
                pretrained[seed] = {k: v.clone() for k, v in model.state_dict().items()}
            model.load_state_dict(pretrained[seed])
        return model

    base = MemberSpec(seed=train.seed, lr=optim.lr, momentum=optim.momentum, clip=train.clip, l1=train.l1)
    return run_search(task, make_model, search, base, optim, train, out_dir, resume=resume)


# --- conditional pretraining (issue 8) ---
def pretrain_conditional(
    model: MusicModel,
    rolls: list,
    epochs: int,
    *,
    seed: int = 0,
    lr: float = 0.01,
    momentum: float = 0.9,
    batch_size: int = 100,
    weight_decay: float = 1e-4,
) -> list[float]:
    """Fit the conditional alone on shuffled single frames of `rolls` (bool[T_i, P]) with its own loss (CD-k for the
    RBM): its weights and the static biases [b_v; b_h] of `model.to_biases`, b_v starting at the notes' log-odds.

    SGD with momentum on the mean loss per frame, L2 `weight_decay` on the conditional's weights; returns the
    mean training loss per epoch.
    """
    cond, bias = model.conditional, model.to_biases.bias
    frames = torch.as_tensor(np.concatenate(rolls), dtype=bias.dtype, device=bias.device)
    n_visible = frames.shape[1]
    with torch.no_grad():
        bias.zero_()
        bias[:n_visible] = torch.logit(frames.mean(0).clamp(1e-3, 1 - 1e-3))
    weights = list(cond.parameters())
    opt = torch.optim.SGD([*weights, bias], lr=lr, momentum=momentum)
    cpu = torch.Generator().manual_seed(seed)
    gen = torch.Generator(device=bias.device).manual_seed(seed)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(len(frames), generator=cpu).to(bias.device)
        total = 0.0
        for s in range(0, len(frames), batch_size):
            v = frames[order[s : s + batch_size]]
            static = dict(zip(model.bias_names, bias.split(model.bias_split)))
            loss = cond.loss(v, static, gen).mean()
            opt.zero_grad()
            (loss + 0.5 * weight_decay * sum(w.pow(2).sum() for w in weights)).backward()
            opt.step()
            total += float(loss.detach()) * len(v)
        losses.append(total / len(frames))
    return losses


# --- end ---
