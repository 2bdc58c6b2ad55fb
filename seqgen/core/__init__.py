"""What music and text share: the recurrent core, the optimisers and the training loop."""
