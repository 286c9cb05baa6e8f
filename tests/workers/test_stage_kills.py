"""The reliability run's fast part: `cairn serve` (embedded profile) SIGKILLed once at each point of a document's path
(parsing, chunking, embedding, indexing, the staged-to-live swap, a delete), each aimed from the job store or a
failpoint; after the restart every document is indexed once at its newest version, nothing deleted is left, and no
upload outlives its document. `make reliability` runs 50 such kills on each profile."""

from __future__ import annotations

import pytest

from benchmarks.stage_kills import POINTS, run


@pytest.mark.integration
@pytest.mark.slow
def test_one_kill_at_each_point_of_the_work_loses_nothing(redis_url, tmp_path):
    result = run("embedded", kills=len(POINTS), seed=3, abstracts=4, kills_per_round=3, redis_url=redis_url,
                 work=tmp_path)
    assert result["kills"] == len(POINTS)
    assert result["per_stage"] == {**{p: 1 for p in POINTS}, "idle": 0}, result["detail"]  # each landed where aimed
    assert result["documents_lost"] == 0
    assert result["rounds"] == 2 and all(r["documents"] >= 8 for r in result["round_detail"])  # check() passed
    assert result["deleted"] == 1
