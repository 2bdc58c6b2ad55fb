"""`python -m seqgen.lab sweep | report`: the lab's commands without the top-level `seqgen` app."""

from seqgen.lab.cli import main

main()
