#!/usr/bin/env bash
# Controllability of a tiny model trained on the demo corpus: conditioned samples against unconditioned
# ones from the same model (the chance level), for the valid split's most common condition sets and for
# a varied set of prompts (rarer keys, metres and tempo words, some with instruments).
# Needs `make demo` first (the corpus version data/demo). The model reads REMI tokens made here from
# that corpus (the demo's own tokens are ABC characters, which augmentation and the instruments
# condition do not reach). 26 minutes on 2 CPU cores with 6000 steps.
#   bash bench/controllability.sh [PRETRAIN_STEPS] [FINETUNE_STEPS]
# P=params.yaml and OUT=dir override the params file and the output folder (keep the params'
# train.storage_path at $OUT/runs).
set -euo pipefail
cd "$(dirname "$0")/.."
PRE=${1:-3000}
FT=${2:-500}
SC=.venv/bin/symcorpus
P=${P:-bench/controllability_params.yaml}
OUT=${OUT:-bench/out/controllability}
TOK=$OUT/tokens
rm -rf "$OUT"
# The repository's params.yaml tokenize section (grid, chunk length, dropouts), as the demo uses.
$SC tokenize --corpus data/demo --out $TOK --tokenizer remi
$SC train pretrain --tokens $TOK --name pre --params $P --max-steps "$PRE" --no-ray --cpu
$SC train finetune --tokens $TOK --init $OUT/runs/pre --name ft --params $P --max-steps "$FT" --cpu
echo "== the valid split's 8 most common condition sets"
$SC evaluate --checkpoint $OUT/runs/ft --tokens $TOK --out $OUT/eval_valid --n-sets 8 \
  --samples-per-set 8 --max-new-tokens 512 --params $P
echo "== varied prompts"
$SC evaluate --checkpoint $OUT/runs/ft --out $OUT/eval_varied --samples-per-set 24 --max-new-tokens 512 --params $P \
  --prompt 'key="A minor" time_signature=3/4 tempo=Andante' \
  --prompt 'key="D minor" time_signature=6/8 tempo=Presto' \
  --prompt 'key="Bb major" time_signature=3/8 tempo=Moderato' \
  --prompt 'key="E minor" time_signature=9/8 tempo=Presto' \
  --prompt 'key="C major" time_signature=4/2 tempo=Moderato instruments="Voice Oohs"' \
  --prompt 'key="G minor" time_signature=3/2 tempo=Andante instruments="Voice Oohs"' \
  --prompt 'key="A major" time_signature=2/2 tempo=Vivace' \
  --prompt 'key="F major" time_signature=6/4 tempo=Allegro instruments="Acoustic Grand Piano"'
