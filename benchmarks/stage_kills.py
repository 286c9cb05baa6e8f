"""Kills that land in the work: SIGKILL the process that ingests or deletes at a chosen point of a document's path
(parsing, chunking, embedding, indexing, the staged-to-live swap, a delete), chosen from the job store and the
failpoints, not from the clock. After every round the catalog, the index, the jobs and the upload folder must agree.

Profiles:
- embedded: one `cairn serve` (API, in-process worker, Qdrant Edge, SQLite), uploads and deletes through its HTTP API;
- server: a `cairn serve` API on Postgres and Redis that never opens the index, a `cairn worker` beside it, deletes
  by `cairn documents delete`; qdrant-client's local mode on disk stands in for the Qdrant server (none can run here).

`python benchmarks/stage_kills.py --profile embedded --kills 50` prints a line per kill and writes
benchmarks/results/stage_kills_<profile>.json."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import configure_offline  # noqa: E402

configure_offline()

import sqlalchemy as sa  # noqa: E402

from api.root import Root  # noqa: E402
from benchmarks.common import DOCS, SHARED_DATA, free_port, scratch_postgres, wait_for_server  # noqa: E402
from benchmarks.faults import all_points  # noqa: E402
from core.db import JobItemRow  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.vectorstore import build_vector_store  # noqa: E402
from eval.beir import write_documents  # noqa: E402
from ingest.pipeline import store_name  # noqa: E402

STAGES = ("parsing", "chunking", "embedding", "indexing")
POINTS = (*STAGES, "swap", "delete")
DONE = ("indexed", "replaced", "unchanged", "rejected", "failed", "conflict")


def write_inbox(folder: Path, abstracts: int) -> list[Path]:
    """SciFact abstracts (small), the chunking benchmark's three corpora (40-120 KB of markdown: long parsing, chunking
    and embedding) and two PDFs (a slow parse)."""
    folder.mkdir(parents=True)
    write_documents(SHARED_DATA / "beir" / "scifact" / "corpus.jsonl", folder, abstracts)
    for path in (SHARED_DATA / "chunking" / "corpora").glob("*.md"):
        (folder / path.name).write_bytes(path.read_bytes())
    for name in ("layout-parser-paper-fast.pdf", "reliance.pdf"):
        (folder / name).write_bytes((DOCS / name).read_bytes())
    return sorted(folder.iterdir())


class Deployment:
    def __init__(self, profile: str, work: Path, redis_url: str, database_url: str | None):
        self.profile, self.work = profile, work
        self.marker = work / "failpoints.log"
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.values = {"CAIRN_DATA_DIR": str(work / "data"), "CAIRN_WORKER__STAGE_WRITE_INTERVAL_S": "0",
                       "CAIRN_FAULTS__MARKER": str(self.marker), "CAIRN_FAULTS__HOLD_S": "30",
                       "CAIRN_LIMITS__ENABLED": "false", "CAIRN_LOG_FORMAT": "console", "CAIRN_WORKER__CONCURRENCY": "2"}
        if profile == "server":
            self.values |= {"CAIRN_DATABASE_URL": database_url, "CAIRN_REDIS_URL": redis_url,
                            "CAIRN_QDRANT__PATH": str(work / "data" / "qdrant-local"),
                            "CAIRN_WORKER__QUEUE": f"cairn-kills-{uuid.uuid4().hex[:8]}",
                            "CAIRN_WORKER__VISIBILITY_TIMEOUT_S": "10", "CAIRN_WORKER__REQUEUE_AFTER_S": "15"}
        self.api: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None
        self.started_at = datetime.now(UTC)  # when the ingester now running was started
        self.log = (work / "processes.log").open("a")

    def settings(self) -> Settings:
        """The processes' settings, read from the same variables they are given (for the run's reads and checks)."""
        old = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)
        try:
            return Settings(_env_file=None)
        finally:
            for k, v in old.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)

    def _spawn(self, args: list[str], hold: tuple[str, ...] = ()) -> subprocess.Popen:
        env = {**os.environ, **self.values, "CAIRN_FAULTS__HOLD_AT": json.dumps(list(hold)), "OMP_NUM_THREADS": "1"}
        return subprocess.Popen([sys.executable, "-m", "api.cli", *args], cwd=ROOT, env=env, stdout=self.log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def ready(self) -> bool:
        return urllib.request.urlopen(f"{self.base}/healthz", timeout=2).status == 200

    def start(self, hold: tuple[str, ...] = ()) -> None:
        """Starts what ingests (and the API that takes uploads), held at `hold`."""
        self.started_at = datetime.now(UTC)
        if self.api is None or self.api.poll() is not None:
            self.api = self._spawn(["serve", "--port", str(self.port)], hold if self.profile == "embedded" else ())
            wait_for_server(self.api, self.ready, 300, self.work / "processes.log")
        if self.profile == "server":
            self.worker = self._spawn(["worker"], hold)

    def ingester(self) -> subprocess.Popen:
        return self.api if self.profile == "embedded" else self.worker

    def upload(self, files: list[Path]) -> str:
        boundary = uuid.uuid4().hex
        body = b""
        for path in files:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() + b"\r\n"
        body += f"--{boundary}\r\nContent-Disposition: form-data; name=\"replace\"\r\n\r\ntrue\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(f"{self.base}/v1/documents", body,
                                         {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        return json.loads(urllib.request.urlopen(request, timeout=120).read())["job_id"]

    def delete(self, document_id: str) -> subprocess.Popen | threading.Thread:
        """Starts deleting a document, held at the delete failpoint: the process to kill is returned."""
        if self.profile == "server":  # the local-mode index has one owner: the worker steps aside for the deleter
            self.stop(self.worker)
            return self._spawn(["documents", "delete", document_id], ("delete",))
        self.stop(self.api)
        self.start(("delete",))
        request = urllib.request.Request(f"{self.base}/v1/documents/{document_id}", method="DELETE")
        threading.Thread(target=lambda: _quietly(urllib.request.urlopen, request, timeout=60), daemon=True).start()
        return self.api

    @staticmethod
    def kill(process: subprocess.Popen) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)

    @staticmethod
    def stop(process: subprocess.Popen | None) -> None:
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)

    def stop_all(self) -> None:
        self.stop(self.worker)
        self.stop(self.api)


def _quietly(fn, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except OSError:
        pass  # the server was killed under the request


def in_work(db, since: datetime) -> dict[str, str]:
    """Items in a stage that the current ingester wrote (a killed one's items keep their last stage until taken)."""
    with db.session() as s:
        rows = s.execute(sa.select(JobItemRow.path, JobItemRow.status)
                         .where(JobItemRow.status.in_(STAGES), JobItemRow.updated_at >= since))
        return {path.rsplit("/", 1)[-1]: stage for path, stage in rows}


def unfinished(db) -> int:
    with db.session() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(JobItemRow).where(JobItemRow.status.not_in(DONE)))


