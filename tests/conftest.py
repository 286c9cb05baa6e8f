"""Shared fixtures: real models, a real Qdrant Edge shard in a temp dir, real SQLite, real Redis."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.offline import configure_offline

configure_offline()

from api.root import Root  # noqa: E402
from benchmarks.common import POSTGRES_ADMIN_URL, free_port, scratch_postgres  # noqa: E402
from core.embedders import OnnxBgeSmallEmbedder  # noqa: E402
from core.settings import Settings  # noqa: E402
from ingest.parsing import IsolatedParser  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DOCS = SHARED_DATA / "docs"
REDIS_URL = os.environ.get("CAIRN_TEST_REDIS_URL", "redis://127.0.0.1:6379/11")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared data folder is missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def bge() -> OnnxBgeSmallEmbedder:
    """The real default embedder, loaded once per test session."""
    return OnnxBgeSmallEmbedder()


@pytest.fixture(scope="session")
def parser():
    """One isolated parser (and its child process) for the whole session."""
    isolated = IsolatedParser(timeout_s=120, memory_bytes=4 * 1024**3)
    yield isolated
    isolated.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", _env_file=None)


@contextlib.contextmanager
def open_root(settings: Settings, bge, parser, **parts):
    """A composition root on `settings` with the session's model and parser (and any other `parts` given);
    closed afterwards (the session keeps what it gave)."""
    root = Root(settings, embedding_model=bge, parser=parser, **parts)
    try:
        yield root
    finally:
        root.close()


SPEECH = SHARED_DATA / "chunking" / "corpora" / "state_of_the_union.md"
LLM_PYTHON = ROOT / ".venv-llm" / "bin" / "python"
LLM_MODEL = "smollm2-135m"
# SmolLM2-135M repeats itself until the token limit (~45 tokens/s here): a short reply keeps each LLM test to seconds
# and reaches the same checks (a grounded answer, or a rejection answered extractively).
LLM_REPLY_TOKENS = 96


@pytest.fixture(scope="session")
def llm_server() -> Iterator[str]:
    """A real OpenAI-compatible LLM server (llama.cpp through cyllama, SmolLM2-135M) on loopback: its base URL."""
    import subprocess


    if not LLM_PYTHON.exists():
        pytest.fail("the LLM virtualenv is missing: run `make llm-venv` (make test does)")
    port = free_port()
    server = subprocess.Popen([str(LLM_PYTHON), str(ROOT / "scripts" / "llm_server.py"), str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_serving(f"{base_url}/models", server, 120, lambda: f"the LLM server did not start (exit code {server.poll()})")
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def wait_serving(url: str, process, timeout_s: float, failure: Callable[[], str]) -> None:
    """Polls `url` until it answers 200; fails the test with `failure()` if `process` exits or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(failure(), pytrace=False)
        time.sleep(0.3)


@contextlib.contextmanager
def speech_app(data_dir: Path, bge, parser):
    """A test client of the app on a fresh runtime with the State of the Union ingested into the default collection."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from ingest.pipeline import IngestTarget

    settings = Settings(data_dir=data_dir, _env_file=None)
    with open_root(settings, bge, parser) as runtime:
        target = IngestTarget(settings.tenant, settings.collection, settings.chunking.strategy)
        assert runtime.ingest.ingest(SPEECH, display=SPEECH.name, source=str(SPEECH), target=target).status.value == "indexed"
        with TestClient(create_app(runtime)) as client:
            yield client


@pytest.fixture
def runtime(settings: Settings, bge, parser):
    """A composition root on a fresh data dir."""
    with open_root(settings, bge, parser) as rt:
        yield rt


def wait_status(client, url: str, done=("done", "failed"), timeout_s: float = 120):
    """Polls a status route (a job, an eval run) until its `status` is one of `done`; returns the last body."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(url).json()
        if body["status"] in done:
            return body
        time.sleep(0.2)
    raise AssertionError(body)


def redis_available(url: str = REDIS_URL) -> bool:
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_url() -> str:
    if not redis_available():
        pytest.fail("Redis is not reachable; run `make services` (the test command starts it)")
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh Postgres database for this test session (on the server `make services` starts), dropped afterwards."""
    import sqlalchemy as sa

    try:
        with scratch_postgres("cairn_test") as url:
            yield url
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL} ({exc.orig}); run `make services`")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """Each SQL backend Cairn supports: SQLite in a temp dir, and a Postgres database (its tables emptied first)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'cairn.db'}"
    url = request.getfixturevalue("postgres_server_url")
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as connection:  # each test starts from an empty schema
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url
