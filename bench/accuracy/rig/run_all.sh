#!/usr/bin/env bash
# The accuracy stages of issue 14 on the GPU rig (../shared/gpu), resumable: each run of this
# script continues where the last one stopped. Run from the project root on the GPU machine
# after start.sh and the model parts:  BUDGET=560 bash bench/accuracy/rig/run_all.sh
# Results live in /tmp/g/results/$TAG-<stage>.jsonl; the harness resumes them by model,
# dataset, index and arm. On the first run of a machine the committed
# bench/accuracy/results/$TAG-*.jsonl.gz are unpacked there, so a session continues the last.
# Env:
#   BUDGET            seconds this command may take (default 560; keep it under the call's limit)
#   NP                llama-server slots (default 128)
#   CONC              harness concurrency, over all shards (default 64). The harness takes
#                     items in order, arm by arm within an item: at 256, all 150 items of a new
#                     CePO arm started at once, none ended before the budget, and the
#                     command's cut lost them all (session 4's first command). At 64 they end
#                     one after another, and each CePO request's parallel steps (up to 9 for
#                     `medium`) still keep the slots busy
#   SHARDS            llama-server + proxy pairs on the one GPU (default 1). One llama-server
#                     works its slots from one main thread, which held a 128-slot server at
#                     one core with the GPU half idle; with SHARDS=2 the harness spreads its
#                     requests over the pairs' proxies (--base-url once per pair). Measured in
#                     session 4: two pairs made no more tokens per second than one (each
#                     ~7 steps/s instead of 10-14, 1,600-1,900 generated tokens/s together,
#                     the GPU 74-85% busy), hence the default. Pair k >= 2 listens on
#                     8089+k (llama-server) and 7999+k (proxy), logs to $G/llama<k>.log and
#                     $G/proxy<k>.log; the first is serve.sh's (8090, 8000). A pair that does
#                     not come up or answer is stopped and left out (the run goes on with the
#                     others); it is not tried again under the same settings until
#                     $G/shard<k>.failed is removed.
#   BACKEND_SAMPLING  1 (default): llama-server samples on the GPU (--backend-sampling). The
#                     default CPU sampler walks the 152k-token vocabulary once per sequence
#                     and step on one core, which capped the 128-slot run at ~10 steps/s
#                     (bench/RESULTS.md). If a probe request fails, it restarts without.
#   CACHE_RAM         llama-server --cache-ram in MiB (default 0: no host prompt cache)
#   ALONE=1           first, one request per preset with nothing else in flight
#   TAG               file names (default llamacpp-cuda-h200-qwen2.5-coder-1.5b-q4km)
# Every 20 s, CPU per process and each llama-server's token counters go to $OUT/monitor.log
# (the first's lines as they come, pair k's prefixed with "llama<k> ").
set -u
G=/tmp/g; BUDGET=${BUDGET:-560}; NP=${NP:-128}; SHARDS=${SHARDS:-1}; PROJ=${PROJ:-$PWD}
KEY=$(cat $G/bin/model.key)
TAG=${TAG:-llamacpp-cuda-h200-qwen2.5-coder-1.5b-q4km}
export LLAMA_ARG_CACHE_RAM=${CACHE_RAM:-0} LLAMA_ARG_BACKEND_SAMPLING=${BACKEND_SAMPLING:-1}
mkdir -p $G/results
# the model's pieces (bench/accuracy/rig/pieces.sh), carried one per call, joined once
if [ -d $G/chunks ] && [ ! -f $G/model.ok ]; then
  cat $G/chunks/c?? > $G/parts/p00 && rm -rf $G/chunks && echo "model pieces joined"
fi
for f in bench/accuracy/results/$TAG-*.jsonl.gz; do
  [ -e "$f" ] || continue
  dest=$G/results/$(basename "$f" .gz); [ -e "$dest" ] || gunzip -c "$f" > "$dest"
