"""`seqgen harmonize melody.mid --out chorale.mid`: the melody held as the top voice, the notes below sampled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqgen.cli.dispatch import load_for, show
from seqgen.cli.inputs import check_inputs
from seqgen.cli.options import DEVICE, MAX_FRAMES, MUSIC, THREADS, Opt, _flag, _o, command

HARMONIZE = [
    Opt("melody", Path, ..., "MIDI file whose (highest) notes are the melody: kept verbatim as the top voice.",
        argument=True),
    _o("out", Path, ..., "Output MIDI file (with --n N > 1: FILE-000.mid, FILE-001.mid, ...)."),
    _o("model", Path | None, None, "Checkpoint (.pt): an RNN-NADE trained with --note-order descending (exact), "
       "an RNN-RBM (clamped Gibbs) or an RNN. Default: the shipped RNN-NADE (bach-rnn-nade.pt)."),
    _o("n", int, 1, "Harmonizations made together in one batch.", "--n", min=1, max=4096),
    _o("temperature", float, 1.0, "Divides every logit or energy: below 1 safer, above 1 wilder.", min=1e-3),
    _o("seed", int, 0, "Random seed: the same seed and options give identical files."),
    DEVICE,
    THREADS,
    _o("gibbs_steps", int | None, None, "Block-Gibbs steps per frame (RNN-RBM). Default: the checkpoint's.",
       tasks=MUSIC, min=1),
    _o("tempo", float | None, None, "Tempo (BPM) of the output. Default: the melody's.", min=1.0, max=1000.0),
    _o("program", int, 0, "General MIDI program of the notes (0 = piano).", min=0, max=127),
    _o("velocity", int, 80, "Velocity of the sampled notes (the melody keeps its own).", min=1, max=127),
    _flag("png", "Also draw each harmonization as a piano-roll picture (.png)."),
    MAX_FRAMES,
]


@command(HARMONIZE)
def harmonize(options: dict[str, Any]) -> None:
    """Harmonize a melody: its notes stay as they are on top, the voices below are sampled from a music model."""
    from seqgen.errors import SeqgenError
    from seqgen.runtime import progress
    from seqgen.tasks import Outcome

    check_inputs(options, {"model": "checkpoint file", "melody": "MIDI file"})  # before torch loads
    if options["model"] is None:
        from seqgen.music.sample import shipped_model

        options["model"] = shipped_model()
    spec, ckpt, model = load_for(HARMONIZE, options, outputs=("out",))
    if spec.name != "music":
        raise SeqgenError(f"{options['model']}: a {spec.name} model cannot harmonize a melody")
    from seqgen.music.harmonize import harmonize_file
    from seqgen.music.task import midi_read_of

    if options["gibbs_steps"] is not None:
        model.conditional.configure(sample_steps=options["gibbs_steps"])
    with progress(transient=True) as bar:
        task = bar.add_task("harmonize", total=None, status=f"{options['n']} at once")
        result = harmonize_file(
            model, options["melody"], options["out"], read=midi_read_of(ckpt, options["max_frames"]), n=options["n"],
            seed=options["seed"], temperature=options["temperature"], tempo_bpm=options["tempo"],
            program=options["program"], velocity=options["velocity"], png=options["png"],
            on_frame=lambda done, total: bar.update(task, completed=done, total=total),
        )  # fmt: skip
    line = (f"{options['n']} harmonization(s) of {result.rolls.shape[1]} frames under the melody "
            f"({int((result.tops >= 0).sum())} frames with a melody note), seed {options['seed']}, "
            f"tempo {result.tempo_bpm:g} BPM")  # fmt: skip
    show(Outcome([*result.midi_paths, *result.png_paths], [line]))
