"""`seqgen train-music` and `seqgen score` (music checkpoints; text checkpoints are scored by seqgen.text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from seqgen.errors import SeqgenError
from seqgen.runtime import console, progress

_DATA_HELP = "jsb | nottingham | musedata | piano-midi | PATH (MIDI folder/file, .pickle, .mat)"


def register(app: typer.Typer) -> None:
    """Attach the `train-music` and `score` commands."""

    @app.command("train-music")
    def train_music_command(
        out: Annotated[Path, typer.Option(help="Folder for best.pt, last.pt and metrics.jsonl.")] = Path("runs/music"),
        data: Annotated[str | None, typer.Option(help=f"{_DATA_HELP} [default: embedded Bach chorales].")] = None,
        model: Annotated[str | None, typer.Option(help="rnn-nade | rnn-rbm | rnn [default: the preset's].")] = None,
        preset: Annotated[
            str | None, typer.Option(help="paper-nade | paper-rbm | paper-rnn | gru-nade (sizes; see model.py).")
        ] = None,
        rnn_hidden: Annotated[int | None, typer.Option(help="RNN units (u_t).")] = None,
        cond_hidden: Annotated[int | None, typer.Option(help="NADE/RBM hidden units H.")] = None,
        cell: Annotated[str | None, typer.Option(help="tanh | relu | sigmoid | lstm | gru.")] = None,
        leaky: Annotated[bool | None, typer.Option("--leaky/--no-leaky", help="Leaky integration.")] = None,
        learn_alpha: Annotated[
            bool | None, typer.Option("--learn-alpha/--fixed-alpha", help="Learn the leak α per unit.")
        ] = None,
        tau_max: Annotated[float | None, typer.Option(help="Largest initial leaky time constant.")] = None,
        init: Annotated[str | None, typer.Option(help="W_uu init: auto | identity (IRNN) | orthogonal | gaussian.")] = None,
        init_scale: Annotated[float | None, typer.Option(help="Scale of W_uu init (0.01 = scaled identity).")] = None,
        dropout: Annotated[float | None, typer.Option(help="Dropout on u_t.")] = None,
        cd_k: Annotated[int | None, typer.Option(help="Gibbs steps of CD-k (RBM).")] = None,
        optimizer: Annotated[str, typer.Option(help="nesterov | sgd | adam.")] = "adam",
        lr: Annotated[float, typer.Option(help="Learning rate ε.")] = 1e-3,
        momentum: Annotated[float, typer.Option(help="Momentum μ (μ_max for the sutskever schedule).")] = 0.9,
        momentum_schedule: Annotated[str, typer.Option(help="constant | sutskever.")] = "constant",
        lr_schedule: Annotated[str, typer.Option(help="constant | exponential | step (per epoch).")] = "constant",
        lr_decay: Annotated[float, typer.Option(help="γ of the learning-rate schedule.")] = 1.0,
        lr_step: Annotated[int, typer.Option(help="Epochs per step of the 'step' schedule.")] = 10,
        clip: Annotated[float, typer.Option(help="Gradient-norm clipping threshold (0: off).")] = 5.0,
        l1: Annotated[float, typer.Option(help="L1 penalty weight on ReLU activations (0: off).")] = 0.0,
        epochs: Annotated[int, typer.Option(min=1)] = 100,
        batch_size: Annotated[int, typer.Option(min=1, help="Sequences per mini-batch.")] = 16,
        chunk_len: Annotated[int, typer.Option(min=1, help="Frames per chunk (state carried between).")] = 200,
        transpose: Annotated[
            int, typer.Option(min=0, help="Augment: transpose training pieces by up to ±K semitones at random.")
        ] = 0,
        patience: Annotated[int, typer.Option(help="Epochs without a better valid score before stopping.")] = 20,
        valid_ais_runs: Annotated[int, typer.Option(help="AIS runs for the RBM's validation estimate.")] = 4,
        valid_ais_steps: Annotated[int, typer.Option(help="AIS steps for the RBM's validation estimate.")] = 100,
        seed: Annotated[int, typer.Option()] = 0,
        device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
        resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
    ) -> None:
        """Train an RNN-NADE, RNN-RBM or RNN on piano-rolls; validation log-likelihood every epoch."""
        from seqgen.core.optim import OptimConfig
        from seqgen.core.train import TrainConfig
        from seqgen.music.datasets import load_dataset
        from seqgen.music.model import make_config
        from seqgen.music.train_music import train_music

        try:
            model_config = make_config(
                preset, kind=model, rnn_hidden=rnn_hidden, cond_hidden=cond_hidden, cell=cell, leaky=leaky,
                learn_alpha=learn_alpha, tau_max=tau_max, init=init, init_scale=init_scale, dropout=dropout,
                cd_k=cd_k,
            )
            model_config.recurrent_config()
            optim_config = OptimConfig(
                name=optimizer, lr=lr, momentum=momentum, momentum_schedule=momentum_schedule,
                lr_schedule=lr_schedule, lr_decay=lr_decay, lr_step=lr_step,
            )
        except ValueError as exc:
            raise SeqgenError(str(exc)) from None
        train_config = TrainConfig(
            epochs=epochs, batch_size=batch_size, chunk_len=chunk_len, patience=patience, clip=clip, l1=l1,
            seed=seed, device=device,
        )
        dataset = load_dataset(data)
        model_config.n_visible = dataset.n_pitches
        result = train_music(
            dataset, model_config, optim_config, train_config, out,
            resume=resume, valid_ais_runs=valid_ais_runs, valid_ais_steps=valid_ais_steps, transpose=transpose,
        )
        console.print(
            f"{model_config.kind} on {dataset.name}: {result.epochs_completed} epochs, best valid log-likelihood "
            f"{result.best_valid:.4f} nats/frame (epoch {result.best_epoch}); checkpoints in {out}",
            highlight=False,
        )

    @app.command("score")
    def score_command(
        midi: Annotated[Path | None, typer.Argument(help="A MIDI file (music) or text file (language model).")] = None,
        model: Annotated[Path, typer.Option(help="Checkpoint (.pt).")] = ...,
        data: Annotated[str | None, typer.Option(help=f"Score a dataset split: {_DATA_HELP}.")] = None,
        split: Annotated[str, typer.Option(help="train | valid | test (with --data).")] = "test",
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
        per_frame: Annotated[Path | None, typer.Option(help="Write each frame's log-likelihood to this CSV.")] = None,
        ais_runs: Annotated[int, typer.Option(min=2, help="AIS runs per frame (RBM).")] = 100,
        ais_steps: Annotated[int, typer.Option(min=1, help="AIS intermediate distributions (RBM).")] = 1000,
        batch_size: Annotated[int, typer.Option(min=1, help="Sequences scored together.")] = 32,
        seed: Annotated[int, typer.Option(help="Seed of AIS and of the frame-accuracy samples.")] = 0,
        device: Annotated[str, typer.Option(help="auto | cpu | cuda.")] = "auto",
    ) -> None:
        """Log-likelihood per frame (exact, or AIS ± stderr for RBMs) and frame accuracy of a model."""
        from seqgen.checkpoint import load_checkpoint
        from seqgen.music.score import score_checkpoint, write_per_frame_csv
        from seqgen.runtime import choose_device

        dev = choose_device(device)
        ckpt = load_checkpoint(model, map_location=dev)
        if ckpt["task"] == "text":
            if midi is None or data is not None or per_frame is not None:
                raise SeqgenError(f"{model}: a text model scores one text file: seqgen score FILE.txt --model {model}")
            from seqgen.text.score import score_text_file

            result = score_text_file(ckpt, midi, dev)
        else:
            with progress(transient=True) as bar:
                task = bar.add_task("score", total=None, status="")
                result = score_checkpoint(
                    ckpt, midi=midi, data=data, split=split, ais_runs=ais_runs, ais_steps=ais_steps,
                    batch_size=batch_size, seed=seed, device=dev, keep_frames=per_frame is not None,
                    on_batch=lambda n: bar.update(task, advance=n, status="frames"),
                )
            if per_frame is not None:
                write_per_frame_csv(per_frame, result.pop("per_frame"))
        if as_json:
            typer.echo(json.dumps(result))
            return
        for key, value in result.items():
            console.print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}", highlight=False)

