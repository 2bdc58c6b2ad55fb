"""The text product's registry entry: train, load, sample and score recurrent language models (seqgen.tasks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqgen.errors import SeqgenError
from seqgen.tasks import Outcome, Progress

CORPORA = ("ptb", "ptb-char")


class TextSpec:
    """Leaky-integration RNN language models on character, word or sentencepiece tokens."""

    name = "text"
    sample_suffixes = (".txt",)

    def owns_data(self, data: str | None, text: Path | None) -> bool:
        """A text file, or a named text corpus."""
        return text is not None or data in CORPORA

    def train(self, options: dict[str, Any]) -> tuple[str, bool]:
        """Fit a tokenizer (or reuse the resumed run's), build the configs and run the shared loop."""
        from seqgen.text.configs import build_configs
        from seqgen.text.corpus import load_corpus
        from seqgen.text.train_text import train_text

        corpus = load_corpus(
            options["data"], text=options["text"], valid=options["valid"],
            valid_fraction=options["valid_fraction"], data_dir=options["data_dir"],
        )  # fmt: skip
        configs = build_configs(options)
        result = train_text(
            corpus, configs, options["out"], tokenizer=options["tokenizer"], vocab_size=options["vocab_size"],
            sp_model=options["sp_model"], resume=options["resume"], override=options["override"],
        )  # fmt: skip
        if not result.best_epoch:
            return f"no epoch completed; checkpoints in {options['out']}", result.interrupted
        best = result.metrics[result.best_epoch - 1]["valid"]
        line = (
            f"best valid {best['bits_per_char']:.4f} bits/char (epoch {result.best_epoch}), per-token perplexity "
            f"{best['perplexity']:.2f}; checkpoints in {options['out']}"
        )
        return line, result.interrupted

    def load(self, ckpt: dict[str, Any], path: Path, device: Any):
        """The TextLM and tokenizer of a checkpoint, checked against each other, in eval mode on `device`."""
        from seqgen.checkpoint import load_weights, malformed_reason
        from seqgen.text.model import TextLM, TextModelConfig
        from seqgen.text.tokenizer import tokenizer_from_dict

        try:
            config = TextModelConfig.from_dict(ckpt["model_config"])
            for name in ("vocab_size", "embedding_size"):
                value = getattr(config, name)
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise SeqgenError(f"model_config {name} {value!r} is not a positive integer")
            model = TextLM(config)
            load_weights(model, ckpt["state_dict"])
            tokenizer = tokenizer_from_dict(ckpt["tokenizer"])
        except SeqgenError as exc:
            raise SeqgenError(f"{path}: not a usable text checkpoint ({exc})") from None
        except Exception as exc:  # noqa: BLE001 -- a malformed entry may fail anywhere in sentencepiece or torch
            raise SeqgenError(f"{path}: not a usable text checkpoint ({malformed_reason(exc)})") from None
        if tokenizer.vocab_size != config.vocab_size:
            raise SeqgenError(
                f"{path}: its tokenizer has {tokenizer.vocab_size} tokens but the model {config.vocab_size}"
            )
        model.tokenizer = tokenizer
        return model.to(device).eval()

    def sample(self, ckpt: dict, model, options: dict[str, Any], progress: Progress) -> Outcome:
        """Continue the prompt n times in one batch; texts are printed, or written when --out is given."""
        from seqgen.fileio import numbered_paths, write_texts_atomic
        from seqgen.runtime import make_generator
        from seqgen.text.sample import continue_text

        device = next(model.parameters()).device
        texts = continue_text(
            model, model.tokenizer, options["prompt"] or "", length=options["length"],
            temperature=options["temperature"], top_k=options["top_k"], n=options["n"],
            generator=make_generator(options["seed"], device),
        )  # fmt: skip
        if options["out"] is None:
            return Outcome(result={"texts": texts})
        paths = numbered_paths(options["out"], options["n"])
        write_texts_atomic(paths, texts)
        return Outcome(paths, [f"{options['n']} text(s), seed {options['seed']}"])

    def score(self, ckpt: dict, model, options: dict[str, Any], progress: Progress) -> Outcome:
        """Bits per character, per-token and per-word perplexity of a text file or a named corpus split."""
        from seqgen.text.corpus import load_corpus, read_text_file
        from seqgen.text.score import score_text

        if (options["file"] is None) == (options["data"] is None):
            raise SeqgenError("give a text file or a named corpus (ptb, ptb-char) to score, not both or neither")
        if options["file"] is not None:
            text = read_text_file(options["file"])
        else:
            corpus = load_corpus(options["data"], data_dir=options["data_dir"])
            text = corpus.splits.get(options["split"])
            if not text:
                raise SeqgenError(f"{options['data']}: no {options['split']} split")
        return Outcome(result=score_text(model, model.tokenizer, text, progress))


SPEC = TextSpec()
