"""Helpers the benchmarks (and the tests that reuse their tools) share: where the repository and the shared data are,
a free loopback port, waiting for a server process, the resident memory and CPU time of a process tree."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
DOCS = SHARED_DATA / "docs"
SPEECH = SHARED_DATA / "chunking" / "corpora" / "state_of_the_union.md"
POSTGRES_ADMIN_URL = os.environ.get("CAIRN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextlib.contextmanager
def scratch_postgres(prefix: str) -> Iterator[str]:
    """A fresh database on the Postgres server of POSTGRES_ADMIN_URL, dropped afterwards; its URL. Raises
    sqlalchemy's OperationalError when the server is not reachable."""
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(server: subprocess.Popen, ready: Callable[[], bool], timeout_s: float, log: Path) -> None:
    """Polls `ready()` (connection errors count as not yet) until it holds; exits if the server died or took too long."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready():
                return
        except OSError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise SystemExit(f"the server did not come up; see {log}")
        time.sleep(0.5)


def rss_mb(pid: int, children: bool = True) -> float:
    """Resident memory of a process, and of its children (the parser child, worker pool processes) unless told not."""
    total = 0
    for p in [pid, *(_children(pid) if children else [])]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by every live descendant of a process (the parser child...)."""
    total = 0.0
    for child in _children(pid):
        try:
            fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _children(pid: int) -> list[int]:
    """Every descendant: a child started by any thread is listed under that thread's task."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                found += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    except OSError:
        return []
    return found + [g for c in found for g in _children(c)]


@dataclass(frozen=True)
class Target:
    """One figure an issue sets a goal for: its value when the issue was filed, and the goal."""

    figure: str
    baseline: str
    goal: float
    higher_is_better: bool = True

    def row(self, measured: float | None) -> dict:
        met = None if measured is None else (measured >= self.goal if self.higher_is_better else measured <= self.goal)
        sign = ">=" if self.higher_is_better else "<="
        return {"figure": self.figure, "baseline": self.baseline, "target": f"{sign} {self.goal:g}",
                "measured": measured, "met": met}


def print_targets(rows: list[dict]) -> None:
    """The targets side by side with their baselines and this run's figures, one line each."""
    width, base = max(len(r["figure"]) for r in rows), max(8, *(len(r["baseline"]) for r in rows))
    print(f"{'figure':<{width}}  {'baseline':>{base}}  {'target':>8}  {'this run':>9}  met")
    for r in rows:
        measured = "-" if r["measured"] is None else f"{r['measured']:g}"
        met = {True: "yes", False: "no", None: "-"}[r["met"]]
        print(f"{r['figure']:<{width}}  {r['baseline']:>{base}}  {r['target']:>8}  {measured:>9}  {met}")


def machine() -> dict:
    """What the figures depend on besides the code: the CPU, whether it has the int8 dot-product instructions (VNNI,
    which speed up the int8 models), and how busy the machine was when the run ended."""
    flags, model = "", ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = line.split(":", 1)[1]
    return {"cpu": model, "cores": os.cpu_count(), "avx512_vnni": "avx512_vnni" in flags.split(),
            "load_average_1m": round(os.getloadavg()[0], 2)}
