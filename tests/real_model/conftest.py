"""Fixtures for the real-model tests: the default model, and one proxy per session.

The proxy runs under uvicorn on loopback with ``CEPO_UPSTREAM_KIND=local``, so its
lifespan starts the managed llama.cpp server with ``smollm2-135m`` exactly as
``cepo-proxy serve`` does. Without llama-cpp-python or the pulled model these tests
are skipped on a developer's machine and fail under CI (``CI=true``), where
``.ci/run`` must have installed both.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from server.local_model import DEFAULT_MODEL_KEY, LocalModelError, resolve_model_path
from server.local_model.managed import ensure_llama_installed
from tests import servers

MODEL = DEFAULT_MODEL_KEY
#: Seconds for the proxy's lifespan to start llama.cpp and load the model on 2 busy cores.
PROXY_START_TIMEOUT = 180.0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"real-model tests cannot run under CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def model_path() -> str:
    """The pulled default model's file (skips, or fails under CI, when it is missing)."""
    try:
        ensure_llama_installed()
        return str(resolve_model_path(MODEL))
    except LocalModelError as error:
        _unavailable(str(error))
        raise AssertionError("unreachable") from None


@pytest.fixture(scope="session")
def proxy_url(model_path: str) -> Iterator[str]:
    """``http://127.0.0.1:PORT/v1`` of a proxy whose upstream is the embedded model."""
    from tests.proxies import proxy_in_thread

    with ExitStack() as stack:
        with pytest.MonkeyPatch.context() as patch:
            for name in list(os.environ):
                if name.startswith("CEPO_") and name != "CEPO_CACHE_DIR":
                    patch.delenv(name)
            # The llama.cpp child loads the model inside the lifespan: allow for it.
            patch.setattr(servers, "STARTUP_TIMEOUT", PROXY_START_TIMEOUT)
            proxy = stack.enter_context(
                proxy_in_thread(
                    upstream_kind="local",
                    local_model=MODEL,
                    local_start_timeout=PROXY_START_TIMEOUT - 10,
                    request_timeout=600.0,
                )
            )
        yield proxy.v1
