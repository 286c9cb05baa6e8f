"""Load test on loopback: `cairn serve` (embedded profile, corpora/ ingested) under a locust mix of search (6),
answer (3), upload (1) and, with --deletes N, delete (N), headless. Reports requests/s and p50/p95/p99 per route,
errors, p99 per route per time window (--window-s), and the server's memory (RSS sampled every --sample-s: start,
peak, end, and its growth after the warm-up, --warmup-s; growth over the run shows leaks).

Writes benchmarks/results/load_test.json. `make load` (60 s), `make soak` (5 minutes, must have zero errors) and
`make soak-long` (30 minutes with deletes, memory every 10 s, 5-minute windows)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import free_port, rss_mb, wait_for_server  # noqa: E402

QUESTIONS_CSV = ROOT.parent / "shared" / "data" / "chunking" / "questions.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--duration", type=int, default=60, help="seconds of load")
    parser.add_argument("--deletes", type=int, default=0, help="weight of the delete task (search is 6)")
    parser.add_argument("--window-s", type=int, default=60, help="p99 per route is also reported per window this long")
    parser.add_argument("--sample-s", type=float, default=1.0, help="the server's RSS is sampled this often")
    parser.add_argument("--warmup-s", type=int, default=0, help="memory growth is measured from this far into the run")
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
        memory: list[tuple[float, float]] = []  # (seconds into the run, MB)
        stop = threading.Event()
        began = time.time()

        def sample() -> None:
            while not stop.is_set():
                memory.append((time.time() - began, rss_mb(server.pid)))
                stop.wait(args.sample_s)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        load_env = {**env, "CAIRN_LOAD_KEY": key, "CAIRN_LOAD_QUESTIONS": str(work / "questions.json"),
                    "CAIRN_LOAD_LOG": str(work / "requests.jsonl"), "CAIRN_LOAD_DELETES": str(args.deletes)}
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
    result = {
        "benchmark": "load_test", "users": args.users, "seconds": args.duration, "delete_weight": args.deletes,
        "routes": routes, "total": total, "errors": total["failures"],
        "windows": windows([json.loads(line) for line in (work / "requests.jsonl").read_text().splitlines()], began,
                           args.window_s),
        "server_rss_mb": memory_figures(memory, args.warmup_s, args.sample_s),
    }
    print(json.dumps({**result, "server_rss_mb": {k: v for k, v in result["server_rss_mb"].items() if k != "series"}}, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


def windows(requests: list[list], began: float, window_s: int) -> list[dict]:
    """Requests, errors and p99 per route in each `window_s` of the run."""
    grouped: dict[int, dict[str, list]] = {}
    for at, route, ms, error in requests:
        grouped.setdefault(int((at - began) // window_s), {}).setdefault(route, []).append((ms, error))
    return [
        {"from_s": i * window_s, "to_s": (i + 1) * window_s, "routes": {
            route: {"requests": len(rows), "errors": sum(e is not None for _, e in rows),
                    "p99_ms": round(float(numpy.percentile([ms for ms, _ in rows], 99)), 1)}
            for route, rows in sorted(routes.items())}}
        for i, routes in sorted(grouped.items())
    ]


def memory_figures(memory: list[tuple[float, float]], warmup_s: int, sample_s: float) -> dict:
    """Start, peak and end RSS, and its growth after the warm-up: the mean of the last minute's samples against the
    mean of the first minute's after the warm-up (steady state against steady state, not single samples)."""
    mbs = [mb for _, mb in memory]
    steady = [mb for at, mb in memory if at >= warmup_s] or mbs
    n = max(1, int(60 / sample_s))
    first, last = sum(steady[:n]) / len(steady[:n]), sum(steady[-n:]) / len(steady[-n:])
    return {"samples": len(mbs), "every_s": sample_s, "start": round(mbs[0], 1), "peak": round(max(mbs), 1),
            "end": round(mbs[-1], 1), "warmup_s": warmup_s, "after_warmup": round(first, 1), "last_minute": round(last, 1),
            "growth_after_warmup_pct": round(100 * (last - first) / first, 1),
            "series": [[round(at), round(mb, 1)] for at, mb in memory]}


if __name__ == "__main__":
    main()
