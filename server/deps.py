"""Typed dependencies: route signatures name what they need, nothing more."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from server.request_context import RequestContext, context_of
from server.services import Services


async def get_services(request: Request) -> Services:
    """The app's services (async: FastAPI runs a sync dependency in a worker thread)."""
    services: Services = request.app.state.services
    return services


async def get_context(request: Request) -> RequestContext:
    """The context of the request being served."""
    return context_of(request.scope)


ServicesDep = Annotated[Services, Depends(get_services)]
ContextDep = Annotated[RequestContext, Depends(get_context)]
