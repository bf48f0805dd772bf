#!/usr/bin/env bash
# Pre-train the BigGAN-style generator on CIFAR-10 at 32x32 on one GPU (BigGAN's CIFAR width
# 64, batch 50, 4 discriminator steps) and export it as a file that any machine stores with
# `nas pretrain --from-checkpoint FILE` (then `nas distill --method d2m` refines it there).
#
#   bash benchmarks/gpu_pretrain_biggan.sh [OUT_DIR [NAS PRETRAIN FLAGS...]]
#   (ITERATIONS=N sets the budget; extra flags override the script's, e.g. --batch-size 128)
#
# ITERATIONS defaults to 10000, our estimate of ten minutes on one recent GPU; it has not been
# measured (no GPU was lent while this was written): read the printed wall time and adjust.
set -euo pipefail
OUT=${1:-gpu-biggan}
shift || true
ITERATIONS=${ITERATIONS:-10000}
NAS=${NAS:-nas}
DB="sqlite:///$(realpath -m "$OUT")/nas.db"
mkdir -p "$OUT"
start=$(date +%s)
"$NAS" pretrain --generator biggan --width 64 --iterations "$ITERATIONS" \
    --checkpoint-every 1000 --db "$DB" "$@"
echo "pre-training wall time: $(( $(date +%s) - start )) s for $ITERATIONS iterations"
generator=$(ls -t "$OUT"/artifacts/generators/*.pt | head -n 1)
cp "$generator" "$OUT/biggan-cifar10-32.pt"
echo "generator: $OUT/biggan-cifar10-32.pt (sample grids: $OUT/artifacts/work/)"
echo "import it: nas pretrain --from-checkpoint $OUT/biggan-cifar10-32.pt"
