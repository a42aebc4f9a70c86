#!/usr/bin/env bash
# Build the cepo-proxy image and check it for real against the scripted upstream.
#
#   docker/smoke.sh                      (from anywhere; run as root if dockerd must start)
#
# What it does, all on the host's network namespace (never Docker's default bridge,
# which sits on a private address range):
#   1. a Docker engine: uses a running one; otherwise installs docker.io (apt-get) if
#      needed and starts `dockerd --bridge=none --iptables=false` in the background;
#   2. a base image: $BASE_IMAGE if given, else python:3.12-slim if present or
#      pullable, else a debootstrap image built by docker/build-base-image.sh (cached);
#   3. `docker build --network host`, and prints the image size;
#   4. the scripted upstream (python -m tests.fake_upstream) on 127.0.0.1, and the
#      image with --network host: /health, /v1/models, one streamed CePO completion
#      ending with [DONE], the image's own HEALTHCHECK turning healthy, and a clean
#      `docker stop` (SIGTERM, exit code 0);
#   5. a second run against a slow upstream: `docker stop` during an open stream ends
#      that stream with an error chunk and [DONE] after CEPO_SHUTDOWN_GRACE_SECONDS;
#   6. says what it skipped (the compose stack with Ollama needs a registry and
#      bridge networking) and removes its containers and upstream processes.
#
# Environment: BASE_IMAGE, SMOKE_IMAGE (default cepo-proxy:smoke), PYTHON (default
# .venv/bin/python, which must import the repo's tests package).
set -euo pipefail

cd "$(dirname "$0")/.."
REPO="$(pwd)"
IMAGE="${SMOKE_IMAGE:-cepo-proxy:smoke}"
PYTHON="${PYTHON:-$REPO/.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
FAKE_MODEL="smoke-model"
WORK="$(mktemp -d /tmp/cepo-smoke.XXXXXX)"
CONTAINERS=()
PIDS=()
PASSED=()
SKIPPED=()

log() { printf '\n== %s\n' "$*"; }
pass() { PASSED+=("$*"); echo "PASS: $*"; }
fail() {
    echo "FAIL: $*" >&2
    exit 1
}

