#!/usr/bin/env bash
# The accuracy stages of issue 14 on the GPU rig (../shared/gpu), resumable: each run of this
# script continues where the last one stopped (the JSONL files in /tmp/g/results resume by
# model, dataset, index and arm). Run from the project root on the GPU machine after start.sh
# and the model parts:  BUDGET=560 NP=64 CONC=64 bash bench/accuracy/rig/run_all.sh
# Env: BUDGET (seconds this command may take, default 560), NP (llama-server slots, default 64;
# 256 made llama-server CPU-bound, see bench/RESULTS.md), CONC (harness concurrency, default
# NP), ALONE=1 (first time one request per preset with nothing else in flight).
# A results file committed under bench/accuracy/results/ is resumed when it is copied (gunzip)
# to /tmp/g/results/ under the same name first; TAG names the files (default from NP).
set -u
G=/tmp/g; BUDGET=${BUDGET:-560}; NP=${NP:-64}; CONC=${CONC:-$NP}
for _ in $(seq 150); do [ -f $G/build.done ] && break; sleep 3; done
echo "build: $(cat $G/build.done 2>/dev/null) after ${SECONDS}s"
NP=$NP bash $G/bin/serve.sh || exit 1
TAG=${TAG:-llamacpp-cuda-h200-np$NP-qwen2.5-coder-1.5b-q4km}
(nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 15 \
  > "$OUT/gpu-$(date +%H%M).csv" 2>&1 &)
if [ "${ALONE:-0}" = 1 ]; then
  PYTHONPATH=$G/site:$PWD python3 bench/accuracy/rig/alone.py 7 | tee "$OUT/alone.jsonl"
fi
COMMON="--concurrency $CONC --temperature 0 --max-tokens 1024"
REQ="baseline,low,medium,sc6,sc27"
VARS='medhot={"execution_temperature": 0.7, "planning_temperature": 0.7},'\
'medblind={"bestofn_rating_type": "blind", "rating_temperature": 0.7},'\
'low3={"reasoning_effort": "low", "bestofn_n": 3, "planning_n": 1, "planning_m": 2, '\
'"bestofn_rating_type": "majority", "selection_rule": "pool"}'
left() { echo $((BUDGET - SECONDS - 25)); }
stage() {
  local name=$1 secs; shift; secs=$(left); [ "$secs" -gt 20 ] || return 0
  echo "== $name: ${secs}s left"; bash $G/bin/eval.sh $G/out "$TAG-$name" "$secs" -- "$@"
}
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$REQ" $COMMON
stage letters --datasets letters --sample 100 --seed 14 --arms "$REQ" $COMMON
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$REQ,$VARS" $COMMON
for f in $G/results/*.jsonl; do gzip -c "$f" > "$OUT/$(basename "$f").gz"; done
tail -c 3000 $G/proxy.log > "$OUT/proxy-tail.log"
echo "done after ${SECONDS}s"; ls -la "$OUT"
