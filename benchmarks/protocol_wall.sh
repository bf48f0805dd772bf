#!/usr/bin/env bash
# Whole-process wall and CPU time of ConvNet-3 at the literature's protocol (IPC 50, 32 px,
# DSA, 200 epochs) on a random real set: the toolkit (`nas search`, fresh database, cold
# compile cache) or the dataset-condensation authors' loop (benchmarks/authors_eval.py).
#
#   bash benchmarks/protocol_wall.sh toolkit|authors OUT_DIR [REPO_ROOT]
#
# REPO_ROOT (default: this checkout) is the code that runs, e.g. another commit's worktree
# for a before/after pair. Variables: EPOCHS (200), THREADS (1), PYTHON (python), DATA
# (../shared/data/cifar10), DC_CODE (../ext/DatasetCondensation, the authors' checkout),
# ISA (avx2: ATen, oneDNN and MKL limited to AVX2 kernels; empty: the CPU's own), AMP
# (--no-amp; --amp for bf16 where native). Writes OUT_DIR/<which>.time (GNU time -v),
# OUT_DIR/<which>.log and OUT_DIR/<which>.load (uptime before and after).
set -euo pipefail
which=$1 out=$2 root=${3:-$(cd "$(dirname "$0")/.." && pwd)}
EPOCHS=${EPOCHS:-200} THREADS=${THREADS:-1} PYTHON=${PYTHON:-python}
DATA=${DATA:-../shared/data/cifar10} DC_CODE=${DC_CODE:-../ext/DatasetCondensation}
ISA=${ISA-avx2} AMP=${AMP:---no-amp}
mkdir -p "$out"
out=$(cd "$out" && pwd) data=$(cd "$DATA" && pwd) code=$(cd "$DC_CODE" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
isa_env=()
if [ "$ISA" = avx2 ]; then
    isa_env=(ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2)
fi
case $which in
    toolkit) cmd=("$PYTHON" -m nas search --proxy random --ipc 50 --proxy-seed 0 --seed 0
                  --archs d3-w128-relu-instance-avg --epochs "$EPOCHS" "$AMP"
                  --threads "$THREADS" --data "$data" --db "sqlite:///$scratch/nas.db") ;;
    authors) cmd=("$PYTHON" "$root/benchmarks/authors_eval.py" "$code" --ipc 50 --seed 0
                  --epochs "$EPOCHS" --threads "$THREADS" --data "$data") ;;
    *) echo "give toolkit or authors, not $which" >&2; exit 2 ;;
esac
uptime > "$out/$which.load"
(cd "$root" && env "${isa_env[@]}" PYTHONPATH="$root" TORCHINDUCTOR_CACHE_DIR="$scratch/inductor" \
    /usr/bin/time -v -o "$out/$which.time" "${cmd[@]}" > "$out/$which.log" 2>&1)
uptime >> "$out/$which.load"
grep -E "Elapsed|User time|System time" "$out/$which.time"
