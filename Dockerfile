# cepo-proxy image: an OpenAI-compatible CePO reasoning proxy on port 8000.
#
#   docker build -t cepo-proxy .
#   docker run --rm -p 127.0.0.1:8000:8000 -e CEPO_UPSTREAM_BASE_URL=... cepo-proxy
#
# Build arguments:
#   BASE_IMAGE   any Debian-like image with python3 >= 3.11 and the venv module
#                (default python:3.12-slim; docker/build-base-image.sh makes one with
#                debootstrap where no registry is reachable). Both stages use it, so the
#                venv's interpreter path is the same in the builder and the final image.
#   WITH_LOCAL   "true" adds the `local` extra (llama-cpp-python, compiled here with
#                the CPU-safe flags of scripts/llama_build_flags.py) and libgomp1.
#   CMAKE_ARGS   overrides those flags, e.g. "-DGGML_NATIVE=OFF" for a portable build.
#
# Secrets are never part of the image: pass CEPO_UPSTREAM_API_KEY / CEPO_API_KEYS at
# run time (environment or compose's .env). .dockerignore keeps .env out of the context.

ARG BASE_IMAGE=python:3.12-slim

# ---------------------------------------------------------------------------- builder
FROM ${BASE_IMAGE} AS builder
ARG WITH_LOCAL=false
ARG CMAKE_ARGS=
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Compilers only when llama.cpp must be built; they never reach the final stage.
RUN if [ "$WITH_LOCAL" = "true" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends build-essential cmake \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# A venv, also on Debian's system python, which refuses `pip install` (PEP 668).
RUN python3 -m venv /opt/venv
WORKDIR /src

# Dependencies first, in their own layer: a source change does not reinstall them.
COPY pyproject.toml docker/pyproject_requirements.py scripts/llama_build_flags.py ./
RUN extras=""; \
    if [ "$WITH_LOCAL" = "true" ]; then \
        extras=local; \
        CMAKE_ARGS="$(python3 llama_build_flags.py)"; \
        export CMAKE_ARGS; \
        echo "llama.cpp CMAKE_ARGS: $CMAKE_ARGS"; \
    fi; \
    python3 pyproject_requirements.py pyproject.toml $extras > requirements.txt \
    && pip install -r requirements.txt

# Then the package itself, without touching the dependencies. README.m[d] copies
# README.md when it exists (pyproject names it as the long description).
COPY README.m[d] pyproject.toml ./
COPY config ./config
COPY reasoning ./reasoning
COPY server ./server
RUN pip install --no-deps . \
    && (pip uninstall -y setuptools wheel >/dev/null 2>&1 || true) \
    && cepo-proxy --help >/dev/null

# ---------------------------------------------------------------------------- runtime
FROM ${BASE_IMAGE} AS runtime
ARG WITH_LOCAL=false

RUN if [ "$WITH_LOCAL" = "true" ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends libgomp1 \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --system --gid 10001 cepo \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/cepo \
        --shell /usr/sbin/nologin cepo

COPY --from=builder /opt/venv /opt/venv
COPY docker/healthcheck.py /opt/cepo/healthcheck.py

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CEPO_HOST=0.0.0.0 \
    CEPO_PORT=8000

USER 10001:10001
WORKDIR /home/cepo
EXPOSE 8000

# Exec form: the proxy is PID 1 and receives SIGTERM itself; it stops accepting,
# lets streams finish for CEPO_SHUTDOWN_GRACE_SECONDS, then ends the rest with an
# error chunk and [DONE]. Give `docker stop -t` / compose's stop_grace_period more.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/opt/cepo/healthcheck.py"]
ENTRYPOINT ["cepo-proxy"]
CMD ["serve"]
