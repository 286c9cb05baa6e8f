"""Folder ingestion honours `.cairnignore` files (gitignore syntax), each below the folder it sits in."""

from __future__ import annotations

from pathlib import Path

from workers.submit import collect_files


def test_cairnignore_leaves_out_what_it_matches_below_its_folder(tmp_path):
    for name in ("README.md", "notes.md", "draft.tmp", "build/out.txt", "keep/README.md", "keep/deep/secret.txt",
                 "keep/deep/open.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / ".cairnignore").write_text("# top level\n/README.md\n*.tmp\nbuild/\n")
    (tmp_path / "keep" / "deep" / ".cairnignore").write_text("secret.txt\n")
    found = sorted(str(Path(f.display).relative_to(tmp_path)) for f in collect_files([tmp_path]))
    assert found == ["keep/README.md", "keep/deep/open.txt", "notes.md"]
    assert all(f.replace for f in collect_files([tmp_path])) and not any(f.replace for f in collect_files([tmp_path], replace=False))
