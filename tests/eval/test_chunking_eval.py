"""The chunking suite: span arithmetic by hand, then a small slice of the chunking benchmark through the real
ingestion and search services as a quality gate, and the run folder / comparison it leaves behind."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from api.cli import app
from core.settings import Settings
from eval import chunking, report
from tests.conftest import SHARED_DATA, open_root
from tests.fake_judge import judge
from tests.fake_openai import FakeOpenAI

CHUNKING = SHARED_DATA / "chunking"


def test_span_scores_count_overlaps_and_other_documents():
    gold = [(100, 200)]
    # a chunk covering the gold exactly: perfect
    assert chunking.span_scores([("d", 100, 200)], "d", gold) == {"recall": 1.0, "precision": 1.0, "iou": 1.0}
    # half the gold, plus 50 characters of another document (sent, not gold)
    s = chunking.span_scores([("d", 150, 250), ("other", 100, 150)], "d", gold)
    assert s["recall"] == 0.5 and s["precision"] == pytest.approx(50 / 150) and s["iou"] == pytest.approx(50 / 200)
    # two overlapping chunks: the gold is covered once, but both chunks are sent in full
    s = chunking.span_scores([("d", 100, 200), ("d", 150, 250)], "d", gold)
    assert s["recall"] == 1.0 and s["precision"] == pytest.approx(100 / 200)
    assert chunking.span_scores([], "d", gold) == {"recall": 0.0, "precision": 0.0, "iou": 0.0}
    assert chunking.merge([(5, 9), (0, 3), (2, 4), (9, 9)]) == [(0, 4), (5, 9)]


def test_token_budget_cuts_the_last_span():
    hits = [SimpleNamespace(document_id="d", start=0, end=40, text="w " * 20),
            SimpleNamespace(document_id="d", start=100, end=140, text="w " * 20),
            SimpleNamespace(document_id="d", start=200, end=240, text="w " * 20)]
    count = lambda text: len(text.split())  # noqa: E731 - one "token" per word
    cut = lambda text, tokens: 2 * tokens  # noqa: E731
    assert chunking.within_budget(hits, 50, count, cut) == [("d", 0, 40), ("d", 100, 140), ("d", 200, 220)]
    assert chunking.within_budget(hits, 20, count, cut) == [("d", 0, 40)]


def test_variant_names():
    assert chunking.Variant.parse("token-128-16") == chunking.Variant("token", 128, 16)
    assert chunking.Variant.parse("sentence").name == "sentence-256-32"
    with pytest.raises(ValueError, match="STRATEGY-SIZE-OVERLAP"):
        chunking.Variant.parse("sentence-big")
    assert {v.strategy for v in chunking.VARIANTS} >= {"token", "sentence", "structure", "markdown", "semantic", "hierarchical"}


# Today's figures on this slice (the first 20 State of the Union questions): recall@k 1.0 for both variants,
# IoU@k sentence-256 0.026, token-128 0.048. The gate catches broken offsets, mapping or retrieval.
GATE = {"recall@k": 0.9, "recall@budget": 0.9}


@pytest.fixture(scope="module")
def slice_run(tmp_path_factory, bge, parser):
    tmp = tmp_path_factory.mktemp("chunking-eval")
    settings = Settings(data_dir=tmp / "data", _env_file=None)
    variants = (chunking.Variant.parse("sentence-256-32"), chunking.Variant.parse("token-128-16"))
    with open_root(settings, bge, parser) as runtime:
        result = chunking.run(runtime.eval_services(), CHUNKING, variants=variants, corpora=("state_of_the_union",), limit=20)
    return tmp, result


def test_chunking_slice_quality_gate(slice_run):
    _, result = slice_run
    print(json.dumps(result["variants"], indent=1))
    assert result["questions"] == 20 and result["corpora"] == ["state_of_the_union"]
    for name, v in result["variants"].items():
        for metric, floor in GATE.items():
            assert v[metric] >= floor, (name, metric, v[metric])
        assert 0 < v["precision@k"] < 0.2 and 0 < v["iou@k"] <= v["precision@k"]
        assert v["ragas_id_context_recall"] >= 0.9 and 0 < v["ragas_id_context_precision"] <= 1
        assert v["chunks"] > 10 and v["chunk_tokens_mean"] <= v["chunk_size"]
    # smaller chunks are more precise at a fixed k
    assert result["variants"]["token-128-16"]["precision@k"] > result["variants"]["sentence-256-32"]["precision@k"]
    assert result["best_by_iou_at_budget"] in result["variants"]


def test_run_folder_report_and_compare(slice_run, tmp_path):
    _, result = slice_run
    folder = report.save_run(result, tmp_path / "run-a")
    assert {"results.json", "report.md", "recall_precision_budget.png", "iou_budget.png"} <= {p.name for p in folder.iterdir()}
    assert (folder / "recall_precision_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (folder / "report.md").read_text()
    assert "| sentence-256-32 |" in text and "IoU@budget" in text and "![iou_budget.png](iou_budget.png)" in text

    worse = json.loads(json.dumps(result))
    worse["variants"]["token-128-16"]["recall@k"] -= 0.25
    worse["versions"]["embedder"] = "other-model"
    report.save_run(worse, tmp_path / "run-b")
    rows = {key: delta for key, _, _, delta in report.compare(result, worse)}
    assert rows["variants.token-128-16.recall@k"] == pytest.approx(-0.25)
    assert rows["variants.sentence-256-32.recall@k"] == 0.0

    out = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "run-a"), str(tmp_path / "run-b" / "results.json")])
    assert out.exit_code == 0, out.output
    assert "variants.token-128-16.recall@k" in out.output and "-0.2500" in out.output
    assert "variants.sentence-256-32.recall@k" not in out.output  # unchanged rows are left out
    assert "version embedder:" in out.output

    beir_like = {"suite": "beir", "modes": {}}
    with pytest.raises(ValueError, match="cannot compare"):
        report.compare(result, beir_like)
    missing = CliRunner().invoke(app, ["eval", "compare", str(tmp_path / "run-a"), str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "neither a run folder" in missing.output


def test_cli_rejects_bad_chunking_arguments(tmp_path):
    runner = CliRunner()
    out = runner.invoke(app, ["eval", "chunking", str(tmp_path)])
    assert out.exit_code == 2 and "not a chunking benchmark folder" in out.output
    out = runner.invoke(app, ["eval", "chunking", str(CHUNKING), "--variants", "fancy-256-32"])
    assert out.exit_code == 2 and "unknown chunking strategy 'fancy'" in out.output
    out = runner.invoke(app, ["eval", "chunking", str(CHUNKING), "--variants", "sentence-x"])
    assert out.exit_code == 2 and "invalid variant" in out.output


def test_recommendation_breaks_ties_towards_whole_sentences():
    def v(strategy, recall, iou=0.05):
        return {"strategy": strategy, "recall@budget": recall, "iou@budget": iou}

    assert chunking.recommend({"token-256": v("token", 0.944), "sentence-256": v("sentence", 0.939)}) == "sentence-256"
    assert chunking.recommend({"token-256": v("token", 0.96), "sentence-256": v("sentence", 0.90)}) == "token-256"
    assert chunking.recommend({"markdown-256": v("markdown", 0.94), "sentence-128": v("sentence", 0.935),
                               "sentence-512": v("sentence", 0.80)}) == "sentence-128"


def test_llm_judged_context_precision_needs_and_uses_the_endpoint(tmp_path, bge, parser):
    variant = (chunking.Variant.parse("sentence-256-32"),)
    with open_root(Settings(data_dir=tmp_path / "plain", _env_file=None), bge, parser) as runtime:
        with pytest.raises(ValueError, match="CAIRN_LLM__BASE_URL"):
            chunking.run(runtime.eval_services(), CHUNKING, variants=variant, llm_judge=True)
    with FakeOpenAI(reply=judge(1)) as fake:
        settings = Settings(data_dir=tmp_path / "judged", llm={"base_url": fake.base_url, "model": "judge"}, _env_file=None)
        with open_root(settings, bge, parser) as runtime:
            result = chunking.run(runtime.eval_services(), CHUNKING, variants=variant, corpora=("state_of_the_union",), limit=3,
                                  llm_judge=True)
    assert result["llm_judge"] == {"model": "judge", "errors": 0}
    assert result["variants"]["sentence-256-32"]["ragas_llm_context_precision"] == pytest.approx(1.0)
    assert len(fake.requests) == 3 * chunking.K  # one verdict per returned chunk
    assert "ragas LLM prec" in report.chunking_table(result)
