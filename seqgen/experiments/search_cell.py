"""The search of one cell: the row's options as a population learning-rate search (music or text), the setting
selected on validation (the best mean over its seeds), and the test score of each of its seeds."""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from seqgen.experiments.grid import Budget

SEARCH_KEYS = ("lr_range",)  # row options that describe the search, not the model


def search_config(options: dict[str, Any], budget: Budget):
    """The SearchConfig of a cell: the row's ε range, the dataset's trials, seeds, rungs and keep, by setting."""
    from seqgen.core.population_search import SearchConfig

    low, high = options["lr_range"]
    return SearchConfig(low, high, trials=budget.trials, seeds=budget.seeds, rungs=tuple(budget.rungs),
                        keep=budget.keep, by_setting=True, min_delta=budget.min_delta)  # fmt: skip


def pretrain_epochs(kind: str | None, train_frames: int, budget: Budget) -> int:
    """Epochs of RBM pretraining on single frames, about `budget.rbm_pretrain_frames` in all (none for NADE and
    Bernoulli)."""
    return max(1, round(budget.rbm_pretrain_frames / max(train_frames, 1))) if kind == "rnn-rbm" else 0


def run_search_cell(spec: dict[str, Any], task: str, data: Any, budget: Budget, run_dir: Path) -> dict[str, Any]:
    """Run (or resume) the cell's search; return its part of the record: options, configs, search, selection, test."""
    from seqgen.options import product_configs, training_options

    row_options = {k: v for k, v in spec["options"].items() if k not in SEARCH_KEYS}
    if budget.lr_decay is not None:  # the dataset's ε decay, the same for every row of its column
        row_options["lr_decay"] = budget.lr_decay
    search = search_config(spec["options"], budget)
    resume = (run_dir / "search.pt").is_file()
    options = training_options(
        task, **row_options, lr=search.lr_low, epochs=budget.epochs, batch_size=budget.batch_size,
        patience=budget.patience, seed=spec["seed"], device=spec["device"], out=run_dir, resume=resume,
    )  # fmt: skip
    build = product_configs(task).build_configs
    if task == "music":
        from seqgen.music.train_music import search_music

        frames = sum(len(r) for r in data.splits["train"])
        options["pretrain_epochs"] = pretrain_epochs(options.get("model"), frames, budget)
        configs = build(options, n_inputs=data.n_pitches)
        members = search_music(
            data, configs, run_dir, search, resume=resume, pretrain_epochs=options["pretrain_epochs"],
            valid_ais_runs=options["valid_ais_runs"], valid_ais_steps=options["valid_ais_steps"],
        )  # fmt: skip
        tokenizer = None
    else:
        from seqgen.text.search_text import search_text
        from seqgen.text.tokenizer import train_tokenizer

        tokenizer = train_tokenizer(options["tokenizer"], data.splits["train"])
        configs = build(options)
        members = search_text(data, tokenizer, configs, run_dir, search, resume=resume)
    part: dict[str, Any] = {
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in options.items()},
        "configs": {"model": asdict(configs.model), "optim": asdict(configs.optim), "train": asdict(configs.train)},
        "search": _search_record(search, budget, members),
    }  # fmt: skip
    return {**part, **_select_and_score(task, data, configs, members, tokenizer, budget, spec)}


def _search_record(search, budget: Budget, members: list) -> dict[str, Any]:
    """Every member: ε, seed, status and why, epochs, best validation score and epoch, and its curves."""
    curve = lambda m, key: [e[key] for e in m.curve]
    return {
        "lr_range": [search.lr_low, search.lr_high], "trials": search.trials, "seeds": search.seeds,
        "rungs": list(search.rungs), "keep": search.keep, "ranked_by": "setting (mean best valid over its seeds)",
        "patience": budget.patience, "min_delta": budget.min_delta, "epoch_cap": budget.epochs,
        "members": [
            {"member": i, "lr": m.spec.lr, "seed": m.spec.seed, "momentum": m.spec.momentum, "clip": m.spec.clip,
             "l1": m.spec.l1, "status": m.status, "reason": m.reason, "epochs": len(m.curve),
             "best_valid": m.best_valid, "best_epoch": m.best_epoch,
             "valid_curve": [e["valid"].get("score") for e in m.curve], "train_curve": curve(m, "train_loss"),
             "grad_norm_mean": curve(m, "grad_norm_mean"), "clip_rate": curve(m, "clip_rate"),
             "epoch_seconds": curve(m, "seconds")}
            for i, m in enumerate(members)
        ],
    }  # fmt: skip


