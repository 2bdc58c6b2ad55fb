"""The music product's registry entry: train, load, sample and score piano-roll models (seqgen.tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.tasks import Outcome, Progress

TEXT_CORPORA = ("ptb", "ptb-char")


def _pretrain_epochs(given: int | None, kind: str) -> int:
    """Pretraining of the conditional on single frames: 60 epochs for the RBM, which needs it (results/
    jsb-rnn-rbm-*.json), none for NADE and Bernoulli, which learn fast without it."""
    return given if given is not None else (60 if kind == "rnn-rbm" else 0)


def _search_config(options: dict[str, Any]):
    """The `--lr-range LOW:HIGH --trials K --seeds S` search, checked before any data is read; with several seeds
    its rungs rank learning rates by their seeds' mean (a rate is kept or dropped with all its seeds), as the
    grid's cells do, so one lucky seed does not pick the rate."""
    from seqgen.core.population_search import SearchConfig, parse_lr_range

    seeds = options["seeds"]
    return SearchConfig(*parse_lr_range(options["lr_range"]), trials=options["trials"], seeds=seeds,
                        by_setting=seeds > 1)  # fmt: skip


def _search(dataset, configs, search, options: dict[str, Any]) -> tuple[str, bool]:
    """`train --lr-range LOW:HIGH --trials K --seeds S`: one population, successive halving (seqgen.core)."""
    from seqgen.core.population_search import best_setting
    from seqgen.music.train_music import search_music

    members = search_music(
        dataset, configs, options["out"], search, resume=options["resume"], transpose=options["transpose"],
        pretrain_epochs=_pretrain_epochs(options["pretrain_epochs"], configs.model.kind),
        valid_ais_runs=options["valid_ais_runs"], valid_ais_steps=options["valid_ais_steps"],
    )  # fmt: skip
    chosen = [members[i] for i in best_setting(members)]  # the rate whose seeds' mean validation score is best
    scores = [m.best_valid for m in chosen]
    best = max(members, key=lambda m: m.best_valid)
    line = (
        f"{configs.model.kind} on {dataset.name}: searched {len(members)} members (lr {search.lr_low:g}..."
        f"{search.lr_high:g} x {search.seeds} seeds); best lr {chosen[0].spec.lr:.4g}: valid "
        f"{sum(scores) / len(scores):.4f} nats/frame, mean of {len(scores)} seed(s) [{min(scores):.4f}, "
        f"{max(scores):.4f}]; best.pt: lr {best.spec.lr:.4g} seed {best.spec.seed}, valid {best.best_valid:.4f} "
        f"(epoch {best.best_epoch}); members.md in {options['out']}"
    )
    return line, False


def midi_read_of(ckpt: dict, max_frames: int | None = None):
    """The MIDI read options the checkpoint's model was trained with (sustain, drums, tick grid; defaults for
    checkpoints that predate them), refusing files longer than `max_frames`."""
    from seqgen.music.pianoroll import DEFAULT_MAX_FRAMES, MidiReadOptions

    stored = ckpt["data"].get("midi_read") or {}
    try:
        return MidiReadOptions(
            bool(stored.get("include_drums", False)), bool(stored.get("sustain", False)),
            stored.get("ticks_per_step"), max_frames or DEFAULT_MAX_FRAMES,
        )  # fmt: skip
    except (TypeError, ValueError, AttributeError) as exc:
        raise SeqgenError(f"checkpoint midi_read {stored!r}: malformed ({exc})") from None


