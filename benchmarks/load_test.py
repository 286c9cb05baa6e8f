"""Load test on loopback: `cairn serve` (embedded profile, corpora/ ingested) under a locust mix of search (6),
answer (3) and upload (1), headless. Reports requests/s and p50/p95/p99 per route, errors, and the server's memory
(RSS sampled every second: start, peak, end; growth over the run shows leaks).

Writes benchmarks/results/load_test.json. `make load` (60 s) and `make soak` (5 minutes, must have zero errors)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import free_port, rss_mb, wait_for_server  # noqa: E402

QUESTIONS_CSV = ROOT.parent / "shared" / "data" / "chunking" / "questions.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load_test.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cairn-load-"))
    with QUESTIONS_CSV.open(newline="", encoding="utf-8") as handle:
        questions = [row["question"] for row in csv.DictReader(handle) if row["corpus_id"] == "state_of_the_union"]
    (work / "questions.json").write_text(json.dumps(questions))
    env = {**os.environ, "CAIRN_DATA_DIR": str(work / "data"), "CAIRN_LIMITS__ENABLED": "false",
           "CAIRN_CACHE__ENABLED": "false",  # repeated questions would be served from the cache: measure the pipeline
           "CAIRN_LOG_FORMAT": "json", "OMP_NUM_THREADS": "1"}
    cli = [sys.executable, "-m", "api.cli"]
    key = json.loads(subprocess.run([*cli, "keys", "create", "--name", "load", "--role", "editor", "--json"], env=env,
                                    cwd=ROOT, capture_output=True, text=True, check=True).stdout)["key"]
    port = free_port()
    log = (work / "server.log").open("w")
    server = subprocess.Popen([*cli, "serve", "--port", str(port), "--ingest", str(ROOT / "corpora")], env=env, cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def ingested() -> bool:  # up, and corpora/ ingested
            request = urllib.request.Request(f"{base}/v1/documents", headers={"Authorization": f"Bearer {key}"})
            return len(json.loads(urllib.request.urlopen(request, timeout=2).read())["documents"]) >= 5

        wait_for_server(server, ingested, 300, work / "server.log")
        for q in questions[:3]:  # warm up: the models load on first use
            body = json.dumps({"question": q}).encode()
            urllib.request.urlopen(urllib.request.Request(f"{base}/v1/answer", body, {"Authorization": f"Bearer {key}",
                                                                                        "Content-Type": "application/json"}), timeout=60)
        memory: list[float] = []
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                memory.append(rss_mb(server.pid))
                stop.wait(1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load_env = {**env, "CAIRN_LOAD_KEY": key, "CAIRN_LOAD_QUESTIONS": str(work / "questions.json")}
        subprocess.run([sys.executable, "-m", "locust", "-f", str(ROOT / "benchmarks" / "load" / "locustfile.py"), "--headless", "-H", base,
                        "-u", str(args.users), "-r", str(args.users), "-t", f"{args.duration}s", "--csv", str(work / "load"),
                        "--only-summary"], env=load_env, cwd=ROOT, check=False, capture_output=True)
        stop.set()
        sampler.join()
    finally:
        server.terminate()
        server.wait(timeout=60)
        log.close()

    routes = {}
    with (work / "load_stats.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            routes[row["Name"]] = {
                "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "rps": round(float(row["Requests/s"]), 2), "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]),
                "p99_ms": float(row["99%"]), "max_ms": float(row["Max Response Time"]),
            }
    total = routes.pop("Aggregated")
    quarter = max(1, len(memory) // 4)
    result = {
        "benchmark": "load_test", "users": args.users, "seconds": args.duration, "routes": routes, "total": total,
        "errors": total["failures"],
        "server_rss_mb": {"start": round(memory[0], 1), "peak": round(max(memory), 1), "end": round(memory[-1], 1),
                          # growth between the first and last quarter of the run: steady state, not warm-up
                          "growth_last_vs_first_quarter": round(sum(memory[-quarter:]) / quarter - sum(memory[:quarter]) / quarter, 1)},
    }
    print(json.dumps(result, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
