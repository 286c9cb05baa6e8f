"""What an eval run leaves behind: a run folder with results.json, report.md and PNG charts; and run comparison."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path

# Published SciFact figures (test split, nDCG@10 over whole documents), from ../shared/data/README.md.
PUBLISHED_SCIFACT = (
    ("BM25 (BEIR paper)", 0.665, None),
    ("BM25 flat (Anserini)", 0.679, 0.925),
    ("BM25 + MiniLM-L-6 cross-encoder (BEIR)", 0.688, None),
    ("all-MiniLM-L6-v2 dense (MTEB)", 0.645, 0.925),
    ("bge-small-en-v1.5 dense (MTEB)", 0.713, 0.945),
)

CHUNKING_COLUMNS = (
    ("recall@k", "recall@k"), ("precision@k", "prec@k"), ("iou@k", "IoU@k"),
    ("recall@budget", "recall@budget"), ("precision@budget", "prec@budget"), ("iou@budget", "IoU@budget"),
    ("ragas_id_context_recall", "ragas ID recall"), ("ragas_id_context_precision", "ragas ID prec"),
    ("ragas_nonllm_context_recall", "ragas non-LLM recall"), ("ragas_nonllm_context_precision", "ragas non-LLM prec"),
    ("ragas_llm_context_precision", "ragas LLM prec"),
)


def new_run_id(suite: str) -> str:
    return f"{suite}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def save_run(result: dict, folder: Path) -> Path:
    """Writes results.json, report.md and the charts into `folder` (created); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(result, indent=2))
    charts = write_charts(result, folder)
    (folder / "report.md").write_text(markdown(result, charts))
    return folder


def load_run(path: Path) -> dict:
    """A run folder or its results.json."""
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise FileNotFoundError(f"{path} is neither a run folder (with results.json) nor a results.json file")
    return json.loads(file.read_text())


# ---- report.md ----------------------------------------------------------------------------------------------------

def _table(header: list[str], rows: list[list]) -> str:
    def cell(v) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        return "-" if v is None else str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def chunking_table(result: dict) -> str:
    columns = [(key, label) for key, label in CHUNKING_COLUMNS if any(key in v for v in result["variants"].values())]
    header = ["variant", *(label for _, label in columns), "chunks", "tokens (mean ± sd)", "ingest s"]
    rows = []
    for name, v in result["variants"].items():
        rows.append(
            [name, *(v.get(key) for key, _ in columns), v["chunks"],
             f"{v['chunk_tokens_mean']:.0f} ± {v['chunk_tokens_stdev']:.0f}", v["ingest_seconds"]]
        )
    return _table(header, rows)


def beir_table(result: dict) -> str:
    rows = [[f"Cairn {mode}", m["ndcg@10"], m["recall@100"], m["mrr@10"], m.get("p50_ms")] for mode, m in result["modes"].items()]
    if result.get("dataset") == "scifact":
        rows += [[f"published: {name}", ndcg, recall, None, None] for name, ndcg, recall in PUBLISHED_SCIFACT]
    return _table(["system", "nDCG@10", "Recall@100", "MRR@10", "p50 ms/query"], rows)


def abstention_table(result: dict) -> str:
    keys = ("abstention_recall", "abstention_recall_evidence_removed", "abstention_recall_off_topic", "false_abstention",
            "abstention_precision", "confidence_auroc", "evidence_read", "false_abstention_evidence_read",
            "false_abstention_evidence_not_read", "same_passages_both_ways", "lowest_false_abstention_at_target",
            "abstention_not_enough_info")
    summary = _table(["metric", "value"], [[k, result[k]] for k in keys if result.get(k) is not None])
    sweep = _table(
        ["threshold", "abstention recall", "false abstention", "precision"],
        [[t["threshold"], t["abstention_recall"], t["false_abstention"], t["abstention_precision"]] for t in result.get("thresholds", [])],
    )
    return summary + "\n\nThreshold sweep:\n\n" + sweep


def markdown(result: dict, charts: list[str]) -> str:
    suite = result.get("suite", "?")
    parts = [f"# Cairn eval: {suite} on {result.get('dataset', '?')}", ""]
    if suite == "chunking":
        parts += [
            f"{result['questions']} questions over {', '.join(result['corpora'])}; metrics at k = {result['k']} returned "
            f"spans and at a budget of {result['budget_tokens']} tokens. Best by IoU at the budget: "
            f"**{result['best_by_iou_at_budget']}**; by recall at the budget: **{result.get('best_by_recall_at_budget', '-')}**. "
            f"Recommended default: **{result.get('recommended_default', '-')}** ({result.get('recommendation_rule', '')}).",
            "", chunking_table(result),
        ]
    elif suite == "beir":
        parts += [f"{result['queries']} queries, {result['documents']} documents.", "", beir_table(result)]
    elif suite == "abstention":
        parts += [abstention_table(result)]
    elif suite == "ragas":
        parts += [
            f"{result['questions']} questions ({result['answerable']} answerable), answered by the real service.", "",
            _table(["metric", "value", "questions scored"],
                   [[k, v, result["scored"].get(k)] for k, v in result.items() if k in result.get("scored", {})]),
            "", f"Fallbacks: {json.dumps(result.get('fallbacks', {}))}; answer p50 {result['answer_p50_ms']} ms, "
            f"p95 {result['answer_p95_ms']} ms.",
        ]
    else:
        parts += ["```json", json.dumps({k: v for k, v in result.items() if k != "versions"}, indent=2), "```"]
    parts += ["", "## Versions", "", "```json", json.dumps(result.get("versions", {}), indent=2), "```", ""]
    parts += [f"![{c}]({c})" for c in charts]
    return "\n".join(parts) + "\n"


