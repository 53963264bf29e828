#!/bin/sh
# Full-scale runs of the image models (design section 9, issue "image density models"):
# each model trained on binarized Fashion-MNIST (60,000 train images, binarized with
# seed 1; the 10,000 test images with seed 2), scored on the whole test set against the
# independent-pixel baseline, with a grid of 64 samples; PixelCNN and RIDE also on 8-bit
# dead leaves. Every run is one core (OpenBLAS pinned to one thread).
#
#   sh bench/image_runs.sh [OUT] [NAME ...]     OUT default bench/image-results
#
# NAME picks runs from the table below (default: all, one after the other). Results are
# appended to OUT/runs.csv; samples go to OUT/NAME.png; the log to OUT/NAME.log.
set -eu
cd "$(dirname "$0")/.."
bench=${BENCH_IMAGE:-./build/bench/bench_image}
out=${1:-bench/image-results}
[ $# -gt 0 ] && shift
mkdir -p "$out"

config() { # NAME -> bench_image arguments
    case $1 in
    pixelcnn)        echo "pixelcnn --hidden 32 --layers 5 --steps 2500 --lr 2e-3" ;;
    pixelcnn-64)     echo "pixelcnn --hidden 64 --layers 5 --steps 3000 --lr 2e-3" ;;
    gated-pixelcnn)  echo "gated-pixelcnn --hidden 32 --layers 5 --steps 1500 --lr 1e-3" ;;
    gated-pixelcnn-4k) echo "gated-pixelcnn --hidden 32 --layers 5 --steps 4000 --lr 2e-3" ;;
    row-lstm)        echo "row-lstm --hidden 16 --layers 2 --steps 1500 --lr 3e-3" ;;
    row-lstm-32)     echo "row-lstm --hidden 32 --layers 2 --steps 2500 --lr 3e-3" ;;
    diagonal-bilstm) echo "diagonal-bilstm --hidden 16 --layers 2 --steps 1000 --lr 3e-3" ;;
    diagonal-bilstm-3k) echo "diagonal-bilstm --hidden 16 --layers 2 --steps 3000 --lr 3e-3" ;;
    made)            echo "made --hidden 500 --layers 2 --ensemble 4 --steps 20000 --lr 3e-3" ;;
    ride)            echo "ride --hidden 32 --layers 1 --components 8 --ensemble 2 --steps 4000 --lr 1e-2" ;;
    vrae)            echo "vrae --hidden 128 --latent 32 --steps 6000 --lr 2e-3" ;;
    vqvae)           echo "vqvae --hidden 256 --latent 32 --components 256 --steps 5000 --lr 2e-3" ;;
    ladder-vae)      echo "ladder-vae --hidden 512 --layers 2 --latent 32 --batch 64 --steps 20000 --lr 1e-3" ;;
    pixelcnn-leaves) echo "pixelcnn --data dead-leaves --levels 256 --size 16 --hidden 32 --layers 5 --steps 2000 --lr 2e-3" ;;
    ride-leaves)     echo "ride --data dead-leaves --levels 256 --size 16 --hidden 32 --layers 1 --components 8 --steps 3000 --lr 1e-2" ;;
    *) echo "image_runs: $1: no such run" >&2; return 1 ;;
    esac
}

names=${*:-"pixelcnn pixelcnn-64 gated-pixelcnn gated-pixelcnn-4k row-lstm row-lstm-32 diagonal-bilstm diagonal-bilstm-3k made ride vrae vqvae ladder-vae pixelcnn-leaves ride-leaves"}
for name in $names; do
    args=$(config "$name")
    echo "== $name: bench_image $args" >&2
    # shellcheck disable=SC2086
    "$bench" $args --png "$out/$name.png" --csv "$out/runs.csv" 2>"$out/$name.log" | tail -1
done