def held(marker: Path, point: str, seen: int) -> bool:
    lines = marker.read_text().splitlines() if marker.exists() else []
    return sum(json.loads(line)["point"] == point for line in lines) > seen


def check(settings: Settings, producer: Root, deleted: set[str]) -> dict:
    """The catalog, the index, the jobs and the upload folder agree; nothing deleted is left anywhere. Opens the
    index: every process that owns it must have exited."""
    # Opened in this process (not by an index process of its own): all_points reads the engine itself.
    store = build_vector_store(settings.model_copy(update={"qdrant": settings.qdrant.model_copy(update={"index_process": False})}))
    try:
        documents = producer.catalog.list(settings.tenant, limit=100_000)
        live, expected = {d.id for d in documents}, 0
        name = store_name(settings.qdrant.prefix, settings.collection, settings.chunking.strategy)
        for document in documents:
            entry = next(e for e in producer.catalog.index_entries(document.id))
            chunks = store.chunks(name, document.id)
            assert len(chunks) == entry.chunks, (document.filename, len(chunks), entry.chunks)
            assert {c.payload.version for c in chunks} == {entry.version}, document.filename
            assert len({c.payload.chunk_index for c in chunks}) == entry.chunks, document.filename
            expected += entry.chunks
        assert store.count(name) == all_points(store, name) == expected, (store.count(name), all_points(store, name), expected)
        assert not (deleted & live), deleted & live
        assert all(not store.chunks(name, d) for d in deleted)
        assert producer.catalog.pending_deletions() == []
        kept = {v.stored_path for d in documents for v in producer.catalog.versions(d.id) if v.stored_path}
        on_disk = {str(p) for p in (settings.resolved_data_dir / "uploads").rglob("*") if p.is_file()}
        assert on_disk <= kept, on_disk - kept  # no upload outlives its document or its outcome
        return {"documents": len(documents), "chunks": expected}
    finally:
        store.close()


def run(profile: str, kills: int, seed: int, abstracts: int, kills_per_round: int, redis_url: str,
        work: Path | None = None) -> dict:
    rng = random.Random(seed)
    work = work or Path(tempfile.mkdtemp(prefix=f"cairn-stage-kills-{profile}-"))
    with contextlib.ExitStack() as stack:
        database_url = stack.enter_context(scratch_postgres("cairn_kills")) if profile == "server" else None
        return _run(profile, kills, rng, abstracts, kills_per_round, Deployment(profile, work, redis_url, database_url))


