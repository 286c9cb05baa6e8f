"""Retrieval only: ranked chunks for a query."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import CatalogDep, Reader, SearchDep, SettingsDep, known_collection
from api.errors import ApiError
from api.schemas import SearchRequest, SearchResponse
from retrieval.search import Query

router = APIRouter(prefix="/v1", tags=["search"])


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, service: SearchDep, catalog: CatalogDep, settings: SettingsDep, who: Reader) -> Response:
    collection = known_collection(settings, catalog, who, body.collection)
    try:
        retrieved = service.retrieve(
            Query(
                body.query, who.tenant, collection, strategy=body.strategy, top_k=body.top_k,
                rerank=body.rerank, where=body.filters,
            )
        )
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    # Serialized here, in the route's worker thread: returned as a model, FastAPI would validate it again in another
    # trip to the thread pool (the response model still documents it).
    payload = SearchResponse(results=retrieved.hits, timings_ms=retrieved.timings_ms).model_dump_json()
    return Response(payload, media_type="application/json")
