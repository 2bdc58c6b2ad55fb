"""One grid cell: load the dataset under its budget, train through the builder (resuming), score test, and
write the cell's result JSON (command, seed, options, configs, budget, wall time, curves, test score)."""

from __future__ import annotations

import json
import math
import platform
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.experiments.grid import Budget, task_of
from seqgen.fileio import json_safe, write_text_atomic

SUBSET_SEED = 0  # the pieces kept by a frame cap are the same for every row and every run


def music_subset(rolls: list[np.ndarray], cap: int | None) -> list[np.ndarray]:
    """Pieces (rolls bool[T, P]) in a fixed random order until `cap` frames are reached (None: all)."""
    if cap is None:
        return rolls
    kept, frames = [], 0
    for i in np.random.default_rng(SUBSET_SEED).permutation(len(rolls)):
        if frames >= cap:
            break
        kept.append(rolls[i])
        frames += len(rolls[i])
    return kept


def text_subset(text: str, cap: int | None) -> str:
    """The first `cap` characters of `text`, cut after a newline when there is one (None: all)."""
    if cap is None or len(text) <= cap:
        return text
    end = text.rfind("\n", 0, cap) + 1
    return text[: end or cap]


def load_data(dataset: str, budget: Budget) -> Any:
    """The dataset (music PianoRollDataset or text TextCorpus) with every split cut to the budget."""
    caps = {"train": budget.train_cap, "valid": budget.valid_cap, "test": budget.test_cap}
    if task_of(dataset) == "music":
        from seqgen.music.datasets import load_dataset

        data = load_dataset(dataset)
        data.splits = {s: music_subset(rolls, caps.get(s)) for s, rolls in data.splits.items()}
        return data
    from seqgen.text.corpus import load_corpus

    if dataset in ("ptb", "ptb-char"):
        data = load_corpus(dataset)
    else:  # a text file: train / valid / test = 80 / 10 / 10 %
        from seqgen.text.corpus import split_text

        data = load_corpus(text=Path(dataset), valid_fraction=0.2)
        data.splits["valid"], data.splits["test"] = split_text(data.splits["valid"], 0.5, dataset)
    data.splits = {s: text_subset(text, caps.get(s)) for s, text in data.splits.items()}
    return data


def _train(task: str, data: Any, options: dict[str, Any]):
    """Build the configs from resolved options (the product's build_configs) and run its training loop."""
    from seqgen.options import product_configs

    build_configs = product_configs(task).build_configs

    if task == "music":
        from seqgen.music.train_music import train_music

        configs = build_configs(options, n_inputs=data.n_pitches)
        result = train_music(
            data, configs, options["out"], resume=options["resume"],
            valid_ais_runs=options["valid_ais_runs"], valid_ais_steps=options["valid_ais_steps"],
        )  # fmt: skip
    else:
        from seqgen.text.train_text import train_text

        configs = build_configs(options)
        result = train_text(
            data, configs, options["out"], tokenizer=options["tokenizer"], vocab_size=options["vocab_size"],
            sp_model=options["sp_model"], resume=options["resume"],
        )  # fmt: skip
    return configs, result


