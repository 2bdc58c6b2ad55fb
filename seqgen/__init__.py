"""seqgen: generative models of sequences (polyphonic music as piano-rolls, and text)."""

__version__ = "0.1.0"
