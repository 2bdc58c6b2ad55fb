#!/usr/bin/env bash
# The main job on the embedded default (Bach chorales from music21's corpus): look at the data, train a small
# RNN-NADE for a few minutes, score it on the test split, and sample songs (MIDI + piano-roll PNG) from it;
# then sample from the model seqgen ships (models/), with audio.
set -euo pipefail
BIN=${BIN:-.venv/bin}
OUT=${OUT:-runs/demo}
EPOCHS=${EPOCHS:-30}
"$BIN/seqgen" data info
"$BIN/seqgen" train-music --epochs "$EPOCHS" --seed 0 --out "$OUT/rnn-nade"
"$BIN/seqgen" score --model "$OUT/rnn-nade/best.pt" --data bach-chorales --split test
"$BIN/seqgen" sample --model "$OUT/rnn-nade/best.pt" --out "$OUT/samples/song.mid" --n 4 --seed 0 --png
"$BIN/seqgen" sample --out "$OUT/shipped/song.mid" --n 4 --seed 0 --png --wav
