"""`seqgen sample`: songs from a music model (MIDI, PNG, WAV and a statistics table) or text from a language model."""

from __future__ import annotations

import math
import secrets
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from seqgen.checkpoint import load_checkpoint
from seqgen.errors import SeqgenError
from seqgen.fileio import write_text_atomic
from seqgen.music.sample import numbered_paths, sample_music, shipped_model
from seqgen.runtime import choose_device, console, make_generator, progress

_STATISTICS = [
    ("mean_polyphony", "mean polyphony (notes per frame)", "{:.2f}"),
    ("empty_frame_rate", "empty-frame rate", "{:.1%}"),
    ("pitch_class_entropy", "pitch-class entropy (bits)", "{:.2f}"),
    ("scale_consistency", "scale consistency", "{:.1%}"),
    ("note_length_mean", "note length mean (frames)", "{:.2f}"),
]


def _note_name(midi: float) -> str:
    """C4-style name of a MIDI note number."""
    names = ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"]
    return f"{names[int(midi) % 12]}{int(midi) // 12 - 1}"


def statistics_table(samples: dict[str, float], train: dict[str, float] | None) -> Table:
    """Musical statistics of the samples beside the model's training data (from the checkpoint)."""
    table = Table(title="samples vs training data", title_justify="left")
    table.add_column("statistic")
    table.add_column("samples", justify="right")
    table.add_column("training data", justify="right")
    train = train or {}

    def show(stats: dict[str, float], key: str, fmt: str) -> str:
        value = stats.get(key, math.nan)
        return "–" if math.isnan(value) else fmt.format(value)  # absent or NaN (no notes)

    for key, label, fmt in _STATISTICS:
        table.add_row(label, show(samples, key, fmt), show(train, key, fmt))

    def span(stats: dict[str, float]) -> str:
        if math.isnan(stats.get("pitch_min", math.nan)):
            return "–"
        return f"{_note_name(stats['pitch_min'])}–{_note_name(stats['pitch_max'])}"

    table.add_row("pitch range", span(samples), span(train))
    table.add_row("frames", show(samples, "frames", "{:.0f}"), show(train, "frames", "{:.0f}"))
    return table


def _reject(options: dict[str, object], kind: str, model: Path) -> None:
    """One-line error if an option that does not apply to this kind of model was given."""
    given = [name for name, value in options.items() if value not in (None, False)]
    if given:
        raise SeqgenError(f"{model}: {', '.join(given)} do(es) not apply to a {kind} model")


