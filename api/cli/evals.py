"""Evaluation: the `eval` group and `cairn calibrate`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import fail, open_eval_root, open_root, write_results
from core.vectorstore import StoreLocked
from eval import abstention, answers, beir, chunking, report
from eval import calibrate as fitting
from eval.reliability import reliability_diagram

eval_app = typer.Typer(help="Evaluation suites (results.json per run).", no_args_is_help=True)


@eval_app.command("beir")
def eval_beir(
    folder: Annotated[Path, typer.Argument(help="A BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels/).")],
    split: Annotated[str, typer.Option(help="Which qrels split.")] = "test",
    modes: Annotated[str, typer.Option(help="Comma-separated: dense, sparse, hybrid, hybrid+rerank.")] = "dense,sparse,hybrid",
    limit: Annotated[int | None, typer.Option(help="Only the first N queries.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("eval-results/beir"),
) -> None:
    """nDCG@10, Recall@100 and MRR@10 over documents, per retrieval mode (the corpus is indexed first)."""
    try:
        chosen = beir.check_modes(modes.split(","))
    except ValueError as exc:
        fail(str(exc))
    if not (folder / "corpus.jsonl").is_file():
        fail(f"{folder} is not a BEIR folder (no corpus.jsonl)")
    root = open_eval_root(folder)
    try:
        result = beir.run(root.eval_services(), folder, split=split, modes=chosen, limit=limit)
    finally:
        root.close()
    write_results(result, out)


@eval_app.command("chunking")
def eval_chunking(
    folder: Annotated[Path, typer.Argument(help="A chunking benchmark folder (corpora/*.md, questions.csv).")],
    variants: Annotated[
        str | None, typer.Option(help="Comma-separated STRATEGY-SIZE-OVERLAP (or STRATEGY); default: every strategy and size variants.")
    ] = None,
    corpora: Annotated[str | None, typer.Option(help="Comma-separated corpus ids (file stems); default: all.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    k: Annotated[int, typer.Option(help="Returned chunks scored at a fixed count.")] = 5,
    budget: Annotated[int, typer.Option(help="Token budget scored (chunks in rank order, the last one cut).")] = 1000,
    llm_judge: Annotated[
        bool, typer.Option("--llm-judge", help="Also ragas's LLM-judged context precision (needs CAIRN_LLM__BASE_URL).")
    ] = False,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("eval-results/chunking"),
) -> None:
    """Token-level recall/precision/IoU and ragas context metrics per chunking strategy (one collection each)."""
    if not (folder / "questions.csv").is_file() or not (folder / "corpora").is_dir():
        fail(f"{folder} is not a chunking benchmark folder (corpora/ and questions.csv)")
    try:
        chosen = chunking.parse_variants(variants.split(",") if variants else ())
        names = tuple(c.strip() for c in corpora.split(",") if c.strip()) if corpora else ()
        root = open_eval_root(folder)
        try:
            result = chunking.run(
                root.eval_services(), folder, variants=chosen, corpora=names, limit=limit, k=k, budget=budget, llm_judge=llm_judge
            )
        finally:
            root.close()
    except ValueError as exc:
        fail(str(exc))
    write_results(result, out)


def calibrate(
    datasets: Annotated[
        list[Path] | None, typer.Argument(help="Folders to label answers with: a chunking benchmark, a BEIR SciFact folder.")
    ] = None,
    from_review: Annotated[bool, typer.Option("--from-review", help="Add the review queue's decisions as labels.")] = False,
    max_false_abstention: Annotated[float, typer.Option(min=0.0, max=1.0, help="Answerable questions that may abstain.")] = 0.05,
    fit_corpora: Annotated[str, typer.Option(help="Corpora (file stems) fitted on; the others are held back.")] = "chatlogs",
    limit: Annotated[int | None, typer.Option(help="Only the first N questions of each corpus.")] = None,
    out: Annotated[Path, typer.Option(help="Where the report and the reliability diagram go.")] = Path("eval-results/calibration"),
    write: Annotated[Path | None, typer.Option(help="Also write the calibration file here (e.g. retrieval/calibration.json).")] = None,
) -> None:
    """Fit the answer confidence's calibration and threshold from labelled answers; answers use it from then on."""
    if not datasets and not from_review:
        fail("give a dataset folder, --from-review, or both")
    root = open_root()
    examples: list = []
    sources = []
    try:
        for dataset in datasets or []:
            if not dataset.is_dir():
                fail(f"{dataset} is not a folder")
            eval_root = open_eval_root(dataset)
            try:
                examples += fitting.examples_from_dataset(eval_root.eval_services(), dataset, set(fit_corpora.split(",")), limit)
            finally:
                eval_root.close()
            sources.append(str(dataset))
        calibration, report, examples = fitting.recalibrate(
            root.calibrations, root.calibration, root.review, root.settings.tenant, examples, sources,
            from_review=from_review, max_false_abstention=max_false_abstention)
    except ValueError as exc:
        fail(str(exc))
    finally:
        root.close()
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"version": calibration.version, **report}, indent=2) + "\n")
    shown = [e for e in examples if e.held_back] or examples
    reliability_diagram([calibration.confidence(e.signals) for e in shown], [e.right for e in shown],
                        f"{calibration.version}, held-back labels", out / "reliability.png")
    if write is not None:
        write.write_text(json.dumps(calibration.as_dict(), indent=2, sort_keys=True) + "\n")
        fitting.write_examples(examples, write.with_name(write.stem + "_examples.jsonl"))
    typer.echo(json.dumps({"version": calibration.version, "threshold": calibration.threshold, **report}, indent=2))
    typer.echo(f"calibration {calibration.version} in use; report and reliability diagram in {out}", err=True)


