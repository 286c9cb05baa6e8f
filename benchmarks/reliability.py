"""The reliability run's summary (`make reliability`), one JSON for all of it: the aimed kills on each profile (read from
benchmarks/stage_kills.py's results, which `make reliability` writes first), then the fault scenarios the test suite
checks, run once more against the real services: concurrent uploaders, a worker SIGKILLed mid-document, Redis and
Postgres restarted mid-batch, a full data disk, a delete killed half-way, Redis, the database, the LLM and the
Qdrant server down under the API.

Writes benchmarks/results/reliability.json: per profile the kills per stage, documents lost, rounds checked; per
scenario its tests' outcomes and seconds. Exits non-zero if a kill result is missing or failed, or a scenario did
not pass (a skipped one, say a tmpfs that cannot be mounted, does not pass)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.stage_kills import POINTS  # noqa: E402

# Each is the test suite's own check of that fault: the same assertions, real Redis, Postgres, workers and index.
SCENARIOS = {
    "concurrent uploaders (upload, replace, delete; shared names)": "tests/api/test_concurrent_uploaders.py",
    "worker SIGKILLed mid-document": "tests/workers/test_worker_kill.py::test_a_worker_killed_mid_document_loses_and_duplicates_nothing",
    "Redis restarted mid-batch": "tests/workers/test_worker_kill.py::test_redis_restarting_during_a_batch_loses_nothing",
    "Postgres restarted mid-batch": "tests/workers/test_worker_kill.py::test_postgres_restarting_during_a_batch_loses_nothing",
    "data disk full mid-document": "tests/workers/test_disk_full.py",
    "delete killed half-way": "tests/ingest/test_interrupted_delete.py",
    "dependencies down under the API (Redis, database, LLM, Qdrant server)": "tests/api/test_faults.py",
}


def scenarios(work: Path) -> dict[str, dict]:
    """Runs each scenario's tests (pytest, JUnit XML) and reads back their outcomes and durations."""
    found = {}
    for name, target in SCENARIOS.items():
        report = work / f"{len(found)}.xml"
        subprocess.run([sys.executable, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", f"--junitxml={report}"],
                       cwd=ROOT, check=False, capture_output=True)
        cases = ET.parse(report).getroot().iter("testcase") if report.exists() else []
        tests = [{"test": case.get("name"), "seconds": round(float(case.get("time", 0)), 1),
                  "outcome": "failed" if case.find("failure") is not None or case.find("error") is not None
                  else "skipped" if case.find("skipped") is not None else "passed"} for case in cases]
        passed = bool(tests) and all(t["outcome"] == "passed" for t in tests)
        found[name] = {"target": target, "passed": passed, "tests": tests}
        print(f"{name}: {'passed' if passed else 'FAILED'} ({sum(t['seconds'] for t in tests):.0f} s)", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cairn-reliability-") as work:
        checked = scenarios(Path(work))
    kills = {}
    for profile in ("embedded", "server"):
        found = args.results / f"stage_kills_{profile}.json"
        result = json.loads(found.read_text()) if found.exists() else None
        kills[profile] = None if result is None else {
            **{k: v for k, v in result.items() if k != "detail"},
            # the target: 50 kills, each mid-document, at least 8 at each point, nothing lost
            "meets_target": result["kills"] >= 50 and result["per_stage"]["idle"] == 0
            and all(result["per_stage"][p] >= 8 for p in POINTS) and result["documents_lost"] == 0,
        }
    result = {"benchmark": "reliability", "stage_kills": kills, "scenarios": checked,
              "all_passed": all(s["passed"] for s in checked.values())
              and all(k is not None and k["meets_target"] for k in kills.values())}
    out = args.results / "reliability.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}; all passed: {result['all_passed']}")
    sys.exit(0 if result["all_passed"] else 1)


if __name__ == "__main__":
    main()