def _surprise_png(ckpt: dict, model, options: dict[str, Any]) -> Path:
    """Draw the scored file's roll with each note coloured by its surprise (seqgen.music.surprise)."""
    import torch

    from seqgen.fileio import check_output
    from seqgen.music.pianoroll import midi_to_roll
    from seqgen.music.render import write_roll_png
    from seqgen.music.surprise import note_surprise

    path, fmt = Path(options["png"]), model.roll_format
    check_output(path, (".png",))
    roll = midi_to_roll(options["file"], fmt, midi_read_of(ckpt, options["max_frames"])).roll
    device = next(model.parameters()).device
    values, unit = note_surprise(model, roll, torch.Generator(device=device).manual_seed(options["seed"]))
    spq = fmt.quantisation.steps_per_quarter
    write_roll_png(roll, path, low_pitch=fmt.low_pitch, bar_frames=4 * spq if spq else None, values=values,
                   label=f"{Path(options['file']).name}: {unit}")  # fmt: skip
    return path


def _score_files(ckpt: dict, model, options: dict[str, Any], progress: Progress) -> Outcome:
    """`score A.mid B.mid FOLDER/`: one row per file and the total (seqgen.music.score_files)."""
    from seqgen.music.score_files import files_table, score_files, write_files_csv

    for name in ("per_frame", "png", "data"):
        if options.get(name) is not None:
            raise SeqgenError("applies to one MIDI file; several were given", param=name)
    result = score_files(model, options["files"], midi_read_of(ckpt, options["max_frames"]), seed=options["seed"],
                         batch_size=options["batch_size"], on_batch=lambda n: progress(n, None))  # fmt: skip
    written = []
    if options.get("csv") is not None:
        write_files_csv(options["csv"], result)
        written.append(options["csv"])
    return Outcome(written, tables=[files_table(result)], result=result)


