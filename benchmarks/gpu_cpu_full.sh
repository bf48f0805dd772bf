#!/usr/bin/env bash
# The `cpu-full` fidelity preset on one GPU machine that lacks CIFAR-10's files, in one go:
# the ground truth (20 epochs on all 45,000 16x16 training images, seeds 0 and 1 on the
# preset's 32 architectures) in WORKERS processes sharing the GPU, a cvae generator
# pre-trained for D2M beside them, then every proxy of the preset and the report.
#
#   python benchmarks/with_tensors.py --save raw16.pt --resize 16     # here, from the files
#   bash benchmarks/gpu_cpu_full.sh raw16.pt OUT                       # there
#
# OUT receives cpu-full-truth.csv (import it with `nas ground-truth --import ... --resize 16`),
# the database (full.db) and the report. Each stage has a deadline (seconds from the start,
# TRUTH_BY and PROXIES_BY) so that whatever finished is exported within one device call.
set -uo pipefail
RAW=$1; OUT=$2
WORKERS=${WORKERS:-8}; TRUTH_BY=${TRUTH_BY:-330}; PROXIES_BY=${PROXIES_BY:-520}
EPOCHS=${EPOCHS:-20}; PRETRAIN=${PRETRAIN:-6000}
EXTRA=${EXTRA:-}; FIDELITY_EXTRA=${FIDELITY_EXTRA:-}  # smaller runs (tests of this script)
START=$SECONDS
TMP=$(mktemp -d)
nas() { python3 benchmarks/with_tensors.py "$RAW" "$@"; }
left() { echo $(( $1 - (SECONDS - START) > 10 ? $1 - (SECONDS - START) : 10 )); }
DATA="--data cifar10-tensors --resize 16 $EXTRA"

# the preset's architectures, longest first, dealt round-robin to the workers
mapfile -t ARCHS < <(python3 - <<'PY'
from nas.api import longest_first
from nas.bench.fidelity import PRESETS
from nas.core.selection import select_architectures
from nas.core.trainer import TrainConfig
from search_spaces import get_space
p = PRESETS["cpu-full"]
archs = select_architectures(get_space(p.space), sample=p.sample, seed=p.seed)
jobs = longest_first([(p.space, a, TrainConfig(), 0) for a in archs],
                     {"in_channels": 3, "im_size": 16, "num_classes": 10})
print("\n".join(j[1] for j in jobs))
PY
)
echo "$(date -u +%T) ${#ARCHS[@]} architectures, $WORKERS truth workers"
for ((w = 0; w < WORKERS; w++)); do
  mine=(); for ((i = w; i < ${#ARCHS[@]}; i += WORKERS)); do mine+=("${ARCHS[i]}"); done
  (for seed in 0 1; do
     timeout -s INT "$(left "$TRUTH_BY")" python3 benchmarks/with_tensors.py "$RAW" ground-truth \
       --db "sqlite:///$TMP/truth$w.db" $DATA --threads 1 --epochs "$EPOCHS" --seed $seed \
       --archs "${mine[@]}" > "$TMP/truth$w.log" 2>&1
   done) &
done
timeout -s INT "$(left "$TRUTH_BY")" python3 benchmarks/with_tensors.py "$RAW" pretrain \
  --db "sqlite:///$TMP/full.db" $DATA --threads 4 --width 16 --iterations "$PRETRAIN" \
  > "$TMP/pretrain.log" 2>&1; echo "$(date -u +%T) pretrain rc $?"; tail -2 "$TMP/pretrain.log"
wait
echo "$(date -u +%T) truth done"; tail -qn 1 "$TMP"/truth*.log
for ((w = 0; w < WORKERS; w++)); do
  nas ground-truth --db "sqlite:///$TMP/truth$w.db" $DATA --export "$TMP/truth$w.csv" >/dev/null &
done
wait
for ((w = 0; w < WORKERS; w++)); do
  nas ground-truth --db "sqlite:///$TMP/full.db" $DATA --import "$TMP/truth$w.csv"
done
nas ground-truth --db "sqlite:///$TMP/full.db" $DATA --export "$OUT/cpu-full-truth.csv"
timeout -s INT "$(left "$PROXIES_BY")" python3 benchmarks/with_tensors.py "$RAW" bench fidelity \
  --preset cpu-full --db "sqlite:///$TMP/full.db" --data cifar10-tensors $EXTRA \
  --truth-epochs "$EPOCHS" $FIDELITY_EXTRA --out "$TMP/report" > "$OUT/fidelity.log" 2>&1
echo "$(date -u +%T) fidelity rc $?"; tail -c 400 "$OUT/fidelity.log"; echo
[ -f "$TMP/report/report.md" ] || nas report --db "sqlite:///$TMP/full.db" $DATA \
  --proxy-epochs 50 --truth-epochs "$EPOCHS" --out "$TMP/report" > /dev/null
cp "$TMP/full.db" "$OUT/full.db"; cp "$TMP"/report/report.md "$TMP"/report/report.json "$OUT/" 2>/dev/null
cat "$TMP"/truth*.log "$TMP/pretrain.log" > "$OUT/truth-and-pretrain.log"
echo "$(date -u +%T) done in $((SECONDS - START)) s"
