"""Sampling piano-rolls from a music model, batched over songs, and writing them as MIDI, PNG and WAV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from seqgen.errors import SeqgenError
from seqgen.fileio import atomic_paths, numbered_paths
from seqgen.memory import MUSIC_FRAME_BYTES, check_sample_size
from seqgen.music.midi_out import kept_tempo_bpm, merged_midi_bytes, read_kept
from seqgen.music.pianoroll import MidiReadOptions, RollFormat, midi_bytes, midi_to_roll
from seqgen.music.render import midi_file_to_wav, write_roll_png
from seqgen.music.shipped import shipped_model  # noqa: F401 - where callers have always found it
from seqgen.music.stats import roll_statistics
from seqgen.runtime import log, make_generator


@torch.inference_mode()
def sample_rolls(
    model,
    *,
    n: int,
    frames: int,
    temperature: float = 1.0,
    primer: np.ndarray | None = None,
    generator: torch.Generator,
    device: torch.device | str = "cpu",
    on_frame: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Draw `n` songs bool[n, frames, P] from a MusicModel, all songs advancing together frame by frame.

    Each frame is a true draw from the model's conditional given the RNN state (NADE ancestral, Bernoulli,
    or RBM block Gibbs with its `sample_steps`) at `temperature`; the state then advances on the drawn frame.
    A `primer` bool[T0, P] (T0 < frames) is fed through the RNN and copied verbatim into frames [0, T0).
    `on_frame(done, frames)` is called after each frame (for progress bars).
    """
    n_visible = model.config.n_visible
    dtype = next(model.parameters()).dtype
    state = model.initial_state(n)
    out = torch.zeros(n, frames, n_visible, dtype=torch.bool, device=device)
    start = 0
    if primer is not None:
        start = primer.shape[0]
        if primer.ndim != 2 or primer.shape[1] != n_visible or not 0 < start < frames:
            raise ValueError(
                f"primer {primer.shape} must be [T0, {n_visible}] with 0 < T0 < frames = {frames}"
            )
        primer_t = torch.as_tensor(np.asarray(primer, dtype=bool), device=device)
        out[:, :start] = primer_t
        primer_v = primer_t.to(dtype)
        for t in range(start):
            state = model.step(primer_v[t].expand(n, n_visible), state)[1]
            if on_frame:
                on_frame(t + 1, frames)
    biases = model.next_biases(state)
    for t in range(start, frames):
        v = model.conditional.sample(biases, generator, temperature)
        out[:, t] = v.bool()
        biases, state = model.step(v, state)
        if on_frame:
            on_frame(t + 1, frames)
    return out.cpu().numpy()


@dataclass
class MusicSamples:
    """What `sample_music` made: the rolls, the files written and the statistics beside the training data's."""

    rolls: np.ndarray  # bool[n, T, P]
    primer_frames: int
    seed: int
    tempo_bpm: float
    midi_paths: list[Path]
    png_paths: list[Path] = field(default_factory=list)
    wav_paths: list[Path] = field(default_factory=list)
    wav_renderer: str | None = None
    sample_stats: dict[str, float] = field(default_factory=dict)
    train_stats: dict[str, float] | None = None


def load_primer(path: Path, fmt: RollFormat, frames: int | None, read: MidiReadOptions) -> np.ndarray:
    """The first `frames` frames (all if None) of a MIDI file as a roll bool[T0, P] on the model's grid."""
    result = midi_to_roll(path, fmt, read)
    if result.dropped_notes:
        log.warning("%s: %d notes outside the model's pitch range were dropped", path, result.dropped_notes)
    roll = result.roll if frames is None else result.roll[:frames]
    if roll.shape[0] == 0:
        raise SeqgenError(f"{path}: the primer has no frames")
    return roll


