"""Every answer's audit record round-trips through the SQL store, on SQLite and on Postgres: the answer as given,
who asked, the model, tokens and cost, timings, the retrieved chunks and their scores, feedback and review."""

from __future__ import annotations

import json

from core.settings import Settings
from ingest.pipeline import IngestTarget
from tests.conftest import open_root
from tests.retrieval.test_answer import HEALTH_Q, OFF_TOPIC, SPEECH


def test_audit_record_round_trips_with_feedback_and_review(database_url, tmp_path, bge, parser):
    settings = Settings(data_dir=tmp_path / "data", database_url=database_url, _env_file=None)
    with open_root(settings, bge, parser) as rt:
        target = IngestTarget("acme", "speeches", "sentence")
        assert rt.ingest.ingest(SPEECH, display=SPEECH.name, source=str(SPEECH), target=target).status.value == "indexed"
        rt.catalog.record_corpus_version("acme", "speeches")

        answer = rt.answers.answer(HEALTH_Q, tenant="acme", collection="speeches", api_key_id="key-1")
        given = json.loads(json.dumps(answer.as_dict()))  # as the API returns it
        record = rt.answer_log.record("acme", answer.id)
        assert {k: record[k] for k in given} == given
        assert record["tenant"] == "acme" and record["collection"] == "speeches" and record["api_key_id"] == "key-1"
        assert record["model"] == rt.reranker.model_id and record["created_at"]
        assert record["corpus_version"] and record["timings_ms"]["total"] > 0
        scores = [r["score"] for r in record["retrieved"]]
        assert scores == sorted(scores, reverse=True) and len(scores) >= len(answer.citations)
        assert {c.chunk_id for c in answer.citations} <= {r["chunk_id"] for r in record["retrieved"]}
        assert record["feedback"] == [] and record["review"] is None
        assert rt.answer_log.record("globex", answer.id) is None  # another tenant's answer does not exist for it

        feedback, review_id = rt.review.feedback(
            _asker("acme"), answer.id, "down", comment="incomplete", correction="More than 100 million people."
        )
        assert review_id and feedback.chunk_ids == [r["chunk_id"] for r in record["retrieved"]]
        again, same_review = rt.review.feedback(_asker("acme"), answer.id, "down")
        assert same_review == review_id  # one pending review per answer, however many down-votes
        record = rt.answer_log.record("acme", answer.id)
        assert [f["rating"] for f in record["feedback"]] == ["down", "down"]
        assert record["feedback"][0]["correction"] == "More than 100 million people."
        assert record["review"] == {"id": review_id, "reason": "negative_feedback", "status": "pending", "resolution": None}

        off = rt.answers.answer(OFF_TOPIC, tenant="acme", collection="speeches")
        assert rt.answer_log.record("acme", off.id)["review"]["reason"] == "low_confidence"
        assert {r.id for r in rt.review.pending("acme")} == {review_id, off.review_id}


def _asker(tenant):
    from retrieval.audit import Asker

    return Asker(tenant, "key-1")
