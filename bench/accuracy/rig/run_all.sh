#!/usr/bin/env bash
# The accuracy stages of issue 14 on the GPU rig (../shared/gpu), resumable: each run of this
# script continues where the last one stopped (the JSONL files in /tmp/g/results resume by
# model, dataset, index and arm). Run from the project root on the GPU machine after start.sh
# and the model parts:  BUDGET=560 NP=128 CONC=96 bash bench/accuracy/rig/run_all.sh
# Env: BUDGET (seconds this command may take, default 560), NP (llama-server slots, default
# 128), CONC (harness concurrency, default NP), CACHE_RAM (llama-server --cache-ram in MiB,
# default 0: its host prompt cache saves idle slots on every new task, which made the
# 256-slot run CPU-bound, see bench/RESULTS.md), ALONE=1 (first, one request per preset with
# nothing else in flight), GSM_TAG / TAG (results file names; a committed file is resumed when
# it is copied, gunzipped, to /tmp/g/results/ under its name first).
# Every 20 s, CPU per process and llama-server's token counters go to $OUT/monitor.log.
set -u
G=/tmp/g; BUDGET=${BUDGET:-560}; NP=${NP:-128}; CONC=${CONC:-$NP}
export LLAMA_ARG_CACHE_RAM=${CACHE_RAM:-0}
for _ in $(seq 150); do [ -f $G/build.done ] && break; sleep 3; done
echo "build: $(cat $G/build.done 2>/dev/null) after ${SECONDS}s"
if [ -f $G/np ] && [ "$(cat $G/np)" != "$NP" ]; then  # another slot count: restart both
  kill "$(cat $G/proxy.pid)" "$(cat $G/llama.pid)" 2>/dev/null; sleep 3
fi
NP=$NP bash $G/bin/serve.sh || exit 1
echo "$NP" > $G/np
TAG=${TAG:-llamacpp-cuda-h200-np$NP-cram$LLAMA_ARG_CACHE_RAM-qwen2.5-coder-1.5b-q4km}
GSM_TAG=${GSM_TAG:-$TAG}
(nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 15 \
  > "$OUT/gpu-$(date +%H%M).csv" 2>&1 &)
(while sleep 20; do
   date +%T; top -b -n1 -o %CPU | sed -n '8,12p'
   curl -s 127.0.0.1:8090/metrics | grep -E '^llamacpp:(prompt_tokens_total|tokens_predicted_total|requests_processing|n_decode_total)'
 done > "$OUT/monitor.log" 2>&1 &)
if [ "${ALONE:-0}" = 1 ]; then
  PYTHONPATH=$G/site:$PWD python3 bench/accuracy/rig/alone.py 7 | tee "$OUT/alone.jsonl"
fi
COMMON="--concurrency $CONC --temperature 0 --max-tokens 1024"
REQ="baseline,low,medium,sc6,sc27"
PAPER='paper={"bestofn_rating_type": "absolute", "selection_rule": "rating"}'
VARS='medhot={"execution_temperature": 0.7, "planning_temperature": 0.7},'\
'medblind={"bestofn_rating_type": "blind", "rating_temperature": 0.7},'\
'low3={"reasoning_effort": "low", "bestofn_n": 3, "planning_n": 1, "planning_m": 2, '\
'"bestofn_rating_type": "majority", "selection_rule": "pool"}'
left() { echo $((BUDGET - SECONDS - 25)); }
stage() {
  local name=$1 secs; shift; secs=$(left); [ "$secs" -gt 20 ] || return 0
  echo "== $name: ${secs}s left"; bash $G/bin/eval.sh $G/out "$name" "$secs" -- "$@"
}
stage "$GSM_TAG-gsm8k" --datasets gsm8k --sample 150 --seed 14 --arms "$REQ" $COMMON
stage "$TAG-letters" --datasets letters --sample 100 --seed 14 --arms "$REQ" $COMMON
stage "$GSM_TAG-gsm8k" --datasets gsm8k --sample 150 --seed 14 --arms "$REQ,$PAPER" $COMMON
stage "$GSM_TAG-gsm8k" --datasets gsm8k --sample 150 --seed 14 --arms "$REQ,$PAPER,$VARS" $COMMON
for f in $G/results/*.jsonl; do gzip -c "$f" > "$OUT/$(basename "$f").gz"; done
tail -c 3000 $G/proxy.log > "$OUT/proxy-tail.log"
echo "done after ${SECONDS}s"; ls -la "$OUT"