# ---- charts -------------------------------------------------------------------------------------------------------

def write_charts(result: dict, folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    suite, written = result.get("suite"), []

    def save(fig, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        written.append(name)

    if suite == "chunking":
        for scope in ("budget", "k"):
            fig, ax = plt.subplots(figsize=(7, 5))
            for name, v in result["variants"].items():
                ax.scatter(v[f"recall@{scope}"], v[f"precision@{scope}"])
                ax.annotate(name, (v[f"recall@{scope}"], v[f"precision@{scope}"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
            label = f"{result['budget_tokens']} tokens" if scope == "budget" else f"k = {result['k']}"
            ax.set(xlabel="token-level recall", ylabel="token-level precision", title=f"Chunking variants at {label}")
            ax.grid(alpha=0.3)
            save(fig, f"recall_precision_{scope}.png")
        fig, ax = plt.subplots(figsize=(8, 4))
        names = list(result["variants"])
        ax.bar(names, [result["variants"][n]["iou@budget"] for n in names])
        ax.set(ylabel="IoU", title="IoU at the token budget")
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        save(fig, "iou_budget.png")
    elif suite == "beir":
        fig, ax = plt.subplots(figsize=(7, 4))
        modes = list(result["modes"])
        ax.bar(modes, [result["modes"][m]["ndcg@10"] for m in modes], color="tab:blue")
        if result.get("dataset") == "scifact":
            for name, ndcg, _ in PUBLISHED_SCIFACT:
                ax.axhline(ndcg, linestyle="--", linewidth=0.8, color="gray")
                ax.text(len(modes) - 0.5, ndcg, name, fontsize=6, va="bottom", ha="right")
        ax.set(ylabel="nDCG@10", title=f"{result.get('dataset')}: nDCG@10 per retrieval mode", ylim=(0.5, 0.8))
        save(fig, "ndcg_by_mode.png")
    elif suite == "ragas" and result.get("scored"):
        fig, ax = plt.subplots(figsize=(8, 4))
        names = list(result["scored"])
        ax.barh(names, [result[n] for n in names])
        ax.set(xlim=(0, 1), title=f"{result.get('dataset')}: answers scored end to end")
        ax.tick_params(axis="y", labelsize=8)
        save(fig, "answer_metrics.png")
    elif suite == "abstention" and result.get("thresholds"):
        fig, ax = plt.subplots(figsize=(6, 5))
        sweep = result["thresholds"]
        ax.plot([t["false_abstention"] for t in sweep], [t["abstention_recall"] for t in sweep], marker="o")
        for t in sweep[::3]:
            ax.annotate(f"{t['threshold']:.2f}", (t["false_abstention"], t["abstention_recall"]), fontsize=7)
        ax.axvline(0.10, color="gray", linestyle="--", linewidth=0.8)
        ax.axhline(0.90, color="gray", linestyle="--", linewidth=0.8)
        ax.set(xlabel="false abstention (answerable)", ylabel="abstention recall (unanswerable)",
               title="Abstention by confidence threshold")
        save(fig, "abstention_sweep.png")
    return written


# ---- comparison ---------------------------------------------------------------------------------------------------

def _numbers(value, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("versions", "thresholds"):
                continue
            out |= _numbers(item, f"{prefix}{key}.")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix.rstrip(".")] = float(value)
    return out


def compare(a: dict, b: dict) -> list[tuple[str, float, float, float]]:
    """(metric, A, B, B - A) for every number both runs have; the suites must match."""
    if a.get("suite") != b.get("suite"):
        raise ValueError(f"cannot compare a {a.get('suite')} run with a {b.get('suite')} run")
    na, nb = _numbers(a), _numbers(b)
    return [(key, na[key], nb[key], nb[key] - na[key]) for key in na if key in nb]


def changed_versions(a: dict, b: dict) -> list[tuple[str, object, object]]:
    va, vb = a.get("versions", {}), b.get("versions", {})
    return [(k, va.get(k), vb.get(k)) for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
