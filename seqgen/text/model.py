"""Recurrent language model: embedding → shared recurrent core → softmax over the tokenizer's vocabulary.

The model reads token t−1 and predicts token t; before the first token it reads the newline id
(start of text), so every token of a text, the first included, has a probability. A population
(`members=N`, seqgen.core.population) reads the same ids for every member: logits [N, B, T, V].
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from torch import Tensor, nn

from seqgen.core.population import MemberEmbedding, MemberLinear
from seqgen.core.recurrent import Recurrent, RecurrentConfig, State

LN2 = math.log(2.0)


@dataclass
class TextModelConfig:
    """Sizes of a `TextLM`: vocabulary V, embedding E and the recurrent core (input_size = E)."""

    vocab_size: int
    embedding_size: int
    recurrent: RecurrentConfig

    def to_dict(self) -> dict:
        """Plain nested dict for checkpoints."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TextModelConfig:
        """Inverse of `to_dict`; unknown or missing keys raise TypeError/KeyError."""
        return cls(**{**d, "recurrent": RecurrentConfig(**d["recurrent"])})


class TextLM(nn.Module):
    """Token ids [B, T] → next-token logits [B, T, V]; parameters `embedding` [V, E], the core, `output` [V, H]."""

    def __init__(self, config: TextModelConfig, members: int | None = None):
        super().__init__()
        self.config, self.members = config, members
        self.embedding = MemberEmbedding(config.vocab_size, config.embedding_size, members)
        self.rnn = Recurrent(config.recurrent, members)
        self.output = MemberLinear(config.recurrent.hidden_size, config.vocab_size, members)

    def initial_state(self, batch_size: int) -> State:
        """Zero recurrent state for `batch_size` sequences on the model's device."""
        return self.rnn.initial_state(batch_size)

    def forward(self, ids: Tensor, state: State | None = None) -> tuple[Tensor, State, Tensor]:
        """Inputs ids [B, T] → (logits [(N,) B, T, V], final state, hidden activations h [(N,) B, T, H])."""
        h, state = self.rnn(self.embedding(ids), state)
        return self.output(h), state, h

    def step(self, ids: Tensor, state: State) -> tuple[Tensor, State]:
        """One token per sequence, ids [B] → (logits [(N,) B, V], state)."""
        h, state = self.rnn.step(self.embedding(ids), state)
        return self.output(h), state
