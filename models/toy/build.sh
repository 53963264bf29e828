#!/bin/sh
# Rebuilds the shipped toy model set from the seeded toy generator and scores it:
#
#   sh models/toy/build.sh [priors|separators|all|elbo] [WORK]
#       WORK: scratch folder for the data, default /tmp/priorsep-toy
#
# Needs a built tree (build/cli/priorsep). On 2 cores: about 15 minutes per prior, and
# the separators as timed in the README. The unsupervised separator learns from
# samples of the priors' first runs (WORK/priors-1) and of the shipped priors, so
# `separators` needs a `priors` run in the same WORK first.
set -eu
cd "$(dirname "$0")/../.."
priorsep=./build/cli/priorsep
what=${1:-all}
work=${2:-/tmp/priorsep-toy}
steps=${PRIORSEP_TOY_STEPS:-4000}
toy=models/toy

$priorsep data toy --out "$work/train" --split train --items 400 --seed 1 --force --quiet
$priorsep data toy --out "$work/test" --split test --items 200 --seed 1 --force --quiet
# the shipped example: the first item of the test split
$priorsep data toy --out $toy/example --split test --items 1 --seed 1 --force --quiet

if [ "$what" = priors ] || [ "$what" = all ]; then
    # two runs each: $steps steps at lr 2e-3, then 8,000 more from those weights at lr
    # 1e-3 (the longer-trained priors' samples are what the unsupervised separator
    # learns from: after the first run alone, a sine prior's samples carry harmonics
    # at -13 to -16 dB, after the second at -35 to -40 dB)
    mkdir -p "$work/priors-1"
    for source in sine square sawtooth triangle; do
        $priorsep train prior --source "$source" --data "$work/train" \
            --out "$work/priors-1/$source.safetensors" --checkpoint "$work/$source-1.ckpt" \
            --log "$work/$source-1.csv" --steps "$steps" --batch 8 --crop 1024 --lr 2e-3 \
            --seed 1 --force --quiet
        $priorsep train prior --source "$source" --data "$work/train" \
            --init "$work/priors-1/$source.safetensors" --out "$toy/$source.safetensors" \
            --checkpoint "$work/$source-2.ckpt" --log "$work/$source-2.csv" --steps 8000 \
            --warmup 100 --batch 8 --crop 1024 --lr 1e-3 --seed 2 --force --quiet
    done
    $priorsep eval priors --models $toy/sine.safetensors $toy/square.safetensors \
        $toy/sawtooth.safetensors $toy/triangle.safetensors \
        --data "$work/test" --files 64 --csv $toy/priors-eval.csv | tee $toy/priors-eval.md
fi

