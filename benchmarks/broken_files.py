"""A large generated set of broken files through the real in-process worker: every file must get an outcome
(indexed, or rejected with a reason), no system failure, and the worker must ingest a good file afterwards.

Prints outcome counts per kind and writes benchmarks/results/broken_files.json. Run `make reliability`.
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline import configure_offline  # noqa: E402

configure_offline()

from api.root import Root  # noqa: E402
from benchmarks.brokenfiles import KINDS, generate  # noqa: E402
from benchmarks.common import DOCS  # noqa: E402
from core.settings import Settings  # noqa: E402
from workers.inprocess import InProcessWorker  # noqa: E402
from workers.submit import collect_files  # noqa: E402


def wait(runtime, job_id: str):
    while not (view := runtime.jobs.get(job_id)).finished:
        time.sleep(0.5)
    return view


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=600)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "broken_files.json")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cairn-broken-"))
    generate(work / "broken", args.count, seed=args.seed)
    runtime = Root(Settings(data_dir=work / "data"))
    runtime.open_ingestion()
    worker = InProcessWorker(runtime.celery, runtime.settings.worker.concurrency)
    worker.start()
    started = time.perf_counter()
    try:
        view = wait(runtime, runtime.submitter.submit(collect_files([work / "broken"]), tenant="default", collection="broken",
                                    strategy="sentence"))
        seconds = time.perf_counter() - started
        good = wait(runtime, runtime.submitter.submit(collect_files([DOCS / "fake-memo.pdf"]), tenant="default",
                                    collection="broken", strategy="sentence"))
    finally:
        worker.stop()
        runtime.close()
    by_kind: dict[str, collections.Counter] = {kind: collections.Counter() for kind in KINDS}
    reasons: collections.Counter = collections.Counter()
    for d in view.documents:
        if "::" in d["path"]:
            continue
        kind = Path(d["path"]).stem.split("-", 1)[1]
        by_kind[kind][d["status"]] += 1
        if d["reason"]:
            reasons[d["reason"].split(":", 1)[0]] += 1
    top = sum(sum(c.values()) for c in by_kind.values())
    result = {
        "benchmark": "broken_files", "files": args.count, "outcomes": top,
        "failed": sum(c["failed"] for c in by_kind.values()), "seconds": round(seconds, 1),
        "worker_alive_after": good.documents[0]["status"] == "indexed",
        "by_kind": {k: dict(c) for k, c in by_kind.items()}, "rejection_codes": dict(reasons),
    }
    for kind, counts in by_kind.items():
        print(f"{kind:22} {dict(counts)}")
    print(json.dumps({k: v for k, v in result.items() if k not in ("by_kind",)}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    if result["failed"] or top != args.count or not result["worker_alive_after"]:
        raise SystemExit("some file got no outcome, or a system failure, or the worker died")


if __name__ == "__main__":
    main()