cleanup() {
    local status=$?
    for name in "${CONTAINERS[@]}"; do
        if [ "$status" -ne 0 ]; then
            echo "--- logs of $name" >&2
            docker logs --tail 40 "$name" >&2 2>&1 || true
        fi
        docker rm -f "$name" >/dev/null 2>&1 || true
    done
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT

# Seconds since $1 (a `date +%s.%N` stamp), one decimal.
elapsed_since() {
    "$PYTHON" -c 'import sys, time; print(f"{time.time() - float(sys.argv[1]):.1f}")' "$1"
}

free_port() {
    "$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts the scripted upstream; prints its base URL. Args: name, then fake_upstream flags.
start_upstream() {
    local name="$1"
    shift
    local out="$WORK/$name.out"
    "$PYTHON" -m tests.fake_upstream --port 0 --models "$FAKE_MODEL" "$@" >"$out" 2>&1 &
    PIDS+=("$!")
    for _ in $(seq 1 100); do
        if grep -q 'listening on' "$out"; then
            grep -o 'http://[^ ]*/v1' "$out" | head -1
            return 0
        fi
        sleep 0.1
    done
    cat "$out" >&2
    fail "scripted upstream $name did not start"
}

# Runs the image on the host network. Args: container name, upstream URL, port, extra -e.
run_proxy() {
    local name="$1" upstream="$2" port="$3"
    shift 3
    CONTAINERS+=("$name")
    docker run -d --name "$name" --network host \
        -e CEPO_UPSTREAM_BASE_URL="$upstream" \
        -e CEPO_HOST=127.0.0.1 -e CEPO_PORT="$port" \
        "$@" "$IMAGE" >/dev/null
}

# ---------------------------------------------------------------- 1. docker engine
log "Docker engine"
if ! docker info >/dev/null 2>&1; then
    if ! command -v dockerd >/dev/null; then
        echo "installing docker.io"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null; }
    fi
    echo "starting dockerd without a bridge network (log: /tmp/cepo-smoke-dockerd.log)"
    nohup dockerd --bridge=none --iptables=false --ip6tables=false \
        >/tmp/cepo-smoke-dockerd.log 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && break
        sleep 0.5
    done
    docker info >/dev/null 2>&1 || fail "dockerd did not start; see /tmp/cepo-smoke-dockerd.log"
    echo "dockerd started (pid $!); it keeps running for later runs"
fi
docker version --format 'engine {{.Server.Version}}, client {{.Client.Version}}'

# ---------------------------------------------------------------- 2. base image
log "Base image"
registry_reachable=false
if [ -n "${BASE_IMAGE:-}" ]; then
    base="$BASE_IMAGE"
elif docker image inspect python:3.12-slim >/dev/null 2>&1; then
    base="python:3.12-slim"
elif timeout 60 docker pull -q python:3.12-slim >/dev/null 2>&1; then
    base="python:3.12-slim"
    registry_reachable=true
else
    echo "python:3.12-slim cannot be pulled (no registry reachable): debootstrap base"
    if ! docker image inspect cepo-base:bookworm >/dev/null 2>&1 && ! command -v debootstrap >/dev/null; then
        echo "installing debootstrap"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null ||
            { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
    fi
    docker/build-base-image.sh cepo-base:bookworm
    base="cepo-base:bookworm"
    SKIPPED+=("python:3.12-slim base: no registry reachable; built on cepo-base:bookworm (debootstrap) instead")
fi
echo "base image: $base"

# ---------------------------------------------------------------- 3. build
log "docker build --network host"
started=$(date +%s)
docker build --network host --build-arg BASE_IMAGE="$base" -t "$IMAGE" . >"$WORK/build.log" 2>&1 ||
    { tail -40 "$WORK/build.log" >&2; fail "docker build"; }
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
base_size=$(docker image inspect -f '{{.Size}}' "$base")
printf 'built %s in %ss: %d MB (base %s: %d MB, proxy layers: %d MB)\n' "$IMAGE" \
    "$(($(date +%s) - started))" $((size / 1000000)) "$base" $((base_size / 1000000)) \
    $(((size - base_size) / 1000000))
pass "image builds on $base ($((size / 1000000)) MB)"
[ "$(docker run --rm --entrypoint id "$IMAGE" -u)" != 0 ] || fail "image runs as root"
pass "image runs as a non-root user ($(docker run --rm --entrypoint id "$IMAGE"))"

# ---------------------------------------------------------------- 4. serve
log "Proxy image against the scripted upstream"
upstream=$(start_upstream fast --tokens 24 --tokens-per-second 400)
echo "scripted upstream: $upstream"
port=$(free_port)
proxy="http://127.0.0.1:$port"
name="cepo-smoke-$$"
run_proxy "$name" "$upstream" "$port"

"$PYTHON" docker/smoke_checks.py wait "$proxy" 60 || fail "/health"
pass "/health answers"
"$PYTHON" docker/smoke_checks.py models "$proxy" "$FAKE_MODEL" || fail "/v1/models"
pass "/v1/models lists $FAKE_MODEL and cepo-$FAKE_MODEL"
"$PYTHON" docker/smoke_checks.py stream "$proxy" "cepo-$FAKE_MODEL" || fail "CePO stream"
pass "streamed CePO completion (cepo-$FAKE_MODEL) ends with [DONE]"
"$PYTHON" docker/smoke_checks.py stream "$proxy" "$FAKE_MODEL" || fail "passthrough stream"
pass "streamed passthrough completion ($FAKE_MODEL) ends with [DONE]"

echo "waiting for the image's HEALTHCHECK (interval 15s)"
health=""
for _ in $(seq 1 90); do
    health=$(docker inspect -f '{{.State.Health.Status}}' "$name")
    [ "$health" = healthy ] && break
    [ "$health" = unhealthy ] && break
    sleep 0.5
done
[ "$health" = healthy ] || fail "HEALTHCHECK status: $health"
pass "HEALTHCHECK reports healthy"

started=$(date +%s.%N)
docker stop -t 30 "$name" >/dev/null
took=$(elapsed_since "$started")
code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
[ "$code" = 0 ] || fail "docker stop: exit code $code"
docker logs "$name" 2>&1 | grep -q "Finished server process" || fail "no clean shutdown in the logs"
pass "docker stop (SIGTERM) on an idle proxy: exit code 0 in ${took}s"

# ---------------------------------------------------------------- 5. shutdown with an open stream
log "SIGTERM during an open stream"
grace=3
slow=$(start_upstream slow --tokens 400 --tokens-per-second 10)
port=$(free_port)
proxy="http://127.0.0.1:$port"
name="cepo-smoke-stop-$$"
run_proxy "$name" "$slow" "$port" -e CEPO_SHUTDOWN_GRACE_SECONDS=$grace
"$PYTHON" docker/smoke_checks.py wait "$proxy" 60 || fail "/health (slow upstream)"
"$PYTHON" docker/smoke_checks.py stream "$proxy" "$FAKE_MODEL" --expect-error >"$WORK/cut.out" 2>&1 &
client=$!
sleep 2
started=$(date +%s.%N)
docker stop -t 30 "$name" >/dev/null
took=$(elapsed_since "$started")
client_status=0
wait "$client" || client_status=$?
cat "$WORK/cut.out"
code=$(docker inspect -f '{{.State.ExitCode}}' "$name")
[ "$client_status" = 0 ] || fail "the open stream did not end with an error chunk and [DONE]"
[ "$code" = 0 ] || fail "docker stop with an open stream: exit code $code"
# Well before docker's SIGKILL at 30 s: the proxy ended the stream itself.
"$PYTHON" -c 'import sys; sys.exit(float(sys.argv[1]) >= float(sys.argv[2]) + 10)' "$took" "$grace" || fail "stop took ${took}s (grace ${grace}s)"
pass "docker stop during a stream: error chunk + [DONE] after the ${grace}s grace, exit code 0 in ${took}s"

# ---------------------------------------------------------------- 6. what was not covered
if [ "$registry_reachable" = false ] && ! timeout 20 docker pull -q ollama/ollama >/dev/null 2>&1; then
    SKIPPED+=("compose stack with Ollama (docker compose up): the ollama/ollama image cannot be pulled (no registry reachable); compose files are validated by tests/test_docker_files.py")
else
    SKIPPED+=("compose stack with Ollama (docker compose up): not run by this script (compose networks are bridges, and this script uses host networking only)")
fi
SKIPPED+=("Cerebras, vLLM and monitoring stacks: need a key, a GPU or registry images; validated by tests/test_docker_files.py")

log "Summary"
for line in "${PASSED[@]}"; do echo "PASS    $line"; done
for line in "${SKIPPED[@]}"; do echo "SKIPPED $line"; done
echo "image $IMAGE: $((size / 1000000)) MB on $base"
