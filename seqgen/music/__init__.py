"""Polyphonic music: piano-rolls, datasets, RNN-NADE / RNN-RBM / RNN models, sampling and scoring."""
