#!/usr/bin/env bash
# The device check (docs/speed.md#the-device-check): one call on a lent GPU machine, within
# 8 minutes, writing everything under $OUT. Each step runs under `timeout` with its own box
# and a failing step does not stop the others:
#   wheels, env    the Python packages (installed from $WHEELS where absent), torch, the card
#   pretrain       generator pre-training throughput (BigGAN-style, CIFAR width 64)
#   distill-d2m    D2M refines that generator and samples an IPC-$IPC set
#   speed          `nas bench speed` on the GPU: architectures/hour one at a time against
#                  the default concurrent workers, and the trainer against a plain loop
#   compile        the trainer eager against torch.compile on one architecture
#   protocol-*     the paper's protocol (IPC $IPC, $EPOCHS epochs, 32 px, DSA) on sampled
#                  convnet720 architectures, random then D2M set, as many as fit in the box
#   summary        $OUT/summary.md and .json: rates, the 720 grid's projected wall time,
#                  and every failure met; $OUT/runs.csv, speed.json, compile.json,
#                  steps.tsv (each step's seconds, exit status and box) and log.txt
#
#   python benchmarks/with_tensors.py --save gpu-check/raw32.pt --per-class 600 \
#       --test-per-class 100                                   # here, from the image files
#   bash benchmarks/gpu_check.sh                               # there (carry gpu-check)
set -uo pipefail
: "${OUT:?set OUT to the folder that receives the results}"
RAW=${RAW:-gpu-check/raw32.pt}; WHEELS=${WHEELS:-gpu-check/wheels}
IPC=${IPC:-50}; EPOCHS=${EPOCHS:-200}; ARCHS=${ARCHS:-96}  # architectures offered
PRETRAIN=${PRETRAIN:---generator biggan --width 64 --iterations 200}  # `nas pretrain` flags
D2M=${D2M:---iterations 50}  # `nas distill --method d2m` flags
SPEED=${SPEED:---archs d3-w128-relu-instance-avg --epochs 50 --ipc $IPC --grid-epochs 50}
COMPILE=${COMPILE:---archs d3-w128-relu-instance-avg --epochs 50 --ipc $IPC \
--trainers toolkit toolkit-compiled --grid-archs d3-w128-relu-instance-avg --grid-epochs 1 \
--workers 1}
GRID=${GRID:-16}  # sampled architectures of the speed grid
WORKERS=${WORKERS:-}  # --workers of the protocol steps (default: the device's)
EXTRA=${EXTRA:-}      # more dataset flags (tests of this script)
# time boxes in seconds: at most 390 (420 with wheels to install), so the call and the
# machine's start fit in 8 minutes of device time
BOX_ENV=${BOX_ENV:-30}; BOX_PRETRAIN=${BOX_PRETRAIN:-40}; BOX_D2M=${BOX_D2M:-45}
BOX_SPEED=${BOX_SPEED:-90}; BOX_COMPILE=${BOX_COMPILE:-45}; BOX_RANDOM=${BOX_RANDOM:-75}
BOX_D2M_PROTOCOL=${BOX_D2M_PROTOCOL:-45}; BOX_SUMMARY=${BOX_SUMMARY:-20}

mkdir -p "$OUT"; : > "$OUT/steps.tsv"; LOG=$OUT/log.txt; : > "$LOG"
TMP=$(mktemp -d); DB="sqlite:///$TMP/nas.db"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}:$TMP/site PYTHONUNBUFFERED=1
NAS=(python3 benchmarks/with_tensors.py "$RAW")  # `nas` on the tensors of $RAW
DATA="--data cifar10-tensors $EXTRA"

step() {  # step NAME BOX COMMAND...: run COMMAND time-boxed, log it, record its exit status
  local name=$1 box=$2 start=$EPOCHREALTIME status; shift 2
  echo "== $(date -u +%T) $name (box $box s): $*" >> "$LOG"
  timeout -k 15 -s INT "$box" "$@" >> "$LOG" 2>&1
  status=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$(awk "BEGIN {print $EPOCHREALTIME - $start}")" \
    "$status" "$box" >> "$OUT/steps.tsv"
  echo "   $name exit $status" >> "$LOG"
}

command -v nvidia-smi > /dev/null && nvidia-smi >> "$LOG" 2>&1
if ! python3 -c "import optuna, sqlalchemy, alembic" 2> /dev/null; then
  step wheels "$BOX_ENV" python3 -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --target "$TMP/site" "$WHEELS"/*.whl
fi
step env "$BOX_ENV" python3 benchmarks/gpu_check.py env

step pretrain "$BOX_PRETRAIN" "${NAS[@]}" pretrain --db "$DB" $DATA $PRETRAIN
step distill-d2m "$BOX_D2M" "${NAS[@]}" distill --method d2m --ipc "$IPC" --db "$DB" $DATA $D2M
mapfile -t GRID_ARCHS < <(python3 benchmarks/gpu_check.py archs "$GRID" 1)
step speed "$BOX_SPEED" "${NAS[@]}" bench speed $DATA $SPEED --grid-archs "${GRID_ARCHS[@]}" \
  --json "$OUT/speed.json"
step compile "$BOX_COMPILE" "${NAS[@]}" bench speed $DATA $COMPILE --json "$OUT/compile.json"
mapfile -t PROTOCOL_ARCHS < <(python3 benchmarks/gpu_check.py archs "$ARCHS" 0)
for proxy in random d2m; do
  box=$BOX_RANDOM; [ $proxy = d2m ] && box=$BOX_D2M_PROTOCOL
  step "protocol-$proxy" "$box" "${NAS[@]}" search --db "$DB" $DATA --proxy $proxy --ipc "$IPC" \
    --strategy grid --archs "${PROTOCOL_ARCHS[@]}" --epochs "$EPOCHS" ${WORKERS:+--workers $WORKERS}
done
step summary "$BOX_SUMMARY" python3 benchmarks/gpu_check.py summary "$OUT" "$DB"
cat "$OUT/summary.md" 2>/dev/null || tail -n 40 "$LOG"
rm -rf "$TMP"