def _run(profile: str, kills: int, rng: random.Random, abstracts: int, kills_per_round: int,
         deployment: Deployment) -> dict:
    work = deployment.work
    settings = deployment.settings()
    producer = Root(settings)  # reads the job store and the catalog; never opens the index
    files = write_inbox(work / "inbox", abstracts)
    landed: Counter[str] = Counter()
    detail, rounds, deleted = [], [], set()
    started = time.monotonic()
    try:
        deployment.start()
        deployment.upload(files)
        while sum(landed.values()) < kills:
            point = min(POINTS, key=lambda p: (landed[p], POINTS.index(p)))
            seen = sum(json.loads(line)["point"] == point for line in deployment.marker.read_text().splitlines()) \
                if deployment.marker.exists() else 0
            if point == "delete":
                # Any live document, one with an upload still waiting too: the delete wins over it (the upload
                # ends `conflict`), and the check demands that the document stays gone.
                live = producer.catalog.list(settings.tenant, limit=100_000)
                if not live:  # nothing indexed yet: let the work finish first
                    rounds.append(settle(deployment, producer, settings, deleted))
                    live = producer.catalog.list(settings.tenant, limit=100_000)
                victim = rng.choice(live)
                target = deployment.delete(victim.id)
                deleted.add(victim.id)
                files = [f for f in files if f.name != victim.filename]  # not uploaded again
                hit = lambda: held(deployment.marker, "delete", seen)  # noqa: E731
            else:
                if point == "swap":
                    deployment.stop(deployment.ingester())
                    deployment.start(("swap",))
                elif deployment.ingester() is None or deployment.ingester().poll() is not None:
                    deployment.start()
                if not unfinished(producer.db):  # work in flight: change a few documents, one of them large
                    texts = [f for f in files if f.suffix != ".pdf"]
                    changed = set(rng.sample(texts, k=min(3, len(texts)))) | {rng.choice([f for f in texts if f.suffix == ".md"])}
                    for path in changed:
                        path.write_text(path.read_text(encoding="utf-8") + f"\nRevision {uuid.uuid4().hex[:6]}.")
                    new = work / "inbox" / f"note-{len(detail)}.txt"
                    new.write_text(f"A note added before kill {len(detail)}: the index must hold it once.")
                    files.append(new)
                    deployment.upload([*sorted(changed), new])
                target = deployment.ingester()
                hit = (lambda: held(deployment.marker, "swap", seen)) if point == "swap" else \
                    (lambda: point in in_work(producer.db, deployment.started_at).values())
            deadline = time.monotonic() + 180
            while not hit() and time.monotonic() < deadline:
                time.sleep(0.002)
            deployment.kill(target)
            stages = in_work(producer.db, deployment.started_at)
            where = point if point in ("swap", "delete") and hit() else \
                (point if point in stages.values() else next(iter(sorted(set(stages.values()))), "idle"))
            landed[where] += 1
            detail.append({"aimed_at": point, "landed": where, "in_work": stages})
            print(f"kill {len(detail)}: aimed at {point}, landed in {where}; in work: {stages}", flush=True)
            if len(detail) % kills_per_round == 0 or sum(landed.values()) >= kills:
                rounds.append(settle(deployment, producer, settings, deleted))
                print(f"round {len(rounds)}: consistent, {rounds[-1]}", flush=True)
    finally:
        deployment.stop_all()
        producer.close()
    mid = [d for d in detail if d["landed"] != "idle"]
    return {
        "benchmark": "stage_kills", "profile": profile, "kills": len(detail), "kills_mid_document": len(mid),
        "per_stage": {p: landed[p] for p in POINTS} | {"idle": landed["idle"]}, "rounds": len(rounds),
        "documents_lost": sum(r["not_indexed"] for r in rounds), "inconsistent_rounds": 0,  # check() raises otherwise
        "deleted": len(deleted), "seconds": round(time.monotonic() - started, 1), "round_detail": rounds,
        "detail": detail,
    }


def settle(deployment: Deployment, producer: Root, settings: Settings, deleted: set[str]) -> dict:
    """Restart without faults, let every job finish and every deletion complete, stop, then check."""
    deployment.stop_all()
    deployment.start()
    deadline = time.monotonic() + 900
    while unfinished(producer.db) or producer.catalog.pending_deletions():
        if time.monotonic() > deadline:
            raise SystemExit("the jobs did not finish in 15 minutes after the kills")
        time.sleep(0.5)
    deployment.stop_all()
    with producer.db.session() as s:
        failed = s.scalar(sa.select(sa.func.count()).select_from(JobItemRow).where(JobItemRow.status == "failed"))
    found = check(settings, producer, deleted)
    return {**found, "not_indexed": failed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", choices=("embedded", "server", "both"), default="both")
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--kills-per-round", type=int, default=6)
    parser.add_argument("--abstracts", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    for profile in ("embedded", "server") if args.profile == "both" else (args.profile,):
        result = run(profile, args.kills, args.seed, args.abstracts, args.kills_per_round, args.redis_url)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"stage_kills_{profile}.json").write_text(json.dumps(result, indent=2))
        print(json.dumps({k: v for k, v in result.items() if k not in ("detail", "round_detail")}))


if __name__ == "__main__":
    main()
