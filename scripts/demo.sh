#!/usr/bin/env bash
# The main job on the embedded default (Bach chorales from music21's corpus): show the data and export a few pieces.
set -euo pipefail
BIN=${BIN:-.venv/bin}
OUT=${OUT:-runs/demo}
"$BIN/seqgen" data info
"$BIN/seqgen" data export --split test --out "$OUT/test-midi"
