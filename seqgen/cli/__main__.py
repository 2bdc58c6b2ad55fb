"""`python -m seqgen.cli ...` runs the command line."""

from seqgen.cli import main

main()