def register(app: typer.Typer) -> None:
    """Attach the `sample` command."""

    @app.command("sample")
    def sample(
        out: Annotated[
            Path | None,
            typer.Option(help="Output file. Music: a MIDI file; with --n N > 1 the files are OUT-000.mid, "
                         "OUT-001.mid, … Text: optional, the texts are printed when it is absent."),
        ] = None,
        model: Annotated[
            Path | None,
            typer.Option(help="Checkpoint (.pt) from train-music or train-text (default: the shipped "
                         "RNN-NADE, models/bach-rnn-nade.pt in the repository or in $SEQGEN_MODELS_DIR)."),
        ] = None,
        n: Annotated[int, typer.Option("--n", min=1, help="Songs (or texts) generated together in one batch.")] = 1,
        frames: Annotated[
            int | None, typer.Option(min=1, help="Song length in frames, primer included (default: 128).")
        ] = None,
        seconds: Annotated[
            float | None, typer.Option(help="Song length in seconds instead of --frames.")
        ] = None,
        temperature: Annotated[
            float, typer.Option(help="Divides every logit / energy: < 1 sharper and safer, > 1 wilder.")
        ] = 1.0,
        gibbs_steps: Annotated[int, typer.Option(min=1, help="Block-Gibbs steps per frame (RNN-RBM), from v ~ σ(b_v / T).")] = 25,
        primer: Annotated[
            Path | None, typer.Option(help="MIDI file to continue: its frames are fed to the RNN and kept verbatim.")
        ] = None,
        primer_frames: Annotated[
            int | None, typer.Option(min=1, help="Use only the first N frames of --primer.")
        ] = None,
        tempo: Annotated[
            float | None, typer.Option(help="Tempo (BPM) of the MIDI files (default: the training data's).")
        ] = None,
        program: Annotated[int, typer.Option(min=0, max=127, help="General MIDI program (0 = piano).")] = 0,
        velocity: Annotated[int, typer.Option(min=1, max=127, help="Velocity of every note.")] = 80,
        seed: Annotated[
            int | None, typer.Option(help="Random seed: same seed and options give identical files (default: random, printed).")
        ] = None,
        device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
        png: Annotated[bool, typer.Option("--png", help="Also write a piano-roll picture (.png) of each song.")] = False,
        wav: Annotated[bool, typer.Option("--wav", help="Also render audio (.wav) of each song.")] = False,
        prompt: Annotated[str | None, typer.Option(help="Text models: the text to continue.")] = None,
        length: Annotated[int, typer.Option(min=1, help="Text models: tokens to generate.")] = 200,
        top_k: Annotated[
            int | None, typer.Option(min=1, help="Text models: sample among the K likeliest tokens only.")
        ] = None,
    ) -> None:
        """Sample songs from a music model (default: the shipped RNN-NADE) or continue a prompt with a text model."""
        if frames is not None and seconds is not None:
            raise SeqgenError("give --frames or --seconds, not both")
        if temperature <= 0:
            raise SeqgenError(f"--temperature {temperature}: must be > 0")
        if seconds is not None and seconds <= 0:
            raise SeqgenError(f"--seconds {seconds}: must be > 0")
        model = model or shipped_model()
        ckpt = load_checkpoint(model)
        torch_device = choose_device(device)
        seed = secrets.randbelow(2**31) if seed is None else seed
        if ckpt.get("task") == "text":
            _reject({"--primer": primer, "--frames": frames, "--seconds": seconds, "--png": png, "--wav": wav},
                    "text", model)
            from seqgen.text.sample import continue_prompt

            texts = continue_prompt(
                ckpt, prompt or "", length=length, temperature=temperature, top_k=top_k, n=n,
                generator=make_generator(seed, torch_device), device=torch_device,
            )
            if out is None:
                typer.echo("\n\n".join(texts))
            for text, path in zip(texts, numbered_paths(out, n) if out else []):
                write_text_atomic(path, text)
                console.print(f"wrote {path}", highlight=False, soft_wrap=True)
            return

        _reject({"--prompt": prompt, "--top-k": top_k}, "music", model)
        if out is None:
            raise SeqgenError("--out FILE.mid is required for music models")
        with progress(transient=True) as bar:
            task = bar.add_task("sample", total=None, status=f"{n} song(s)")
            result = sample_music(
                ckpt, out, n=n, frames=frames, seconds=seconds, temperature=temperature,
                gibbs_steps=gibbs_steps, primer=primer, primer_frames=primer_frames, tempo_bpm=tempo,
                program=program, velocity=velocity, seed=seed, device=torch_device, png=png, wav=wav,
                on_frame=lambda done, total: bar.update(task, completed=done, total=total), source=model,
            )
        frames_out = result.rolls.shape[1]
        console.print(
            f"{model}: {n} song(s) of {frames_out} frames ({result.primer_frames} from the primer), "
            f"seed {result.seed}, tempo {result.tempo_bpm:g} BPM",
            highlight=False,
            soft_wrap=True,
        )
        written = [*result.midi_paths, *result.png_paths, *result.wav_paths]
        shown = ", ".join(str(p) for p in written[:6]) + (f", … ({len(written)} files)" if len(written) > 6 else "")
        console.print(f"wrote {shown}", highlight=False, soft_wrap=True)
        if result.wav_renderer:
            console.print(f"audio rendered with {result.wav_renderer}", highlight=False, soft_wrap=True)
        console.print(statistics_table(result.sample_stats, result.train_stats))
