#!/usr/bin/env bash
# The main job, quickest result first: sample songs from the model seqgen ships (seconds), then look at the
# embedded default (Bach chorales from music21's corpus), train a small RNN-NADE on it, score it on the test
# split and sample from it (MIDI + piano-roll PNG). Each step prints how long it took.
set -euo pipefail
BIN=${BIN:-.venv/bin}
OUT=${OUT:-runs/demo}
EPOCHS=${EPOCHS:-30}
# One intra-op thread: these models are small, and on a busy machine two OpenMP threads contending for two cores
# made training ~20x slower (2,400 -> 250 frames/s); one thread kept ~8,500 frames/s. Override by exporting it.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
step() {
    local name=$1
    shift
    echo "== $name" >&2
    TIMEFORMAT="== $name: %R s (CPU %U s user + %S s system)"
    time "$@"
}
step "sample from the shipped model" "$BIN/seqgen" sample --out "$OUT/shipped/song.mid" --n 4 --seed 0 --png --wav
step "data info" "$BIN/seqgen" data info
step "train" "$BIN/seqgen" train-music --epochs "$EPOCHS" --seed 0 --out "$OUT/rnn-nade" --force  # a rerun replaces it
step "score" "$BIN/seqgen" score --model "$OUT/rnn-nade/best.pt" --data bach-chorales --split test
step "sample from the trained model" \
    "$BIN/seqgen" sample --model "$OUT/rnn-nade/best.pt" --out "$OUT/samples/song.mid" --n 4 --seed 0 --png
