"""`python -m seqgen ...` runs the command line (and is what `torchrun -m seqgen` launches)."""

from seqgen.cli import main

main()