done
for _ in $(seq 150); do [ -f $G/build.done ] && break; sleep 3; done
echo "build: $(cat $G/build.done 2>/dev/null) after ${SECONDS}s"
stop_pair() {  # pair k >= 2: its proxy and llama-server
  kill $(cat $G/proxy$1.pid $G/llama$1.pid 2>/dev/null) 2>/dev/null; rm -f $G/proxy$1.pid $G/llama$1.pid
}
stop() {  # every pair, those of earlier runs with more shards included
  # serve.sh's proxy.pid is the subshell that started the proxy, which is its child
  pkill -P "$(cat $G/proxy.pid 2>/dev/null)" 2>/dev/null
  kill "$(cat $G/proxy.pid)" "$(cat $G/llama.pid)" 2>/dev/null
  for f in $G/llama[0-9]*.pid; do [ -e "$f" ] || continue; f=${f#$G/llama}; stop_pair "${f%.pid}"; done
  sleep 3
}
setup() {
  echo "np=$NP backend_sampling=$LLAMA_ARG_BACKEND_SAMPLING cache_ram=$LLAMA_ARG_CACHE_RAM shards=$SHARDS"
}
if [ -f $G/setup ] && [ "$(cat $G/setup)" != "$(setup)" ]; then stop; fi  # other settings: restart
probe() {  # one sampled completion from llama-server or a proxy on port $1 (default 8090)
  curl -sf --max-time 60 127.0.0.1:${1:-8090}/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"'"$KEY"'","messages":[{"role":"user","content":"Say hi."}],"max_tokens":8,"temperature":0.7}' \
    | grep -q '"content"'
}
serve() { NP=$NP bash $G/bin/serve.sh && probe; }
if ! serve; then
  [ "$LLAMA_ARG_BACKEND_SAMPLING" = 1 ] || exit 1
  echo "llama-server with backend sampling failed; restarting without it"; tail -5 $G/llama.log
  stop; export LLAMA_ARG_BACKEND_SAMPLING=0; serve || exit 1
fi
setup > $G/setup; echo "llama-server: $(setup)"
up() { curl -sf "$1" > /dev/null; }
pair() {  # pair k >= 2 up and answering, started as serve.sh starts the first (same flags, env)
  local k=$1 llama=$((8089 + $1)) proxy=$((7999 + $1)) pid
  if ! up 127.0.0.1:$llama/health; then
    setsid nohup $G/llama.cpp/build/bin/llama-server -m $G/$KEY.gguf --alias "$KEY" --host 127.0.0.1 \
      --port $llama -ngl 99 -np $NP -c $((NP * 8192)) -fa on --jinja --metrics > $G/llama$k.log 2>&1 < /dev/null &
    pid=$!; echo $pid > $G/llama$k.pid
    for _ in $(seq 120); do up 127.0.0.1:$llama/health && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
  fi
  up 127.0.0.1:$llama/health && probe $llama || { echo "llama-server $k (127.0.0.1:$llama) does not answer:"; tail -20 $G/llama$k.log; return 1; }
  if ! up 127.0.0.1:$proxy/health; then
    (cd "$PROJ" || exit 1  # then "&" backgrounds the proxy alone: $! is the proxy's pid
     PYTHONPATH=$G/site:$PROJ CEPO_UPSTREAM_BASE_URL=http://127.0.0.1:$llama/v1 CEPO_UPSTREAM_KIND=llamacpp \
      CEPO_UPSTREAM_MAX_CONCURRENCY=${CEPO_UPSTREAM_MAX_CONCURRENCY:-$NP} CEPO_MAX_CONCURRENT_REASONING=${CEPO_MAX_CONCURRENT_REASONING:-512} \
      CEPO_REASONING_QUEUE_TIMEOUT=${CEPO_REASONING_QUEUE_TIMEOUT:-600} CEPO_UPSTREAM_CONTEXT_LENGTH=8192 \
      CEPO_REQUEST_TIMEOUT=${CEPO_REQUEST_TIMEOUT:-1800} CEPO_LOG_FORMAT=json \
      setsid nohup python3 -m server serve --host 127.0.0.1 --port $proxy > $G/proxy$k.log 2>&1 < /dev/null & echo $! > $G/proxy$k.pid)
    for _ in $(seq 60); do up 127.0.0.1:$proxy/health && break; sleep 0.5; done
  fi
  up 127.0.0.1:$proxy/health && probe $proxy || { echo "proxy $k (127.0.0.1:$proxy) does not answer:"; tail -30 $G/proxy$k.log; return 1; }
}
PAIRS=1; BASES=""  # pairs in use; the harness's --base-url beyond eval.sh's (the first proxy)
for k in $(seq 2 "$SHARDS"); do
  if [ "$(cat $G/shard$k.failed 2>/dev/null)" = "$(setup)" ]; then
    echo "pair $k failed before under these settings; left out (rm $G/shard$k.failed to retry)"
  elif pair $k; then
    PAIRS="$PAIRS $k"; BASES="$BASES --base-url http://127.0.0.1:$((7999 + k))/v1"; rm -f $G/shard$k.failed
  else
    echo "pair $k stopped; going on without it"; stop_pair $k; setup > $G/shard$k.failed
  fi
