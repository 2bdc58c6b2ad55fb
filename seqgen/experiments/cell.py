"""One grid cell: load the dataset under its budget, run the row's learning-rate search as one population
(resuming from its search.pt), select the setting on validation, score each of its seeds on test, and write the
cell's result JSON (command, seeds, options, configs, budget, the search with every member's curves, test scores,
CPU time)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from seqgen.experiments.grid import Budget, task_of
from seqgen.experiments.search_cell import run_search_cell
from seqgen.fileio import json_safe, write_text_atomic
from seqgen.runtime import describe_cpu

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


def run_cell(spec: dict[str, Any]) -> dict[str, Any]:
    """Search, select and score one cell as `spec` says (see runner.cell_spec); write and return its record.

    A search in which every setting diverged is a result too (status "diverged"); a SeqgenError (bad data,
    settings a model refuses) is recorded as status "error" with its message.
    """
    import torch

    from seqgen.errors import SeqgenError

    started, cpu_started = time.perf_counter(), time.process_time()
    torch.set_num_threads(1)
    task, run_dir = task_of(spec["dataset"]), Path(spec["run_dir"])
    model_kind = spec["options"].get("model")
    budget = Budget(**{**spec["budget"], "rungs": tuple(spec["budget"]["rungs"])}).for_model(model_kind)
    record: dict[str, Any] = {
        "grid": spec["grid"], "cell": spec["key"], "dataset": spec["dataset"], "row": spec["row"],
        "label": spec["label"], "adds": spec["adds"], "command": spec["command"], "seed": spec["seed"],
        "budget": asdict(budget), "selected_from": spec.get("selected_from"),
    }  # fmt: skip
    try:
        data = load_data(spec["dataset"], budget)
        if model_kind == "rnn-rbm":
            data.splits["valid"] = music_subset(data.splits["valid"], budget.rbm_valid_cap)
        record["split_sizes"] = _sizes(task, data)
        record.update(run_search_cell(spec, task, data, budget, run_dir))
    except SeqgenError as exc:
        record.update(status="error", error=str(exc), test=None)
    record["cpu_seconds_this_call"] = time.process_time() - cpu_started
    record["cpu_seconds"] = _add_cpu(run_dir, record["cpu_seconds_this_call"])
    record["wall_seconds_this_call"] = time.perf_counter() - started
    record["machine"] = f"{describe_cpu()}, torch {torch.__version__}, {spec['device']}, 1 thread"
    record["date"] = time.strftime("%Y-%m-%d %H:%M:%S")
    write_text_atomic(spec["result"], json.dumps(json_safe(record), indent=1, allow_nan=False) + "\n")
    return record


def _add_cpu(run_dir: Path, seconds: float) -> float:
    """Add this call's CPU seconds to the cell's total in run_dir/cpu_seconds and return the total (a call killed
    before its end adds nothing: its CPU time is not counted)."""
    path = run_dir / "cpu_seconds"
    try:
        total = float(path.read_text()) + seconds
    except (OSError, ValueError):
        total = seconds
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, f"{total:.1f}\n")
    return total


def _sizes(task: str, data: Any) -> dict[str, int]:
    """Frames (music) or characters (text) per split actually used."""
    if task == "music":
        return {s: int(sum(len(r) for r in rolls)) for s, rolls in data.splits.items()}
    return {s: len(text) for s, text in data.splits.items()}
