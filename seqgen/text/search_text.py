"""A learning-rate search of a text language model: one population (seqgen.core.population_search) on the task
`train_text` trains, reading the ids of a tokenizer fitted once by the caller."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from seqgen.core.run_configs import RunConfigs
from seqgen.text.corpus import TextCorpus
from seqgen.text.tokenizer import Tokenizer


def search_text(corpus: TextCorpus, tokenizer: Tokenizer, configs: RunConfigs, out_dir: str | Path, search, *,
                resume: bool = False):  # fmt: skip
    """Run (or resume) the search `search` (a SearchConfig) of the model `configs` describe; returns every member."""
    from seqgen.core.population_fit import MemberSpec
    from seqgen.core.population_search import run_search
    from seqgen.text.model import TextLM
    from seqgen.text.train_text import TextTask

    class SearchTask(TextTask):
        def evaluate(self, model, split="valid"):
            """Exact scores, or a non-finite one for a member so far off that its perplexity overflows a float."""
            try:
                return super().evaluate(model, split)
            except OverflowError:
                return {"score": -math.inf}

    model_config, train, optim = configs.model, configs.train, configs.optim
    task = SearchTask(corpus, tokenizer, train)
    model_config = replace(model_config, vocab_size=tokenizer.vocab_size)
    base = MemberSpec(seed=train.seed, lr=optim.lr, momentum=optim.momentum, clip=train.clip, l1=train.l1)
    return run_search(task, lambda: TextLM(model_config), search, base, optim, train, out_dir, resume=resume)