done
CONC=${CONC:-64}
echo "pairs in use: $PAIRS; harness concurrency $CONC"
# the monitors of an earlier command write to its $OUT, which is gone: end them first
kill $(cat $G/monitor.pids 2>/dev/null) 2>/dev/null
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 15 \
  > "$OUT/gpu-$(date +%H%M).csv" 2>&1 &
echo $! > $G/monitor.pids
(while sleep 20; do
   date +%T; top -b -n1 -o %CPU | sed -n '8,14p'
   for k in $PAIRS; do
     prefix=""; [ "$k" = 1 ] || prefix="llama$k "
     curl -s 127.0.0.1:$((8089 + k))/metrics | sed "s/^/$prefix/" \
       | grep -E "^${prefix}llamacpp:(prompt_tokens_total|tokens_predicted_total|requests_processing|n_decode_total)"
   done
 done > "$OUT/monitor.log" 2>&1) &
echo $! >> $G/monitor.pids
if [ "${ALONE:-0}" = 1 ]; then
  PYTHONPATH=$G/site:$PWD python3 bench/accuracy/rig/alone.py 7 | tee "$OUT/alone.jsonl"
fi
COMMON="$BASES --concurrency $CONC --temperature 0 --max-tokens 1024"
REQ="baseline,low,medium,sc6,sc27"
# the paper's configuration, pinned: the default preset under it changed in session 5
# (its first 75 items ran on the preset of then, which had these values) and again in
# session 7 (plan_step off): every arm below that stands for a planned `medium` pins the
# plan shape (PLANS), so its remaining items run what its first ones did
PLANS='"plan_step": true, "planning_n": 3, "planning_m": 6'
PAPER='paper={'"$PLANS"', "bestofn_rating_type": "absolute", "selection_rule": "rating", '\
'"planning_temperature": 0.55, "execution_temperature": 0.25, "keep_execution_majority": false}'
MEDHOT='medhot={'"$PLANS"', "bestofn_rating_type": "binary", "execution_temperature": 0.7, '\
'"planning_temperature": 0.7, "keep_execution_majority": false}'
# the low preset of sessions 4-8, pinned (the `low` records are the preset before
# direct_on_disagreement; since session 9 `low` samples without plans, as `lowplain`)
LOWSHAPE='"plan_step": true, "planning_n": 2, "planning_m": 4, "bestofn_rating_type": "absolute", '\
'"planning_temperature": 0.55, "execution_temperature": 0.25'
LOWD='lowdirect={"reasoning_effort": "low", '"$LOWSHAPE"', "direct_on_disagreement": true}'
# `medium` of sessions 5 and 6 (keep_execution_majority, plans and executions at 0.7; the
# `medium` records are the preset before both), and the same at the paper's temperatures
MEDNOW='mednow={"reasoning_effort": "medium", '"$PLANS"', "bestofn_rating_type": "binary"}'
MEDCOOLNOW='medcoolnow={"reasoning_effort": "medium", '"$PLANS"', "bestofn_rating_type": "binary", '\
'"execution_temperature": 0.25, "planning_temperature": 0.55}'
# `medium` since session 7, pinned (the arm ran first as a variant of the planned preset):
# plain samples in place of plan + execute (plan_step off): 7 per candidate,
# refine and final, the majority rating (no rating calls), 27 calls. On the rig's GSM8K
# records a plan's execution was right no more often than a plain sample (56.9% against
# 56.6%), and the pool vote over 12 answers matched self-consistency over 9-12 samples
MEDPLAIN='medplain={"reasoning_effort": "medium", "plan_step": false, "planning_n": 7, '\
'"planning_m": 14, "bestofn_rating_type": "majority"}'
# `low` since session 9, pinned (the arm ran first in sessions 8-9 as a variant of the
# planned low; its replay on sc6's samples, `rescore`'s `lowplain replay (1 x 4)`, had
# given 65.3% on GSM8K and 28.0% on letters; live 64.7% and 27.0%): one candidate, 4 plain
# samples at 0.7 (sc6's temperature), refine and final, 6 calls as sc6; a final against
# 3 or 4 of the samples is rewritten
LOWPLAIN='lowplain={"reasoning_effort": "low", "plan_step": false, "planning_n": 4, '\
'"planning_m": 8, "direct_on_disagreement": false, "bestofn_rating_type": "majority", '\
'"execution_temperature": 0.7, "planning_temperature": 0.7}'
# session 9: the plan-free shapes with keep_execution_plurality (a final against the samples'
# plurality, more of them than any other answer and at least two, is written again);
# rescore's estimate on the records: lowplain 68.0% on GSM8K (97 of 150 as run) and 28.0%
# on letters, medplain 79.3% and 33.0%
LOWPLUR='lowplur={"reasoning_effort": "low", "plan_step": false, "planning_n": 4, '\
'"planning_m": 8, "direct_on_disagreement": false, "bestofn_rating_type": "majority", '\
'"execution_temperature": 0.7, "planning_temperature": 0.7, "keep_execution_plurality": true}'
MEDPLUR='medplur={"reasoning_effort": "medium", "plan_step": false, "planning_n": 7, '\
'"planning_m": 14, "bestofn_rating_type": "majority", "keep_execution_plurality": true}'
VARS='medblind={'"$PLANS"', "bestofn_rating_type": "blind", "rating_temperature": 0.7},'\
'low3={"reasoning_effort": "low", "plan_step": true, "bestofn_n": 3, "planning_n": 1, '\
'"planning_m": 2, "bestofn_rating_type": "majority", "selection_rule": "pool", '\
'"planning_temperature": 0.55, "execution_temperature": 0.25}'
left() { echo $((BUDGET - SECONDS - 25)); }
stage() {
  local name=$1 secs; shift; secs=$(left); [ "$secs" -gt 20 ] || return 0
  echo "== $name: ${secs}s left"; bash $G/bin/eval.sh $G/out "$TAG-$name" "$secs" -- "$@"
}
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$REQ" $COMMON
stage letters --datasets letters --sample 100 --seed 14 --arms "$REQ" $COMMON
# the harness interleaves arms item by item: few new arms per stage, so each reaches n = 150
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$REQ,$LOWD,$MEDHOT" $COMMON
stage letters --datasets letters --sample 100 --seed 14 --arms "$REQ,$LOWD" $COMMON
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$REQ,$LOWD,$MEDHOT,$MEDNOW" $COMMON
# session 7 on: medplain first (the open sc27 goal), then the rest of paper, then (session
# 8) lowplain, then the rest of medcoolnow (17 items ran in session 6)
DONE="$REQ,$LOWD,$MEDHOT,$MEDNOW"
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$DONE,$MEDPLAIN" $COMMON
# session 8: medplain on letters too (the default's letters figure had been a replay)
stage letters --datasets letters --sample 100 --seed 14 --arms "$REQ,$LOWD,$MEDPLAIN" $COMMON
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$DONE,$MEDPLAIN,$PAPER" $COMMON
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$DONE,$MEDPLAIN,$PAPER,$LOWPLAIN" $COMMON
stage letters --datasets letters --sample 100 --seed 14 --arms "$REQ,$LOWD,$MEDPLAIN,$LOWPLAIN" $COMMON
DONE="$DONE,$MEDPLAIN,$PAPER,$LOWPLAIN"
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$DONE,$LOWPLUR" $COMMON
stage letters --datasets letters --sample 100 --seed 14 --arms "$REQ,$LOWD,$MEDPLAIN,$LOWPLAIN,$LOWPLUR" $COMMON
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$DONE,$LOWPLUR,$MEDPLUR" $COMMON
DONE="$DONE,$LOWPLUR,$MEDPLUR"
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$DONE,$MEDCOOLNOW" $COMMON
stage gsm8k --datasets gsm8k --sample 150 --seed 14 --arms "$DONE,$MEDCOOLNOW,$VARS" $COMMON
for f in $G/results/*.jsonl; do gzip -c "$f" > "$OUT/$(basename "$f").gz"; done
tail -c 3000 $G/proxy.log > "$OUT/proxy-tail.log"
for k in $PAIRS; do [ "$k" = 1 ] || tail -c 3000 $G/proxy$k.log > "$OUT/proxy$k-tail.log"; done
echo "done after ${SECONDS}s"; ls -la "$OUT"
