"""The music product's own training options (seqgen.options assembles them with the shared ones): its model
kinds and presets, the learning-rate search, pretraining and AIS validation, and how MIDI files are read."""

from __future__ import annotations

from seqgen.option_spec import MUSIC, Choice, D, M, O, T, _flag, _o

ModelKind = Choice("ModelKind", {v: v for v in ("rnn-nade", "rnn-rbm", "rnn")})
Preset = Choice("Preset", {v: v for v in ("paper-nade", "paper-rbm", "paper-rnn", "gru-nade")})
WeightInit = Choice("WeightInit", {v: v for v in ("default", "small")})
NoteOrder = Choice("NoteOrder", {v: v for v in ("ascending", "descending")})

MUSIC_DATA = "jsb, nottingham, musedata, piano-midi, bach-chorales, or a PATH (MIDI folder or file, .pickle, .mat)"

MODEL = [
    _o("preset", Preset | None, None, "Paper sizes: paper-nade/-rbm/-rnn = RNN 100 + NADE/RBM 150; gru-nade = "
       "GRU 200 + NADE 200, dropout 0.3. Other model options override it. Default: paper-nade.", tasks=MUSIC, panel=M),
    _o("model", ModelKind | None, None, "Per-frame distribution: rnn-nade, rnn-rbm, or rnn (independent notes). "
       "Default: the preset's.", tasks=MUSIC, panel=M),
    _o("cond_hidden", int | None, None, "Hidden units H of the NADE or RBM. Default: the preset's (150).",
       tasks=MUSIC, panel=M, min=1),
    _o("cd_k", int | None, None, "Gibbs steps of CD-k training (RNN-RBM). Default: 15.", tasks=MUSIC, panel=M, min=1),
    _o("weight_init", WeightInit | None, None, "small: the 2012 RNN-RBM tutorial's initialisation (conditional "
       "weights N(0, 0.01²), RNN weights N(0, 1e-4²), zero biases); default: PyTorch's and the core's. "
       "Default: the preset's (small for paper-rbm).", tasks=MUSIC, panel=M),
    _o("note_order", NoteOrder | None, None, "Order of a NADE's notes within a frame; descending (highest first) "
       "lets `seqgen harmonize` sample exactly under a fixed top voice. Default: ascending.", tasks=MUSIC, panel=M),
]
OPTIM = [
    _o("lr_range", str | None, None, "Learning-rate search LOW:HIGH (e.g. 0.03:3): --trials rates log-spaced in it "
       "× --seeds seeds train as one population with successive halving (rungs at epochs 5, 15, 45 keep the best "
       "third of the rates, ranked by their seeds' mean); OUT gets members.md/.json, curves/ and best.pt (the best "
       "member's). Default: no search.",
       tasks=MUSIC, panel=O),
    _o("trials", int, 8, "Learning rates of a --lr-range search.", tasks=MUSIC, panel=O, min=1),
    _o("seeds", int, 2, "Initialisation seeds per learning rate of a --lr-range search (--seed, --seed + 1, ...).",
       tasks=MUSIC, panel=O, min=1),
]
TRAIN = [
    _o("transpose", int, 0, "Augment: shift each training piece by a random number of semitones in ±K.",
       tasks=MUSIC, panel=T, min=0, max=24),
    _o("pretrain_epochs", int | None, None, "Epochs of CD/NLL training of the NADE or RBM alone on single frames "
       "before the RNN (the 2012 paper's pretraining). Default: 60 for an RNN-RBM, 0 otherwise.",
       tasks=MUSIC, panel=T, min=0),
    _o("valid_ais_runs", int, 8, "RNN-RBM validation: AIS runs per frame (its ranking of models matches a "
       "1,000-step reference: results/bench_ais.json).", tasks=MUSIC, panel=T, min=2),
    _o("valid_ais_steps", int, 20, "RNN-RBM validation: AIS steps per run.", tasks=MUSIC, panel=T, min=1),
]
MAX_FRAMES = _o("max_frames", int, 1_000_000, "Refuse MIDI files longer than this many frames (before reading them "
                "into memory; the longest Piano-midi.de piece has about 25,000 at 100 frames/s).",
                tasks=MUSIC, panel=D, min=1)
MIDI_INPUT = [
    _o("steps_per_quarter", int | None, None, "MIDI input: frames per quarter note. Default: 4 (16th notes).",
       tasks=MUSIC, panel=D, min=1),
    _o("fs", float | None, None, "MIDI input: frames per second instead of a beat grid.", tasks=MUSIC, panel=D,
       min=0.01, max=10000.0),
    _flag("sustain", "MIDI input: hold notes while the sustain pedal is down.", tasks=MUSIC, panel=D),
    _flag("include_drums", "MIDI input: keep drum notes (channel 10).", tasks=MUSIC, panel=D),
    _o("low_pitch", int, 21, "MIDI number of the roll's first column.", tasks=MUSIC, panel=D, min=0, max=127),
    _o("n_pitches", int, 88, "Number of pitches (columns) of the roll.", tasks=MUSIC, panel=D, min=1, max=128),
    MAX_FRAMES,
]
