"""The CLI's option lists: the training options (seqgen.options, the products' contract) and the options of
`sample`, `score` and `data`, each declared once with its help, choices and range."""

from __future__ import annotations

from pathlib import Path

from seqgen.memory import MAX_SAMPLE_STEPS
from seqgen.options import (  # noqa: F401 - the CLI modules take the option table from here
    DEVICE,
    MAX_FRAMES,
    MIDI_INPUT,
    MUSIC,
    MUSIC_DATA,
    SEED,
    TEXT,
    THREADS,
    TRAIN,
    Opt,
    Split,
    _flag,
    _o,
    command,
    only,
    reject_inapplicable,
    resolve_training,
)

SAMPLE = [
    _o("out", Path | None, None, "Output file. Music: FILE.mid (with --n N > 1: FILE-000.mid, FILE-001.mid, ...). "
       "Text: FILE.txt, or print the texts when absent. A symlink is written through (its target is replaced)."),
    _o("model", Path | None, None, "Checkpoint (.pt) from training. Default: the shipped RNN-NADE "
       "(bach-rnn-nade.pt)."),
    _o("n", int, 1, "Songs or texts generated together in one batch.", "--n", min=1, max=65536),
    _o("temperature", float, 1.0, "Divides every logit or energy: below 1 safer, above 1 wilder.", min=1e-3),
    _o("seed", int | None, None, "Random seed: the same seed and options give identical files. "
       "Default: a random seed, printed."),
    DEVICE,
    THREADS,
    _o("frames", int | None, None, "Song length in frames, primer included. Default: 128. At most 10,000,000, and "
       "what the memory available allows for --n songs.", tasks=MUSIC, min=1,
       max=MAX_SAMPLE_STEPS),
    _o("seconds", float | None, None, "Song length in seconds instead of --frames.", tasks=MUSIC, min=0.01),
    _o("gibbs_steps", int | None, None, "Block-Gibbs steps per frame (RNN-RBM). Default: the checkpoint's.",
       tasks=MUSIC, min=1),
    _o("primer", Path | None, None, "MIDI file to continue: its frames are read by the RNN and kept verbatim.",
       tasks=MUSIC),
    _o("primer_frames", int | None, None, "Use only the first N frames of --primer.", tasks=MUSIC, min=1),
    _o("tempo", float | None, None, "Tempo (BPM) of the MIDI files. Default: the training data's.",
       tasks=MUSIC, min=1.0, max=1000.0),
    _o("program", int, 0, "General MIDI program of the notes (0 = piano).", tasks=MUSIC, min=0, max=127),
    _o("velocity", int, 80, "Velocity of every note.", tasks=MUSIC, min=1, max=127),
    _flag("png", "Also draw each song as a piano-roll picture (.png).", tasks=MUSIC),
    _flag("wav", "Also render each song as audio (.wav): FluidSynth with a General MIDI soundfont when both are "
          "installed (Debian: fluidsynth, fluid-soundfont-gm), else sine waves; the output says which.", tasks=MUSIC),
    _o("soundfont", Path | None, None, "SoundFont (.sf2) for --wav. Default: $SEQGEN_SOUNDFONT, else the system's "
       "General MIDI soundfont (/usr/share/sounds/sf2/FluidR3_GM.sf2, ...), else pretty_midi's TimGM6mb.sf2.",
       tasks=MUSIC),
    _o("prompt", str | None, None, "Text to continue.", tasks=TEXT),
    _o("length", int, 200, "Tokens to generate after the prompt. At most 10,000,000, and what the memory "
       "available allows for --n texts.", tasks=TEXT, min=1, max=MAX_SAMPLE_STEPS),
    _o("top_k", int | None, None, "Sample among the K likeliest tokens only.", tasks=TEXT, min=1),
    MAX_FRAMES,
]

SCORE = [
    Opt("file", list[Path] | None, None, "A MIDI file (music model) or a UTF-8 text file (language model); music: "
        "several files or folders of MIDI files give one row each.", argument=True),
    _o("model", Path | None, None, "Checkpoint (.pt) to score with. Default: the shipped RNN-NADE "
       "(bach-rnn-nade.pt)."),
    _o("data", str | None, None, f"Score a named data split instead: {MUSIC_DATA}; or ptb / ptb-char (text)."),
    _o("split", Split, Split.test, "Which split of --data."),
    _flag("as_json", "Print one JSON object.", "--json"),
    SEED,
    DEVICE,
    THREADS,
    _o("batch_size", int, 32, "Sequences scored together.", min=1),
    _o("per_frame", Path | None, None, "Write each frame's log-likelihood to this CSV file (with its seconds, bar, "
       "beat and sounding pitches).", tasks=MUSIC),
    _o("csv", Path | None, None, "Several MIDI files: write one row per file to this CSV file.", tasks=MUSIC),
    _o("png", Path | None, None, "Draw the file's piano-roll with each note coloured by its surprise, −log p under "
       "the model (exact per note for NADE and RNN, per frame for the RBM), into this PNG file.", tasks=MUSIC),
    _o("ais_runs", int | None, None, "AIS runs per frame (RNN-RBM). Default: the model's setting.", tasks=MUSIC, min=2),
    _o("ais_steps", int | None, None, "AIS steps per run (RNN-RBM). Default: the model's setting.", tasks=MUSIC, min=1),
    _o("data_dir", Path | None, None, "Folder holding the PTB files (with --data ptb or ptb-char).", tasks=TEXT),
    MAX_FRAMES,
]

DATASET = Opt("spec", str | None, None, "jsb, nottingham, musedata, piano-midi, bach-chorales (the embedded "
              "default), or a PATH (MIDI folder or file, .pickle, .mat).", argument=True)
BENCHMARK_DIR = _o("data_dir", Path | None, None, "File or folder holding the named benchmark's file. "
                   "Default: $SEQGEN_DATA_DIR, then the cache, then a download.")
DATA_INFO = [DATASET, BENCHMARK_DIR, _flag("as_json", "Print JSON.", "--json"), *MIDI_INPUT]
DATA_EXPORT = [
    _o("out", Path, ..., "Folder for the MIDI files."),
    DATASET,
    _o("split", Split, Split.test, "Which split to write."),
    _o("limit", int | None, None, "Write at most this many files.", min=1),
    BENCHMARK_DIR,
    _o("program", int, 0, "General MIDI program of the notes (0 = piano).", min=0, max=127),
    _o("velocity", int, 80, "Velocity of every note.", min=1, max=127),
    *MIDI_INPUT,
]



def flag_of(name: str) -> str:
    """The CLI flag of a library parameter name (e.g. "gibbs_steps" → --gibbs-steps)."""
    for option in (*TRAIN, *SAMPLE, *SCORE, *DATA_EXPORT):
        if option.name == name and not option.argument:
            return option.flag
    return "--" + name.replace("_", "-")
