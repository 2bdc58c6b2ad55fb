"""Text LM throughput: training tokens/s (forward + backward + update) and generation tokens/s at batch 1 and 64.

Random weights and token ids; sizes as the PTB runs (char: V = 51, word: V = 10,000). Writes
results/ptb-bench.json with the command, threads and figures.

    python scripts/bench_text.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch import nn

from seqgen.core.optim import OptimConfig, make_optimizer
from seqgen.core.recurrent import RecurrentConfig
from seqgen.fileio import write_text_atomic
from seqgen.text.model import TextLM, TextModelConfig
from seqgen.text.sample import sample_tokens


def train_rate(model: TextLM, batch: int, chunk: int, steps: int) -> float:
    """Tokens per second of truncated-BPTT training steps with carried state (after one warm-up step)."""
    optimizer = make_optimizer(model.parameters(), OptimConfig("nesterov", lr=0.1))
    ids = torch.randint(model.config.vocab_size, (steps + 1, batch, chunk + 1))
    state, started = None, 0.0
    for i in range(steps + 1):
        if i == 1:
            started = time.perf_counter()
        logits, state, _ = model(ids[i, :, :-1], state)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), ids[i, :, 1:].flatten())
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        state = state.detach()
    return steps * batch * chunk / (time.perf_counter() - started)


def generation_rate(model: TextLM, n: int, length: int) -> float:
    """Tokens per second of batched ancestral sampling (n sequences × length tokens)."""
    generator = torch.Generator().manual_seed(0)
    context = torch.zeros(1, dtype=torch.long)
    sample_tokens(model, context, length=5, n=n, generator=generator)
    started = time.perf_counter()
    sample_tokens(model, context, length=length, n=n, generator=generator)
    return n * length / (time.perf_counter() - started)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--length", type=int, default=200)
    p.add_argument("--out", type=Path, default=Path("results/ptb-bench.json"))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for level, vocab in (("char", 51), ("word", 10_000)):
        for cell, leaky in (("tanh", True), ("tanh", False), ("lstm", False)):
            config = TextModelConfig(vocab, 64, RecurrentConfig(64, args.hidden, cell=cell, leaky=leaky))
            model = TextLM(config)
            row = {"level": level, "vocab": vocab, "cell": cell, "leaky": leaky, "hidden": args.hidden,
                   "train_tokens_per_s_b32_t100": train_rate(model, 32, 100, args.steps)}  # fmt: skip
            model.eval()
            for n in (1, 64):
                row[f"generate_tokens_per_s_b{n}"] = generation_rate(model, n, args.length)
            rows.append(row)
            print(
                f"{level:4s} V={vocab:<6d} {cell}{' leaky' if leaky else '      '} H={args.hidden}: "
                f"train {row['train_tokens_per_s_b32_t100']:9,.0f} tok/s (B=32, T=100); generate "
                f"{row['generate_tokens_per_s_b1']:8,.0f} tok/s at batch 1, "
                f"{row['generate_tokens_per_s_b64']:9,.0f} at batch 64",
                flush=True,
            )
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "threads": args.threads,
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "note": "shared 2-core CPU; other jobs may have been running",
        "rows": rows,
    }
    write_text_atomic(args.out, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
