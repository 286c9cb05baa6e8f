"""Reliability under SIGKILL: many rounds of ingesting (new and changed documents) with the worker process killed at a
random moment and restarted; after each round every document must be indexed exactly once, at its newest version,
with nothing staged left behind.

Prints a line per round and writes benchmarks/results/worker_kills.json. Needs Redis. Run `make reliability`.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import configure_offline  # noqa: E402

configure_offline()

from api.root import Root  # noqa: E402
from benchmarks.faults import WorkerKills, check_index, write_inbox  # noqa: E402
from workers.submit import collect_files  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--abstracts", type=int, default=30)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "worker_kills.json")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    work = Path(tempfile.mkdtemp(prefix="cairn-kills-"))
    inbox = work / "inbox"
    write_inbox(inbox, args.abstracts)
    worker = WorkerKills(work / "data", args.redis_url)
    producer = Root(worker.settings())
    log = (work / "worker.log").open("w")
    rounds = []
    try:
        for number in range(1, args.rounds + 1):
            # Each round changes a few documents (they are replaced) and adds one, then kills the worker at random.
            files = sorted(inbox.iterdir())
            for path in rng.sample(files, k=min(3, len(files))):
                path.write_text(path.read_text(encoding="utf-8") + f"\nRevision {number}.", encoding="utf-8")
            (inbox / f"new-{number}.txt").write_text(f"A note added in round {number}: the index must hold it once.")
            started = time.monotonic()
            job_id = producer.submitter.submit(collect_files([inbox]), tenant="default", collection="kills", strategy="sentence")
            worker.start(log)
            delay = rng.uniform(1.0, 12.0)  # model loading takes several seconds: some kills land before any work
            time.sleep(delay)
            killed_at = {d["path"].rsplit("/", 1)[-1]: d["status"] for d in producer.jobs.get(job_id).documents
                         if d["status"] not in ("queued", "indexed", "replaced", "unchanged", "rejected", "failed")}
            worker.kill()
            worker.start(log)
            while (view := producer.jobs.get(job_id)).status not in ("done", "failed"):
                if time.monotonic() - started > 600:
                    raise SystemExit(f"round {number}: the job did not finish in 10 minutes")
                time.sleep(0.2)
            worker.stop()
            statuses = [d["status"] for d in view.documents]
            found = check_index(work / "data", producer.catalog, "kills", "sentence")
            lost = [d["path"] for d in view.documents if d["status"] not in ("indexed", "replaced", "unchanged")]
            rounds.append({
                "round": number, "kill_after_s": round(delay, 2), "in_work_when_killed": killed_at,
                "documents": found["documents"], "chunks": found["chunks"], "not_indexed": lost,
                "replaced": statuses.count("replaced"), "seconds": round(time.monotonic() - started, 1),
            })
            print(f"round {number}: killed after {delay:.1f} s while {killed_at or 'nothing was'} in work; "
                  f"{found['documents']} documents, {found['chunks']} chunks, consistent; {len(lost)} not indexed", flush=True)
    finally:
        worker.stop()
        log.close()
        producer.close()
    result = {
        "benchmark": "worker_kills", "rounds": len(rounds), "kills": worker.kills,
        "kills_mid_document": sum(bool(r["in_work_when_killed"]) for r in rounds),
        "rounds_with_lost_documents": sum(bool(r["not_indexed"]) for r in rounds),
        "inconsistent_rounds": 0,  # check_index raises on a duplicate, a half-indexed document or a staged leftover
        "detail": rounds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "detail"}))


if __name__ == "__main__":
    main()
