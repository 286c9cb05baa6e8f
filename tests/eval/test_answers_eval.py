"""`cairn eval ragas`: answers scored end to end. Metric helpers by hand, then a few State of the Union questions
through the real answering service on a corpus indexed for the run."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from api.cli import app
from core.settings import Settings
from eval import answers
from tests.conftest import SHARED_DATA, open_root
from tests.fake_judge import judge
from tests.fake_openai import FakeOpenAI

CHUNKING = SHARED_DATA / "chunking"


def test_metric_helpers():
    assert answers.token_f1("Over 100 million people", "over 100 million of you") == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert answers.token_f1("nothing alike", "entirely different") == 0.0
    text = "Putin is invading Ukraine. [1] He lied [2][3] Unmarked tail."
    assert answers.cited_sentences(text) == [("Putin is invading Ukraine.", [1]), ("He lied", [2, 3])]


def test_bad_datasets_say_where(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "fine"}\n\n{"reference": "no question"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:3: not a dataset row"):
        answers.load(bad)
    out = CliRunner().invoke(app, ["eval", "ragas", str(bad)])
    assert out.exit_code == 2 and "bad.jsonl:3" in out.output
    out = CliRunner().invoke(app, ["eval", "ragas", str(tmp_path)])
    assert out.exit_code == 2 and "neither a JSONL file nor a chunking benchmark folder" in out.output


def sotu_dataset(tmp_path, questions: slice = slice(0, 5)):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CHUNKING / "corpora" / "state_of_the_union.md", corpus)
    dataset = tmp_path / "sotu.jsonl"
    with (CHUNKING / "questions.csv").open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["corpus_id"] == "state_of_the_union"][questions]
    lines = []
    for r in rows:
        refs = json.loads(r["references"])
        lines.append({
            "question": r["question"], "reference": " ".join(x["content"] for x in refs),
            "reference_contexts": [x["content"] for x in refs],
            "reference_spans": [{"source": "state_of_the_union.md", "start": x["start_index"], "end": x["end_index"]} for x in refs],
        })
    lines.append({"question": "What is the airspeed of an unladen swallow carrying a coconut?", "answerable": False})
    dataset.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return dataset, corpus


# The quality gate: all 76 State of the Union questions (about 30 s), thresholds just below the figures of
# 2026-12-06 with the calibration that reads questions and claims apart and the search score (answered 0.921,
# reference coverage 0.797, citations in gold 0.833, right 0.842, context recall 0.627). With the question signals
# alone: 0.868, 0.784, 0.876, 0.829, 0.665; before them: 0.658, 0.610, 0.900, 0.632 (the questions answered now cite a
# gold span less often than the rest); before the source frames were set aside and the nearly-as-good rule lost its
# sign: 0.618, 0.526, 0.851, 0.540. The same code on another machine of this kind (2026-12-06 evening, AMD EPYC) gave
# 0.921, 0.784, 0.826, 0.829, 0.599: the models' outputs differ a little between machines (the cross-encoder's logits
# for the shipped calibration's first chat-log questions by 0.04-0.23), and a question or two lands elsewhere. The
# gates sit about two questions below the lower of the two. With DBSF ranking and its calibration (2026-12-06 evening,
# an Intel Xeon): 0.921, 0.804, 0.855, 0.855, 0.635. With sentences opening on a pronoun read with the one before and
# `cal-c645edc59d06` (2026-12-06 night, an AMD EPYC with AVX-512 VNNI): 0.934, 0.804, 0.843, 0.855, 0.588; with sentences
# that ask not taken for answers 0.934, 0.804, 0.839, 0.855, 0.602; with one sentence of lead-in before a pronoun (not
# 200 characters) 0.934, 0.804, 0.839, 0.855, 0.626. Answered and
# right are raised to 69 and 62 of 76 questions: one and two below the lowest figures seen on any machine since the
# question signals (70 and 63 of 76). With overlapping quotes quoted once (the preferred kept) and a lead-in that
# follows sentences pointing back ("But", "It") up to three sentences (2026-12-07, AMD EPYC): 0.934, 0.817, 0.850,
# 0.868, 0.618; coverage and citations in gold are raised to 0.78 and 0.81, about two questions below.
SOTU_QUESTIONS = 76


def test_answers_scored_end_to_end(tmp_path, bge, parser):
    dataset, corpus = sotu_dataset(tmp_path, slice(0, None))
    with open_root(Settings(data_dir=tmp_path / "data", _env_file=None), bge, parser) as runtime:
        result = answers.run(runtime.eval_services(), dataset, corpus=corpus)
    print(json.dumps({k: v for k, v in result.items() if k != "per_question"}, indent=1))
    n = SOTU_QUESTIONS
    assert result["questions"] == n + 1 and result["answerable"] == n and result["versions"]["documents"] == 1
    assert result["abstained"] == 1.0  # the off-topic question
    assert result["answered"] >= 0.90 and result["reference_coverage"] >= 0.78
    assert 0 <= result["ece"] <= 1 and result["right"] >= 0.81 and result["versions"]["calibration"].startswith("cal-")
    assert result["citation_in_reference"] >= 0.81 and result["ragas_context_recall"] >= 0.57
    assert result["citation_support"] >= 0.8  # extractive citations quote the sentence they support
    assert 0 < result["answer_token_f1"] <= 1 and 0 < result["answer_semantic_similarity"] <= 1
    assert result["scored"]["answer_token_f1"] == round(result["answered"] * n)
    each = result["per_question"]  # where the figures come from, question by question
    assert len(each) == n + 1 and sum(q["abstained"] for q in each if q["answerable"]) == round((1 - result["answered"]) * n)
    covered = [q["reference_coverage"] for q in each if q["reference_coverage"] is not None]
    assert sum(covered) / len(covered) == pytest.approx(result["reference_coverage"], abs=1e-4)
    cited = [c["in_reference"] for q in each for c in q["citations"] if q["answerable"] and not q["abstained"]]
    assert cited and all(isinstance(c, bool) for c in cited)


@pytest.mark.parametrize("reply", ["judge", "500"])
def test_llm_judged_metrics_through_the_configured_endpoint(tmp_path, bge, parser, reply):
    dataset, corpus = sotu_dataset(tmp_path, questions=slice(2, 4))  # two direct questions
    with FakeOpenAI(reply=judge(1) if reply == "judge" else lambda request: "500") as fake:
        settings = Settings(data_dir=tmp_path / "data", llm={"base_url": fake.base_url, "model": "judge-model",
                            "max_retries": 0}, _env_file=None)
        with open_root(settings, bge, parser) as runtime:
            result = answers.run(runtime.eval_services(), dataset, corpus=corpus)
    answered = result["scored"]["answer_token_f1"]
    assert result["llm_judge"]["model"] == "judge-model" and answered >= 1
    if reply == "judge":
        assert result["llm_judge"]["errors"] == 0
        assert result["ragas_llm_faithfulness"] == 1.0 and result["ragas_llm_context_precision"] == pytest.approx(1.0)
        assert 0 <= result["ragas_llm_answer_relevancy"] <= 1
        assert fake.requests and all(r["model"] == "judge-model" for r in fake.requests)
    else:  # a judge that is down costs its scores, not the run
        assert result["llm_judge"]["errors"] == 3 * answered and "ragas_llm_faithfulness" not in result
