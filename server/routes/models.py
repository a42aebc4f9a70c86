"""``GET /v1/models``: the upstream's models, each with its ``cepo-`` reasoning twin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import JSONResponse

from reasoning.llm import LLMError
from server.deps import ContextDep, ServicesDep
from server.errors import from_llm_error

router = APIRouter()


@router.get("/v1/models", response_model=None)
async def list_models(services: ServicesDep, context: ContextDep) -> JSONResponse:
    try:
        listing = await services.upstream.get_json("models", context)
    except LLMError as error:
        raise from_llm_error(error) from None
    cards = listing.get("data") if isinstance(listing, dict) else None
    prefix = services.settings.model_prefix
    models: list[dict[str, Any]] = []
    for card in cards if isinstance(cards, list) else []:
        if not isinstance(card, dict) or not isinstance(card.get("id"), str):
            continue
        models.append(card)
        models.append(
            {
                **card,
                "id": f"{prefix}{card['id']}",
                "owned_by": "cepo-proxy",
                "root": card["id"],
                "parent": card["id"],
            }
        )
    return JSONResponse({"object": "list", "data": models})