def sample_music(
    ckpt: dict,
    model,
    out: Path,
    *,
    n: int = 1,
    frames: int | None = None,
    seconds: float | None = None,
    temperature: float = 1.0,
    gibbs_steps: int | None = None,
    primer: Path | None = None,
    primer_frames: int | None = None,
    read: MidiReadOptions | None = None,
    tempo_bpm: float | None = None,
    program: int = 0,
    velocity: int = 80,
    seed: int = 0,
    png: bool = False,
    wav: bool = False,
    soundfont: Path | None = None,
    on_frame: Callable[[int, int], None] | None = None,
) -> MusicSamples:
    """Sample `n` songs from a music checkpoint and write them to `out` (numbered when n > 1).

    The length is `frames` or `seconds` (primer included; default 128 frames); the tempo defaults to
    the training data's. Also writes PNG / WAV (`soundfont`: see render.synthesize) beside each MIDI file when
    asked, all files or none, and returns statistics of the generated frames (primer excluded) next to the
    training data's. `model` is the checkpoint's model as loaded by the music task spec (validated there);
    `gibbs_steps` replaces its `sample_steps` (RNN-RBM; None: the checkpoint's).
    """
    data = ckpt["data"]
    fmt = model.roll_format
    quantisation, low_pitch, n_pitches = fmt.quantisation, fmt.low_pitch, fmt.n_pitches
    device = next(model.parameters()).device
    model.conditional.configure(sample_steps=gibbs_steps)
    if tempo_bpm is not None:
        quantisation = replace(quantisation, tempo_bpm=tempo_bpm)
    if seconds is not None:
        frames = max(1, round(seconds / quantisation.frame_seconds))
    frames = 128 if frames is None else frames
    check_sample_size("seconds" if seconds is not None else "frames", frames, n, MUSIC_FRAME_BYTES)
    read = read or MidiReadOptions()
    primer_fmt = RollFormat(quantisation, low_pitch, n_pitches)
    primer_roll = None if primer is None else load_primer(primer, primer_fmt, primer_frames, read)
    kept = None if primer is None else read_kept(primer, primer_fmt, read).until(primer_roll.shape[0])
    if kept is not None and tempo_bpm is None:  # the primer's own tempo (issue 19)
        quantisation = replace(quantisation, tempo_bpm=round(kept_tempo_bpm(kept), 3))
    if primer_roll is not None and primer_roll.shape[0] >= frames:
        raise SeqgenError(
            f"{primer}: the primer has {primer_roll.shape[0]} frames but the song only {frames} "
            "(ask for more --frames or fewer --primer-frames)"
        )

    rolls = sample_rolls(
        model,
        n=n,
        frames=frames,
        temperature=temperature,
        primer=primer_roll,
        generator=make_generator(seed, device),
        device=device,
        on_frame=on_frame,
    )
    n_primer = 0 if primer_roll is None else primer_roll.shape[0]
    result = MusicSamples(rolls, n_primer, seed, quantisation.tempo_bpm, numbered_paths(out, n))
    if png:
        result.png_paths = numbered_paths(out, n, ".png")
    if wav:
        result.wav_paths = numbered_paths(out, n, ".wav")
    with atomic_paths([*result.midi_paths, *result.png_paths, *result.wav_paths]) as temps:
        staged = iter(temps)
        midi_temps, png_temps, wav_temps = (
            [next(staged) for _ in paths] for paths in (result.midi_paths, result.png_paths, result.wav_paths)
        )
        out_fmt = RollFormat(quantisation, low_pitch, n_pitches)
        for roll, path in zip(rolls, midi_temps):  # the files are staged already: write the bytes straight in
            path.write_bytes(
                midi_bytes(roll, out_fmt, program=program, velocity=velocity) if kept is None else
                merged_midi_bytes(kept, roll[n_primer:], n_primer, tempo_bpm=tempo_bpm, program=program,
                                  velocity=velocity)  # the primer's own notes, then the model's (issue 19)
            )  # fmt: skip
        bar = 4 * quantisation.steps_per_quarter if quantisation.steps_per_quarter else None
        for roll, path in zip(rolls, png_temps):
            write_roll_png(roll, path, low_pitch=low_pitch, primer_frames=n_primer, bar_frames=bar)
        for midi_path, path in zip(midi_temps, wav_temps):
            result.wav_renderer = midi_file_to_wav(midi_path, path, soundfont=soundfont)
    result.sample_stats = roll_statistics(list(rolls[:, n_primer:]), low_pitch=low_pitch)
    result.train_stats = data.get("train_stats")
    return result