def _select_and_score(task, data, configs, members, tokenizer, budget: Budget, spec) -> dict[str, Any]:
    """The selected setting (best mean valid score over its seeds), each seed's test score, their mean and range."""
    from seqgen.core.population_search import best_setting, setting_score

    chosen = best_setting(members)
    valid = setting_score(members, chosen)
    sign = -1.0 if task == "text" else 1.0  # text scores are −bits/char inside the engine
    if not math.isfinite(valid) or any(members[i].best_state is None for i in chosen):
        return {"status": "diverged", "error": "no setting reached a finite validation score", "test": None,
                "best_valid": None}  # fmt: skip
    per_seed = [_score_member(task, data, configs, members[i].best_state, tokenizer, budget, spec) for i in chosen]
    scores = [s["score"] for s in per_seed]
    test = {"score": sum(scores) / len(scores), "min": min(scores), "max": max(scores), "unit": per_seed[0]["unit"],
            "estimator": per_seed[0].get("estimator", "exact"), "per_seed": per_seed}  # fmt: skip
    if test["estimator"] != "exact":
        test["lower"] = sum(s["lower"] for s in per_seed) / len(per_seed)
        test["stderr"] = math.sqrt(sum(s["stderr"] ** 2 for s in per_seed)) / len(per_seed)
        test["frames"] = per_seed[0]["frames"]
    m = [members[i] for i in chosen]
    selected = {
        "lr": m[0].spec.lr, "members": chosen, "seeds": [x.spec.seed for x in m],
        "valid": [sign * x.best_valid for x in m], "best_epochs": [x.best_epoch for x in m],
        "epochs": [len(x.curve) for x in m], "stopped": [x.reason or x.status for x in m],
        "stopped_by_patience": all(x.status == "stopped" for x in m),
    }  # fmt: skip
    return {"status": "ok", "selected": selected, "best_valid": sign * valid, "test": test,
            "valid_unit": "bits/char" if task == "text" else "nats/frame"}  # fmt: skip


def _score_member(task, data, configs, state, tokenizer, budget: Budget, spec) -> dict[str, Any]:
    """Test scores of one member's best weights: nats/frame (exact, or AIS on ≤ rbm_test_cap frames) or bits/char."""
    from dataclasses import replace

    import torch

    with torch.no_grad():
        if task == "text":
            from seqgen.text.model import TextLM
            from seqgen.text.score import score_text

            model = TextLM(replace(configs.model, vocab_size=tokenizer.vocab_size))
            model.load_state_dict(state)
            scores = score_text(model.eval(), tokenizer, data.splits["test"])
            return {"score": scores["bits_per_char"], "unit": "bits/char", **scores}
        from seqgen.experiments.cell import music_subset
        from seqgen.music.model import MusicModel
        from seqgen.music.score import score_rolls

        model = MusicModel(configs.model)
        model.load_state_dict(state)
        rolls, cond = data.splits["test"], model.eval().conditional
        if cond.estimator != "exact":
            rolls = music_subset(rolls, budget.rbm_test_cap)
        ais = {"ais_runs": spec["ais_runs"], "ais_steps": spec["ais_steps"]}
        cond.configure(**{k: v for k, v in ais.items() if k in cond.settings})
        scores = score_rolls(model, rolls, generator=torch.Generator().manual_seed(0))
    keep = ("log_likelihood_per_frame", "stderr", "lower", "upper", "estimator", "frames", "frame_accuracy")
    return {"score": scores["log_likelihood_per_frame"], "unit": "nats/frame", **{k: scores.get(k) for k in keep}}
