"""Memory of a worker and of the API, each in its own process as the server profile runs them: a `cairn worker`
(Redis broker, Postgres catalog and job store) ingests SciFact abstracts, then `cairn serve` answers questions on
the index the worker built. The resident memory of each process tree (the parser child included) is sampled every
0.2 s: after start-up, after the models loaded, at its peak and at the end.

Here the index is Qdrant Edge on disk, inside whichever process uses it (the worker, then the API: a shard is
single-process); with a Qdrant server (`CAIRN_QDRANT__URL`) that part of the memory moves to the server.

Writes benchmarks/results/memory.json. Needs Redis and PostgreSQL (`make services`). `make bench-memory`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import POSTGRES_ADMIN_URL, free_port, rss_mb, wait_for_server  # noqa: E402

SCIFACT = ROOT.parent / "shared" / "data" / "beir" / "scifact"


class Sampler:
    """RSS of a process tree every 0.2 s in a thread; `mark(name)` keeps the latest reading under a name."""

    def __init__(self, pid: int):
        self.pid, self.readings, self.marks = pid, [], {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.readings.append((rss_mb(self.pid), rss_mb(self.pid, children=False)))
            self._stop.wait(0.2)

    def mark(self, name: str) -> None:
        total, own = rss_mb(self.pid), rss_mb(self.pid, children=False)
        self.readings.append((total, own))
        self.marks[name] = {"total_mb": round(total, 1), "process_mb": round(own, 1), "children_mb": round(total - own, 1)}

    def close(self) -> dict:
        self._stop.set()
        self._thread.join()
        peak = max(self.readings)
        return {**self.marks, "peak": {"total_mb": round(peak[0], 1), "process_mb": round(peak[1], 1),
                                       "children_mb": round(peak[0] - peak[1], 1)}}


def create_database(admin_url: str) -> tuple[str, callable]:
    import sqlalchemy as sa

    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"cairn_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return admin_url.rsplit("/", 1)[0] + f"/{name}", drop


def measure_worker(env: dict, inbox: Path, work: Path) -> dict:
    from api.root import Root
    from benchmarks.faults import WorkerKills
    from workers.submit import collect_files

    worker = WorkerKills(work / "data", env["CAIRN_REDIS_URL"], concurrency=int(env.get("CAIRN_WORKER__CONCURRENCY", "3")))
    worker.env.update(env)
    producer = Root(worker.settings())
    with (work / "worker.log").open("w") as log:
        worker.start(log)
        sampler = Sampler(worker.process.pid)
        try:
            time.sleep(8)  # Celery up, nothing to do yet
            sampler.mark("started")
            started = time.monotonic()
            job_id = producer.submitter.submit(collect_files([inbox]), tenant="default", collection="memory", strategy="sentence")
            loaded = False
            while (view := producer.jobs.get(job_id)).status not in ("done", "failed"):
                if not loaded and any(d["status"] == "indexed" for d in view.documents):
                    sampler.mark("models_loaded")  # the first document is through: parser, splitter, embedder loaded
                    loaded = True
                if worker.process.poll() is not None:
                    raise SystemExit(f"the worker died; see {work / 'worker.log'}")
                time.sleep(0.5)
            seconds = time.monotonic() - started
            sampler.mark("end")
        finally:
            result = sampler.close()
            worker.stop()
    statuses = Counter(d["status"] for d in view.documents)
    # Every outcome, not only `indexed`: a document that failed shows here with its reason instead of only in the log.
    problems = [{"path": d["path"], "status": d["status"], "reason": d["reason"]} for d in view.documents
                if d["status"] not in ("indexed", "unchanged", "replaced")]
    return {"documents": sum(statuses.values()), "statuses": dict(statuses), "not_indexed": problems[:20],
            "seconds": round(seconds, 1), "rss": result}


def measure_api(env: dict, work: Path, questions: list[str]) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with (work / "api.log").open("w") as log:
        server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)
        sampler = Sampler(server.pid)
        try:
            wait_for_server(server, lambda: urllib.request.urlopen(f"{base}/healthz", timeout=2).status == 200, 120,
                            work / "api.log")
            sampler.mark("started")

            def post(route: str, body: dict) -> None:
                request = urllib.request.Request(f"{base}{route}", json.dumps(body).encode(), {"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=120) as response:
                    response.read()

            post("/v1/answer", {"question": questions[0], "collection": "memory"})
            sampler.mark("models_loaded")
            for q in questions:
                post("/v1/search", {"query": q, "collection": "memory"})
                post("/v1/answer", {"question": q, "collection": "memory"})
            sampler.mark("end")
        finally:
            result = sampler.close()
            server.terminate()
            server.wait(timeout=60)
    return {"questions": len(questions), "rss": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--postgres-admin-url", default=POSTGRES_ADMIN_URL)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "memory.json")
    args = parser.parse_args()

    from eval.beir import write_documents

    work = Path(tempfile.mkdtemp(prefix="cairn-memory-"))
    write_documents(SCIFACT / "corpus.jsonl", work / "inbox", args.documents)
    questions = [json.loads(line)["text"] for _, line in zip(range(args.questions), (SCIFACT / "queries.jsonl").open())]
    database_url, drop_database = create_database(args.postgres_admin_url)
    env = {**os.environ, "CAIRN_DATA_DIR": str(work / "data"), "CAIRN_REDIS_URL": args.redis_url,
           "CAIRN_DATABASE_URL": database_url, "CAIRN_LIMITS__ENABLED": "false", "CAIRN_CACHE__ENABLED": "false",
           "CAIRN_LOG_FORMAT": "console"}
    os.environ.update({k: env[k] for k in ("CAIRN_DATABASE_URL", "CAIRN_REDIS_URL")})  # the producer's side
    try:
        worker = measure_worker(env, work / "inbox", work)
        print(json.dumps({"worker": worker}), flush=True)
        api = measure_api(env, work, questions)
    finally:
        drop_database()
    result = {"benchmark": "memory", "worker": worker, "api": api}
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
