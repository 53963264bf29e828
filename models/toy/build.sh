#!/bin/sh
# Rebuilds the shipped toy priors from the seeded toy generator, then scores them:
#
#   sh models/toy/build.sh [WORK]     (WORK: scratch folder for the data, default /tmp/priorsep-toy)
#
# Needs a built tree (build/cli/priorsep). About 5 minutes per prior on 2 cores.
set -eu
cd "$(dirname "$0")/../.."
priorsep=./build/cli/priorsep
work=${1:-/tmp/priorsep-toy}
steps=${PRIORSEP_TOY_STEPS:-3000}

$priorsep data toy --out "$work/train" --split train --items 400 --seed 1 --force --quiet
$priorsep data toy --out "$work/test" --split test --items 200 --seed 1 --force --quiet
for source in sine square sawtooth triangle; do
    $priorsep train prior --source "$source" --data "$work/train" \
        --out "models/toy/$source.safetensors" --checkpoint "$work/$source.ckpt" \
        --log "$work/$source.csv" --steps "$steps" --batch 8 --crop 1024 --lr 2e-3 \
        --seed 1 --force --quiet
done
$priorsep eval priors --models models/toy/sine.safetensors models/toy/square.safetensors \
    models/toy/sawtooth.safetensors models/toy/triangle.safetensors \
    --data "$work/test" --files 64 --csv models/toy/priors-eval.csv | tee models/toy/priors-eval.md