class MusicSpec:
    """RNN-NADE, RNN-RBM and RNN models of piano-rolls."""

    name = "music"
    sample_suffixes = (".mid", ".midi")

    def owns_data(self, data: str | None, text: Path | None) -> bool:
        """Everything that is not text: a benchmark name, a MIDI path, or nothing (the embedded chorales)."""
        return text is None and data not in TEXT_CORPORA

    def train(self, options: dict[str, Any]) -> tuple[str, bool]:
        """Load the data, build the configs (seqgen.music.configs) and run the shared training loop."""
        from seqgen.music.configs import build_configs, midi_input
        from seqgen.music.datasets import load_dataset
        from seqgen.music.train_music import train_music

        search = _search_config(options) if options.get("lr_range") else None
        dataset = load_dataset(options["data"], midi=midi_input(options))
        configs = build_configs(options, n_inputs=dataset.n_pitches)
        if search is not None:
            return _search(dataset, configs, search, options)
        result = train_music(
            dataset, configs, options["out"], resume=options["resume"],
            override=options["override"], valid_ais_runs=options["valid_ais_runs"],
            valid_ais_steps=options["valid_ais_steps"], transpose=options["transpose"],
            pretrain_epochs=_pretrain_epochs(options["pretrain_epochs"], configs.model.kind),
        )  # fmt: skip
        best = (
            "none yet"
            if not result.best_epoch
            else f"{result.best_valid:.4f} nats/frame (epoch {result.best_epoch})"
        )
        line = (
            f"{configs.model.kind} on {dataset.name}: {result.epochs_completed} epochs, best valid "
            f"log-likelihood {best}; checkpoints in {options['out']}"
        )
        return line, result.interrupted

    def load(self, ckpt: dict[str, Any], path: Path, device: Any):
        """The MusicModel of a checkpoint in eval mode on `device`, with its `roll_format` (pitch range and
        quantisation of the training data, which sampling and scoring use) checked against the model."""
        from seqgen.checkpoint import load_weights, malformed_reason
        from seqgen.music.model import MusicModel, MusicModelConfig
        from seqgen.music.pianoroll import RollFormat

        try:
            config = MusicModelConfig.from_dict(ckpt["model_config"])
            model = MusicModel(config)
            load_weights(model, ckpt["state_dict"])
            data = ckpt["data"]  # format-2 checkpoints of development builds kept the entries at the top level
            model.roll_format = RollFormat.from_dict(data.get("roll_format", data))
            if model.roll_format.n_pitches != config.n_visible:
                raise ValueError(
                    f"its roll has {model.roll_format.n_pitches} pitches, the model {config.n_visible}"
                )
        except (KeyError, TypeError, ValueError, RuntimeError, SeqgenError) as exc:
            raise SeqgenError(f"{path}: not a usable music checkpoint ({malformed_reason(exc)})") from None
        return model.to(device).eval()

    def sample(self, ckpt: dict, model, options: dict[str, Any], progress: Progress) -> Outcome:
        """Songs written as MIDI (and PNG / WAV), with a statistics table beside the training data's."""
        from seqgen.music.sample import sample_music
        from seqgen.music.tables import statistics_table

        if options["out"] is None:
            raise SeqgenError("a music model writes MIDI: give an output file such as song.mid", param="out")
        if options["gibbs_steps"] is not None and model.config.kind != "rnn-rbm":
            raise SeqgenError(
                f"applies to RNN-RBM models only, this is an {model.config.kind}", param="gibbs_steps"
            )
        if options.get("soundfont") is not None:
            from seqgen.music.render import find_soundfont

            if not options["wav"]:
                raise SeqgenError("chooses the sound of --wav: give --wav too", param="soundfont")
            find_soundfont(options["soundfont"])  # a file that is no soundfont is refused before sampling
        result = sample_music(
            ckpt, model, options["out"], n=options["n"], frames=options["frames"], seconds=options["seconds"],
            temperature=options["temperature"], gibbs_steps=options["gibbs_steps"], primer=options["primer"],
            primer_frames=options["primer_frames"], read=midi_read_of(ckpt, options["max_frames"]),
            tempo_bpm=options["tempo"], program=options["program"],
            velocity=options["velocity"], seed=options["seed"], png=options["png"], wav=options["wav"],
            soundfont=options.get("soundfont"), on_frame=progress,
        )  # fmt: skip
        lines = [
            (
                f"{options['n']} song(s) of {result.rolls.shape[1]} frames ({result.primer_frames} from the primer), "
                f"seed {result.seed}, tempo {result.tempo_bpm:g} BPM"
            )
        ]
        if result.wav_renderer:
            lines.append(f"audio rendered with {result.wav_renderer}")
        written = [*result.midi_paths, *result.png_paths, *result.wav_paths]
        return Outcome(written, lines, [statistics_table(result.sample_stats, result.train_stats)])

    def score(self, ckpt: dict, model, options: dict[str, Any], progress: Progress) -> Outcome:
        """Log-likelihood per frame and frame accuracy of a MIDI file or a dataset split."""
        from seqgen.music.score import score_checkpoint, write_per_frame_csv

        if options.get("files"):
            return _score_files(ckpt, model, options, progress)
        if options.get("csv") is not None:
            raise SeqgenError("writes one row per file: give several MIDI files or a folder", param="csv")
        if options.get("png") is not None and options["file"] is None:
            raise SeqgenError("draws one MIDI FILE's notes: give the file to score", param="png")
        result = score_checkpoint(
            ckpt, model, midi=options["file"], data=options["data"], split=options["split"],
            ais_runs=options["ais_runs"], ais_steps=options["ais_steps"], batch_size=options["batch_size"],
            seed=options["seed"], keep_frames=options["per_frame"] is not None,
            read=midi_read_of(ckpt, options["max_frames"]),
            on_batch=lambda n: progress(n, None),
        )  # fmt: skip
        written = []
        if options["per_frame"] is not None:
            frames, rolls, fmt = (result.pop(k) for k in ("per_frame", "rolls", "roll_format"))
            write_per_frame_csv(options["per_frame"], frames, rolls, fmt)
            written.append(options["per_frame"])
        if options.get("png") is not None:
            written.append(_surprise_png(ckpt, model, options))
        return Outcome(written, result=result)


SPEC = MusicSpec()