if [ "$what" = separators ] || [ "$what" = all ]; then
    # separators see more items than the priors: 2,000 of the train split
    $priorsep data toy --out "$work/sep-train" --split train --items 2000 --seed 1 --force --quiet
    # supervised, in six runs, each from the last one's weights, all with beta-NLL
    # (--nll-beta 1: the plain NLL lets the well-predicted square starve the sine and
    # the triangle of gradient): 5,000 steps at lr 2e-3, then 5,000 at 1e-3, 8,000 at
    # 7e-4, 8,000 at 5e-4, 24,000 at 7e-4 and 10,000 at 4e-4
    $priorsep train separator --data "$work/sep-train" --out "$work/sup-5000.safetensors" \
        --checkpoint "$work/sup1.ckpt" --log "$work/sup1.csv" --steps 5000 --warmup 200 \
        --batch 8 --crop 2048 --lr 2e-3 --nll-beta 1 --seed 1 --force --quiet
    $priorsep train separator --data "$work/sep-train" --init "$work/sup-5000.safetensors" \
        --out "$work/sup-10000.safetensors" --checkpoint "$work/sup2.ckpt" --log "$work/sup2.csv" \
        --steps 5000 --warmup 100 --batch 8 --crop 2048 --lr 1e-3 --nll-beta 1 --seed 2 \
        --force --quiet
    $priorsep train separator --data "$work/sep-train" --init "$work/sup-10000.safetensors" \
        --out "$work/sup-18000.safetensors" --checkpoint "$work/sup3.ckpt" --log "$work/sup3.csv" \
        --steps 8000 --warmup 100 --batch 8 --crop 2048 --lr 7e-4 --nll-beta 1 --seed 3 \
        --force --quiet
    $priorsep train separator --data "$work/sep-train" --init "$work/sup-18000.safetensors" \
        --out "$work/sup-26000.safetensors" --checkpoint "$work/sup4.ckpt" --log "$work/sup4.csv" \
        --steps 8000 --warmup 100 --batch 8 --crop 2048 --lr 5e-4 --nll-beta 1 --seed 4 \
        --force --quiet
    $priorsep train separator --data "$work/sep-train" --init "$work/sup-26000.safetensors" \
        --out "$work/sup-50000.safetensors" --checkpoint "$work/sup5.ckpt" --log "$work/sup5.csv" \
        --steps 24000 --warmup 100 --batch 8 --crop 2048 --lr 7e-4 --nll-beta 1 --seed 5 \
        --force --quiet
    $priorsep train separator --data "$work/sep-train" --init "$work/sup-50000.safetensors" \
        --out $toy/separator.safetensors --checkpoint "$work/sup6.ckpt" --log "$work/sup6.csv" \
        --steps 10000 --warmup 100 --batch 8 --crop 2048 --lr 4e-4 --nll-beta 1 --seed 6 \
        --force --quiet
    # unsupervised, no true source anywhere: items sampled from the priors (at noise
    # level 0.1), mixed, and the separator trained on them with beta-NLL. Three runs:
    # 4,000 steps at lr 2e-3 and 6,000 at 1e-3 on items from the priors' first runs
    # (the set shipped before the priors' second runs), then 6,000 at 1e-3 on items
    # from the shipped priors
    $priorsep data priors --priors "$work/priors-1" --out "$work/prior-items-1" --items 400 \
        --seconds 1.5 --sigma 0.1 --seed 1 --force --quiet
    $priorsep train separator --data "$work/prior-items-1" --out "$work/uns-4000.safetensors" \
        --checkpoint "$work/uns1.ckpt" --log "$work/uns1.csv" --steps 4000 --warmup 200 \
        --batch 4 --crop 4096 --lr 2e-3 --nll-beta 1 --seed 1 --force --quiet
    $priorsep train separator --data "$work/prior-items-1" --init "$work/uns-4000.safetensors" \
        --out "$work/uns-10000.safetensors" --checkpoint "$work/uns2.ckpt" \
        --log "$work/uns2.csv" --steps 6000 --warmup 100 --batch 4 --crop 4096 --lr 1e-3 \
        --nll-beta 1 --seed 2 --force --quiet
    $priorsep data priors --priors $toy --out "$work/prior-items" --items 400 --seconds 1.5 \
        --sigma 0.1 --seed 1 --force --quiet
    $priorsep train separator --data "$work/prior-items" --init "$work/uns-10000.safetensors" \
        --out $toy/separator-unsupervised.safetensors --checkpoint "$work/uns3.ckpt" \
        --log "$work/uns3.csv" --steps 6000 --warmup 100 --batch 4 --crop 4096 --lr 1e-3 \
        --nll-beta 1 --seed 3 --force --quiet
    for model in separator separator-unsupervised; do
        # the headline: K = 0 on the first 200 test items; refinement (slower) on 50
        $priorsep eval separation --model $toy/$model.safetensors --data "$work/test" \
            --items 200 --quiet --csv $toy/$model-eval-200.csv | tee $toy/$model-eval-200.md
        for K in 0 1 4; do
            $priorsep eval separation --model $toy/$model.safetensors --data "$work/test" \
                --items 50 --refine $K --quiet --csv $toy/$model-eval-K$K.csv \
                | tee $toy/$model-eval-K$K.md
        done
    done
    $priorsep eval separation --model $toy/separator.safetensors --data "$work/test" \
        --items 200 --offline --quiet --csv $toy/separator-eval-offline.csv \
        | tee $toy/separator-eval-offline.md
fi

# The ELBO objective alone (mixtures and frozen priors, from scratch): measured, not
# shipped, because it does not separate (see the README).
if [ "$what" = elbo ]; then
    $priorsep data toy --out "$work/sep-train" --split train --items 2000 --seed 1 --force --quiet
    $priorsep train separator --objective unsupervised --priors $toy --data "$work/sep-train" \
        --out "$work/elbo.safetensors" --checkpoint "$work/elbo.ckpt" --log "$work/elbo.csv" \
        --steps 2000 --warmup 100 --batch 4 --crop 2048 --lr 2e-3 --seed 1 --force --quiet
    $priorsep eval separation --model "$work/elbo.safetensors" --data "$work/test" --items 200 \
        --quiet --csv $toy/elbo-eval-K0.csv | tee $toy/elbo-eval-K0.md
fi
