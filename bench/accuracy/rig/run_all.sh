#!/usr/bin/env bash
# The accuracy stages of issue 14 on the GPU rig (../shared/gpu), resumable: each run of this
# script continues where the last one stopped. Run from the project root on the GPU machine
# after start.sh and the model parts:  BUDGET=560 bash bench/accuracy/rig/run_all.sh
# Results live in /tmp/g/results/$TAG-<stage>.jsonl; the harness resumes them by model,
# dataset, index and arm. On the first run of a machine the committed
# bench/accuracy/results/$TAG-*.jsonl.gz are unpacked there, so a session continues the last.
# Env:
#   BUDGET            seconds this command may take (default 560; keep it under the call's limit)
#   NP                llama-server slots (default 128); CONC harness concurrency (default NP)
#   BACKEND_SAMPLING  1 (default): llama-server samples on the GPU (--backend-sampling). The
#                     default CPU sampler walks the 152k-token vocabulary once per sequence
#                     and step on one core, which capped the 128-slot run at ~10 steps/s
#                     (bench/RESULTS.md). If a probe request fails, it restarts without.
#   CACHE_RAM         llama-server --cache-ram in MiB (default 0: no host prompt cache)
#   ALONE=1           first, one request per preset with nothing else in flight
#   TAG               file names (default llamacpp-cuda-h200-qwen2.5-coder-1.5b-q4km)
# Every 20 s, CPU per process and llama-server's token counters go to $OUT/monitor.log.
set -u
G=/tmp/g; BUDGET=${BUDGET:-560}; NP=${NP:-128}; CONC=${CONC:-$NP}
TAG=${TAG:-llamacpp-cuda-h200-qwen2.5-coder-1.5b-q4km}
export LLAMA_ARG_CACHE_RAM=${CACHE_RAM:-0} LLAMA_ARG_BACKEND_SAMPLING=${BACKEND_SAMPLING:-1}
mkdir -p $G/results
for f in bench/accuracy/results/$TAG-*.jsonl.gz; do
  [ -e "$f" ] || continue
  dest=$G/results/$(basename "$f" .gz); [ -e "$dest" ] || gunzip -c "$f" > "$dest"
done
for _ in $(seq 150); do [ -f $G/build.done ] && break; sleep 3; done
echo "build: $(cat $G/build.done 2>/dev/null) after ${SECONDS}s"
stop() { kill "$(cat $G/proxy.pid)" "$(cat $G/llama.pid)" 2>/dev/null; sleep 3; }
setup() { echo "np=$NP backend_sampling=$LLAMA_ARG_BACKEND_SAMPLING cache_ram=$LLAMA_ARG_CACHE_RAM"; }
if [ -f $G/setup ] && [ "$(cat $G/setup)" != "$(setup)" ]; then stop; fi  # other settings: restart
probe() {  # one sampled completion straight from llama-server
  curl -sf --max-time 60 127.0.0.1:8090/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"Say hi."}],"max_tokens":8,"temperature":0.7}' \
    | grep -q '"content"'
}
serve() { NP=$NP bash $G/bin/serve.sh && probe; }
if ! serve; then
  [ "$LLAMA_ARG_BACKEND_SAMPLING" = 1 ] || exit 1
  echo "llama-server with backend sampling failed; restarting without it"; tail -5 $G/llama.log
  stop; export LLAMA_ARG_BACKEND_SAMPLING=0; serve || exit 1
fi
setup > $G/setup; echo "llama-server: $(setup)"
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
  echo "== $name: ${secs}s left"; bash $G/bin/eval.sh $G/out "$TAG-$name" "$secs" -- "$@"
}
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$REQ" $COMMON
stage letters --datasets letters --sample 100 --seed 14 --arms "$REQ" $COMMON
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$REQ,$PAPER" $COMMON
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$REQ,$PAPER,$VARS" $COMMON
for f in $G/results/*.jsonl; do gzip -c "$f" > "$OUT/$(basename "$f").gz"; done
tail -c 3000 $G/proxy.log > "$OUT/proxy-tail.log"
echo "done after ${SECONDS}s"; ls -la "$OUT"
