"""Typed dependencies: each route declares the services it uses (`AnswersDep`, `CatalogDep`, ...), taken from the
application's composition root (`api.root.Root`, in `app.state.root`).

Every route but health declares the role it needs (`Reader`, `Editor`, `Admin`): the dependency authenticates the
API key (`Authorization: Bearer <key>` or `X-API-Key`), checks the role and the rate limits, and gives the route
the Principal, whose tenant scopes everything the route reads or writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from api.openai_service import OpenAIService
from api.operations import Calibrations, Readiness
from api.root import Root
from core.access import ApiKeyStore, Principal, Role
from core.embedders import CachedEmbedder
from core.metrics import Metrics
from core.settings import Settings
from eval.runs import EvalRuns, EvalRunStore
from ingest.catalog import DocumentCatalog
from ingest.pipeline import IngestService
from retrieval.answer import AnswerService
from retrieval.audit import AnswerLog
from retrieval.conversation import ConversationStore
from retrieval.review import ReviewQueue
from retrieval.search import SearchService
from workers.intake import UploadIntake
from workers.jobs import JobStore


def get_root(request: Request) -> Root:
    return request.app.state.root


# The dependencies that only read the composition root are `async`: FastAPI calls those on the event loop, while a
# plain `def` dependency is sent to the thread pool and back (three per search cost 0.7 ms of the API's ~9.7 ms of
# CPU; benchmarks/README.md). Authentication may read the database, so it stays a plain function.
async def get_settings(request: Request) -> Settings:
    return request.app.state.root.settings


def _part(name: str):
    async def dependency(request: Request):
        root = request.app.state.root
        # A part is built on first use (a cached_property, kept in the root's __dict__), and building one may block
        # (migrating the database, starting the index process): that first time it is built in the thread pool.
        if name in vars(root):
            return vars(root)[name]
        return await run_in_threadpool(getattr, root, name)

    dependency.__name__ = f"get_{name}"
    return Depends(dependency)


# Declared as security schemes so that the OpenAPI document (and /docs) shows how to authenticate.
_bearer = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer <key>`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="an API key")


def _authenticate(root: Root, key: str | None) -> Principal:
    # While the API is open, a key is ignored: SDKs (openai, langchain) always send one, often a placeholder.
    if not root.auth_required():
        return Principal(root.settings.tenant, Role.ADMIN)
    if key is None:
        raise ApiError(401, "unauthorized", "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'")
    principal = root.keys.authenticate(key)
    if principal is None:
        raise ApiError(401, "unauthorized", "the API key is not valid (unknown or revoked)")
    return principal


def require(role: Role):
    def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
        header: Annotated[str | None, Security(_header)] = None,
    ) -> Principal:
        root = get_root(request)
        principal = _authenticate(root, (bearer.credentials if bearer else None) or header or None)
        if not principal.can(role):
            raise ApiError(403, "forbidden", f"this route needs the {role.value} role; the key has {principal.role.value}")
        retry_after = root.rate_limiter.retry_after(principal)
        if retry_after is not None:
            raise ApiError(429, "rate_limited", f"too many requests; retry in {retry_after} s",
                           headers={"Retry-After": str(retry_after)})
        request.state.principal = principal
        return principal

    return dependency


SettingsDep = Annotated[Settings, Depends(get_settings)]
AnswersDep = Annotated[AnswerService, _part("answers")]
SearchDep = Annotated[SearchService, _part("search")]
CatalogDep = Annotated[DocumentCatalog, _part("catalog")]
IngestDep = Annotated[IngestService, _part("ingest")]
IntakeDep = Annotated[UploadIntake, _part("intake")]
JobsDep = Annotated[JobStore, _part("jobs")]
AnswerLogDep = Annotated[AnswerLog, _part("answer_log")]
ReviewDep = Annotated[ReviewQueue, _part("review")]
ConversationsDep = Annotated[ConversationStore, _part("conversations")]
EvalRunsDep = Annotated[EvalRuns, _part("eval_runs")]
EvalStoreDep = Annotated[EvalRunStore, _part("eval_store")]
KeysDep = Annotated[ApiKeyStore, _part("keys")]
MetricsDep = Annotated[Metrics, _part("metrics")]
EmbedderDep = Annotated[CachedEmbedder, _part("embedder")]
OpenAIDep = Annotated[OpenAIService, _part("openai")]
ReadinessDep = Annotated[Readiness, _part("readiness")]
CalibrationsDep = Annotated[Calibrations, _part("calibration_admin")]
Reader = Annotated[Principal, Depends(require(Role.READER))]
Editor = Annotated[Principal, Depends(require(Role.EDITOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def known_collection(settings: Settings, catalog: DocumentCatalog, who: Principal, requested: str | None) -> str:
    """The collection a request reads: the deployment's default (which may still be empty) or one the caller's
    tenant has ingested into; ApiError 404 `unknown_collection` for any other, rather than an empty answer."""
    name = requested or settings.collection
    if name != settings.collection and name not in {c.name for c in catalog.collections(who.tenant)}:
        raise ApiError(404, "unknown_collection", f"no collection {name!r}: ingest documents into it first")
    return name
