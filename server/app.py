"""``create_app(settings)``: the ASGI application, its resources built in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from config.settings import Settings
from server.auth import AuthMiddleware
from server.errors import install_error_handlers
from server.metrics import Metrics
from server.observe import ObserveMiddleware
from server.routes import chat, health, models
from server.routes import metrics as metrics_route
from server.services import build_services


def create_app(settings: Settings) -> FastAPI:
    """A new app; nothing is shared between apps, so tests may build many."""
    metrics = Metrics(settings.kind.name)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with build_services(settings, metrics) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="cepo-proxy",
        version="0.1.0",
        summary="OpenAI-compatible reasoning proxy running CePO",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    for module in (health, models, chat, metrics_route):
        app.include_router(module.router)
    # Added last = outermost: observation sees every request, rejected ones included.
    app.add_middleware(AuthMiddleware, settings=settings)
    app.add_middleware(ObserveMiddleware, metrics=metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["*"],
            expose_headers=[
                "X-Request-Id",
                "X-Reasoning-Bypassed",
                "X-Reasoning-UI-Task",
                "X-Reasoning-Tools",
            ],
        )
    return app
