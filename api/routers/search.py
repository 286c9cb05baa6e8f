"""Retrieval only: ranked chunks for a query."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import RuntimeDep, Reader, known_collection
from api.errors import ApiError
from api.schemas import Filters, StrictBody
from retrieval.search import Query, SearchHit

router = APIRouter(prefix="/v1", tags=["search"])


class SearchRequest(StrictBody):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int = Field(default=10, ge=1, le=100)
    collection: str | None = None
    strategy: str | None = None
    rerank: bool | None = Field(default=None, strict=True, description="cross-encoder reranking; default from the settings")
    filters: Filters = Field(default_factory=Filters)


class SearchResponse(BaseModel):
    results: list[SearchHit]
    timings_ms: dict[str, float] = Field(default_factory=dict)


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, runtime: RuntimeDep, who: Reader) -> SearchResponse:
    collection = known_collection(runtime, who, body.collection)
    try:
        retrieved = runtime.search.retrieve(
            Query(
                body.query, who.tenant, collection, strategy=body.strategy, top_k=body.top_k,
                rerank=body.rerank, **body.filters.as_query(),
            )
        )
    except ValueError as exc:
        raise ApiError(422, "invalid_request", str(exc)) from None
    return SearchResponse(results=retrieved.hits, timings_ms=retrieved.timings_ms)
