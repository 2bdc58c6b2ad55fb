"""The long-term-dependency lab: synthetic tasks generated from a seed, populations of RNNs trained as one
batched model, gradient diagnostics (VEG profiles), factorial sweeps on Dask and their reports.

Only light modules are imported here, so that `seqgen lab --help` starts without loading torch.
"""
