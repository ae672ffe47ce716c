#!/usr/bin/env bash
# Train every preset on the bundled digits into pretrained/, then write the evaluation report.
# This is the one command that produces pretrained/ (most of its time goes to conv_denoiser's 55 epochs).
# Models are saved without optimizer state (store.save); older files: scripts/strip_optimizer.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
for preset in dense_seed conv_seed dense_deep conv_denoiser; do
  "$PY" -m ae_core train "$preset" --out pretrained
done
# The VAEs (the digit manifold, the digit score) and the bottleneck ladder.
for preset in vae_2d vae_32d ladder_2 ladder_4 ladder_8 ladder_16 ladder_32 ladder_64; do
  "$PY" -m ae_core train "$preset" --out pretrained
done
"$PY" -m ae_core evaluate --models pretrained --report-dir benchmarks
