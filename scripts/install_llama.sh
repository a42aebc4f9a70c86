#!/usr/bin/env bash
# Install llama-cpp-python[server] into PYTHON's environment (default: python3),
# built with CPU-safe flags.
#
#   scripts/install_llama.sh [PYTHON]
#
# Why: llama.cpp's default build uses -march=native. On a virtual machine whose CPU
# advertises AMX while the hypervisor faults on it, that build dies on its first
# completion. scripts/llama_build_flags.py derives CMAKE_ARGS from the CPU's own
# features minus AMX (a CMAKE_ARGS you set yourself wins).
#
# pip's wheel cache ignores CMAKE_ARGS, so a wheel built with other flags could be
# silently reused. We therefore build with --no-cache-dir into a wheelhouse keyed by
# the version and the flags:
#   <cache>/wheels/<KEY>/   KEY = first 12 hex of sha256("llama-cpp-python==VER " + CMAKE_ARGS)
# where <cache> is $CEPO_CACHE_DIR or the user cache directory of cepo-proxy. A build
# goes to <KEY>.partial and moves in only when it succeeded. The key installed last is
# recorded in the environment (<sys.prefix>/.cepo-llama-build-key): when it matches and
# the packages import, the script does nothing; when the CPU or CMAKE_ARGS change, it
# rebuilds (or reuses the matching wheel) and reinstalls.
set -euo pipefail

VERSION="0.3.36"
PYTHON="${1:-python3}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf 'install_llama: %s\n' "$*"; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    say "no such Python: $PYTHON" >&2
    exit 2
fi

FLAGS="$("$PYTHON" "$SCRIPT_DIR/llama_build_flags.py")"
KEY="$("$PYTHON" -c 'import hashlib, sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest()[:12])' \
    "llama-cpp-python==$VERSION $FLAGS")"
CACHE_DIR="$("$PYTHON" - <<'EOF'
import os
configured = os.environ.get("CEPO_CACHE_DIR", "").strip()
if configured:
    print(os.path.expanduser(configured))
else:
    try:
        import platformdirs
        print(platformdirs.user_cache_dir("cepo-proxy"))
    except ImportError:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
        print(os.path.join(base, "cepo-proxy"))
EOF
)"
PREFIX="$("$PYTHON" -c 'import sys; print(sys.prefix)')"
MARKER="$PREFIX/.cepo-llama-build-key"
WHEELHOUSE="$CACHE_DIR/wheels/$KEY"

say "python:     $PYTHON ($PREFIX)"
say "CMAKE_ARGS: $FLAGS"
say "build key:  $KEY"

installed_ok() {
    [[ -f "$MARKER" && "$(cat "$MARKER")" == "$KEY" ]] || return 1
    "$PYTHON" - "$VERSION" <<'EOF' >/dev/null 2>&1
import importlib.metadata, importlib.util, sys
assert importlib.metadata.version("llama-cpp-python") == sys.argv[1]
for module in ("llama_cpp", "starlette_context", "sse_starlette", "uvicorn", "fastapi"):
    assert importlib.util.find_spec(module) is not None, module
EOF
}

if installed_ok; then
    say "llama-cpp-python $VERSION with build key $KEY is already installed; nothing to do"
    exit 0
fi

find_wheel() {
    compgen -G "$WHEELHOUSE/llama_cpp_python-$VERSION-*.whl" | head -n 1 || true
}

if [[ -n "$(find_wheel)" ]]; then
    say "reusing the wheel built with these flags: $(find_wheel)"
else
    PARTIAL="$WHEELHOUSE.partial"
    if command -v pgrep >/dev/null 2>&1 && pgrep -f "pip wheel.*$PARTIAL" >/dev/null; then
        say "another build into $PARTIAL is running; run this again when it has finished" >&2
        exit 1
    fi
    say "building llama-cpp-python $VERSION from source (6-8 minutes on 2 cores)"
    rm -rf "$PARTIAL"
    mkdir -p "$PARTIAL"
    CMAKE_ARGS="$FLAGS" "$PYTHON" -m pip wheel --no-cache-dir --no-deps \
        "llama-cpp-python==$VERSION" -w "$PARTIAL"
    mkdir -p "$WHEELHOUSE"
    mv "$PARTIAL"/llama_cpp_python-"$VERSION"-*.whl "$WHEELHOUSE"/
    rm -rf "$PARTIAL"
    say "built $(find_wheel)"
fi

say "installing from $WHEELHOUSE"
# --force-reinstall: an installed llama-cpp-python of the same version but other flags
# must be replaced; --no-deps keeps that step to this one package.
"$PYTHON" -m pip install --no-index --no-deps --force-reinstall --find-links "$WHEELHOUSE" \
    "llama-cpp-python==$VERSION"
# Then the dependencies and the server extra; --only-binary makes sure pip can never
# fall back to building the sdist with unknown flags.
"$PYTHON" -m pip install --find-links "$WHEELHOUSE" --only-binary llama-cpp-python \
    "llama-cpp-python[server]==$VERSION"
printf '%s\n' "$KEY" >"$MARKER"
say "done: llama-cpp-python $VERSION (build key $KEY) installed into $PREFIX"
