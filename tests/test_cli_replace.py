"""`cairn ingest` replaces by path (the user's own folders), `--no-replace` reports a conflict instead, and the
demo corpus's `.cairnignore` keeps its README out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cairn(data_dir: Path, *arguments: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CAIRN_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "api.cli", *arguments], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)


def test_no_replace_reports_a_conflict_and_the_default_replaces(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "herons.txt").write_text("Grey herons nest in the tall reeds of the Marlow estuary.")
    (folder / ".cairnignore").write_text("*.bak\n")
    (folder / "old.bak").write_text("left out")
    data = tmp_path / "data"
    first = cairn(data, "ingest", str(folder), "--json")
    assert first.returncode == 0, first.stderr[-3000:]
    assert [(Path(e["path"]).name, e["status"]) for e in json.loads(first.stdout)] == [("herons.txt", "indexed")]

    (folder / "herons.txt").write_text("Grey herons left the Marlow estuary early this year.")
    refused = cairn(data, "ingest", str(folder), "--no-replace")
    assert refused.returncode == 0, refused.stderr[-3000:]
    line = refused.stdout.strip()
    assert line.startswith(f"{folder / 'herons.txt'}: conflict: a document with this name and other content exists")
    replaced = cairn(data, "ingest", str(folder), "--json")
    assert [e["status"] for e in json.loads(replaced.stdout)] == ["replaced"]


def test_the_demo_corpus_does_not_index_its_own_readme():
    from workers.submit import collect_files

    names = {Path(f.display).name for f in collect_files([ROOT / "corpora"])}
    assert "README.md" not in names and "state_of_the_union.md" in names