@eval_app.command("ragas")
def eval_ragas(
    dataset: Annotated[Path, typer.Argument(help="JSONL questions (see eval/answers.py), or a chunking benchmark folder.")],
    corpus: Annotated[
        Path | None, typer.Option(help="Index this folder first and ask it; default: the dataset's own corpora, else the served collection.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("eval-results/ragas"),
) -> None:
    """Answers every question through the answering service; scores answers and citations against references."""
    if not dataset.exists():
        fail(f"{dataset} does not exist")
    if corpus is not None and not corpus.is_dir():
        fail(f"{corpus} is not a folder")
    try:
        # A corpus to index gets an eval index of its own; otherwise the served collection is asked.
        root = open_eval_root(dataset) if (corpus or answers.bundled_corpus(dataset)) else open_root()
        try:
            result = answers.run(root.eval_services(), dataset, corpus=corpus, limit=limit)
        finally:
            root.close()
    except (ValueError, StoreLocked) as exc:
        fail(str(exc))
    write_results(result, out)


@eval_app.command("compare")
def eval_compare(
    run_a: Annotated[Path, typer.Argument(help="A run folder (or its results.json): the baseline.")],
    run_b: Annotated[Path, typer.Argument(help="Another run of the same suite.")],
    all_rows: Annotated[bool, typer.Option("--all", help="Also list metrics that did not change.")] = False,
) -> None:
    """Prints every metric of two runs side by side with the delta (B - A), and the versions that differ."""
    try:
        first, second = report.load_run(run_a), report.load_run(run_b)
        rows, versions = report.compare(first, second), report.changed_versions(first, second)
    except (FileNotFoundError, ValueError) as exc:
        fail(str(exc))
    width = max((len(r[0]) for r in rows), default=10)
    typer.echo(f"{'metric':<{width}}  {'A':>10}  {'B':>10}  {'B - A':>10}")
    for key, a, b, delta in rows:
        if all_rows or abs(delta) > 1e-12:
            typer.echo(f"{key:<{width}}  {a:>10.4f}  {b:>10.4f}  {delta:>+10.4f}")
    for key, a, b in versions:
        typer.echo(f"version {key}: {a} -> {b}")


@eval_app.command("abstention")
def eval_abstention(
    folder: Annotated[Path, typer.Argument(help="The BEIR SciFact folder.")],
    limit: Annotated[int | None, typer.Option(help="Claims used (each asked with and without its evidence); default all.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("eval-results/abstention"),
) -> None:
    """Abstention precision/recall and confidence AUROC on answerable vs unanswerable questions."""
    if not (folder / "corpus.jsonl").is_file():
        fail(f"{folder} is not a BEIR folder (no corpus.jsonl)")
    root = open_eval_root(folder)
    try:
        result = abstention.run(root.eval_services(), folder, limit=limit)
    finally:
        root.close()
    write_results(result, out)