def _score_test(task: str, data: Any, best: Path, budget: Budget, ais: tuple[int, int]) -> dict[str, Any]:
    """Test scores of best.pt: nats/frame (exact, or AIS on ≤ rbm_test_cap frames) or bits/char."""
    import torch

    from seqgen.checkpoint import load_checkpoint
    from seqgen.tasks import get_task

    ckpt = load_checkpoint(best)
    model = get_task(task).load(ckpt, best, torch.device("cpu"))
    with torch.no_grad():
        if task == "text":
            from seqgen.text.score import score_text

            scores = score_text(model, model.tokenizer, data.splits["test"])
            return {"score": scores["bits_per_char"], "unit": "bits/char", **scores}
        from seqgen.music.score import score_rolls

        rolls, cond = data.splits["test"], model.conditional
        if cond.estimator != "exact":
            rolls = music_subset(rolls, budget.rbm_test_cap)
        cond.configure(**{k: v for k, v in zip(("ais_runs", "ais_steps"), ais) if k in cond.settings})
        scores = score_rolls(model, rolls, generator=torch.Generator().manual_seed(0))
    return {"score": scores["log_likelihood_per_frame"], "unit": "nats/frame", **scores}


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """Train and score one cell as `spec` says (see runner.cell_spec); write and return its result record.

    A diverged run (non-finite weights) is a result too: status "diverged", with the error and no score.
    """
    import torch

    from seqgen.errors import SeqgenError
    from seqgen.options import training_options

    started = time.perf_counter()
    torch.set_num_threads(1)
    task, budget, run_dir = task_of(spec["dataset"]), Budget(**spec["budget"]), Path(spec["run_dir"])
    options = training_options(
        task, **spec["options"], epochs=budget.epochs, batch_size=budget.batch_size, seed=spec["seed"],
        device=spec["device"], out=run_dir, resume=(run_dir / "last.pt").is_file(),
    )  # fmt: skip
    data = load_data(spec["dataset"], budget)
    if options.get("model") == "rnn-rbm":
        data.splits["valid"] = music_subset(data.splits["valid"], budget.rbm_valid_cap)
    record: dict[str, Any] = {
        "grid": spec["grid"], "cell": spec["key"], "dataset": spec["dataset"], "row": spec["row"],
        "label": spec["label"], "adds": spec["adds"], "command": spec["command"], "seed": spec["seed"],
        "budget": asdict(budget), "options": {k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
        "split_sizes": _sizes(task, data), "selected_from": spec.get("selected_from"),
    }  # fmt: skip
    try:
        configs, result = _train(task, data, options)
    except SeqgenError as exc:
        record.update(status="diverged", error=str(exc), test=None)
    else:
        record["configs"] = {"model": asdict(configs.model), "optim": asdict(configs.optim),
                             "train": asdict(configs.train)}  # fmt: skip
        if result.interrupted:
            return {**record, "status": "interrupted"}
        if not (run_dir / "best.pt").is_file():
            record.update(status="no finite validation score", test=None)
        else:
            score_started = time.perf_counter()
            ais = (spec["ais_runs"], spec["ais_steps"])
            record.update(status="ok", test=_score_test(task, data, run_dir / "best.pt", budget, ais))
            record["score_seconds"] = time.perf_counter() - score_started
    metrics = _metrics(run_dir / "metrics.jsonl")
    record.update(_curves(task, metrics))
    record["wall_seconds_this_call"] = time.perf_counter() - started
    record["machine"] = f"{platform.machine()}, {torch.__version__}, {spec['device']}, 1 thread"
    record["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_text_atomic(spec["result"], json.dumps(json_safe(record), indent=1, allow_nan=False) + "\n")
    return record


def _sizes(task: str, data: Any) -> dict[str, int]:
    """Frames (music) or characters (text) per split actually used."""
    if task == "music":
        return {s: int(sum(len(r) for r in rolls)) for s, rolls in data.splits.items()}
    return {s: len(text) for s, text in data.splits.items()}


def _metrics(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def _curves(task: str, metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-epoch valid score (nats/frame, or bits/char for text), train loss, seconds, and the best epoch."""
    sign = -1.0 if task == "text" else 1.0
    valid = [None if m["valid"].get("score") is None else sign * m["valid"]["score"] for m in metrics]
    finite = [(v, i + 1) for i, v in enumerate(valid) if v is not None and math.isfinite(v)]
    best = (min if task == "text" else max)(finite) if finite else (None, None)
    return {
        "valid_curve": valid,
        "train_curve": [m["train_loss"] for m in metrics],
        "epoch_seconds": [m["seconds"] for m in metrics],
        "train_seconds": sum(m["seconds"] for m in metrics),
        "best_valid": best[0],
        "best_epoch": best[1],
        "valid_unit": "bits/char" if task == "text" else "nats/frame",
    }
