"""Follow-up questions against the same questions asked whole: does making a follow-up self-contained keep retrieval
as good? Pairs are built from the chunking benchmark's questions: the first turn names the question's subject
("Tell me about <subject>."), the follow-up asks the question with that subject replaced by "it". Reported: recall of
the gold span in the passages an answer reads (any of them overlapping a gold span), for the whole question, the
follow-up as the conversation makes it (retrieval.conversation.condense), and the raw follow-up.

    python benchmarks/followups.py [--limit N] [--out benchmarks/results/followups.json]

The subject is found by the same rule the conversation uses (the phrase after the question's last "about / of /
on / for ..."), so this measures what is lost when a subject is carried from an earlier turn, not how well that rule
reads arbitrary phrasing."""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHUNKING = ROOT.parent / "shared" / "data" / "chunking"


def pairs(rows) -> list[tuple[str, str, str, list[dict]]]:
    """(first turn, follow-up, whole question, gold spans) for every question whose subject can be pointed at."""
    from retrieval.conversation import subject_of

    built = []
    for row in rows:
        subject = subject_of(row.question)
        if not subject or subject not in row.question:
            continue
        follow_up = re.sub(rf"(?:the\s+|a\s+|an\s+)?{re.escape(subject)}", "it", row.question, count=1)
        if follow_up == row.question:
            continue
        built.append((f"Tell me about {subject}.", follow_up, row.question, row.reference_spans))
    return built


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "followups.json")
    args = parser.parse_args()

    from api.root import Root
    from core.settings import Settings
    from eval.answers import COLLECTION, index_corpus, load
    from eval.runs import eval_settings
    from retrieval.conversation import condense
    from retrieval.search import Query

    rows, corpus = load(CHUNKING)
    runtime = Root(eval_settings(Settings(), CHUNKING))
    started = time.perf_counter()
    try:
        index_corpus(runtime.eval_services(), corpus, COLLECTION)
        reads = runtime.settings.answer.passages
        tenant = runtime.settings.tenant

        def recalled(question: str, spans: list[dict]) -> bool:
            hits = runtime.search.retrieve(Query(question, tenant, COLLECTION, top_k=reads)).hits
            return any(Path(h.source).name == Path(s["source"]).name and h.start < s["end"] and s["start"] < h.end
                       for h in hits for s in spans)

        built = pairs(rows)[: args.limit]
        whole = [recalled(q, spans) for _, _, q, spans in built]
        condensed = [condense(f, [first]) for first, f, _, _ in built]
        followed = [recalled(c, spans) for c, (_, _, _, spans) in zip(condensed, built, strict=True)]
        raw = [recalled(f, spans) for _, f, _, spans in built]
    finally:
        runtime.close()
    share = lambda flags: round(sum(flags) / len(flags), 4)  # noqa: E731
    result = {
        "pairs": len(built),
        "questions": len(rows),
        "passages_read": reads,
        "recall_whole": share(whole),
        "recall_follow_up_condensed": share(followed),
        "recall_follow_up_raw": share(raw),
        "gap": round(share(whole) - share(followed), 4),
        "target_gap": "<= 0.05",
        "examples": [{"first": b[0], "follow_up": b[1], "condensed": c} for b, c in list(zip(built, condensed))[:5]],
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "examples"}, indent=2))


if __name__ == "__main__":
    main()
