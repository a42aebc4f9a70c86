"""The OpenAI Responses API (``POST /v1/responses``), built on the chat completions route.

Modules: :mod:`.wire` (the request body), :mod:`.to_chat` (request translation),
:mod:`.bridge` (the chat route called in process), :mod:`.encoder` (chat chunks to Responses
events and objects), :mod:`.relay` (upstreams that serve the route themselves),
:mod:`.route` (the endpoint). :func:`install` is the app's one hook.
"""

from __future__ import annotations

from fastapi import FastAPI

from server.responses.relay import UpstreamRoutes
from server.responses.route import router


def install(app: FastAPI) -> None:
    """Add ``POST /v1/responses`` and its per-app state (which upstreams lack the route)."""
    app.state.responses_routes = UpstreamRoutes()
    app.include_router(router)
