"""What answering costs, and what it would cost at scale: the recorded per-request token mix, priced, projected to a
month at 100, 10,000 and 100,000 requests a day ("a cost that is acceptable at 100 requests per day may be
prohibitive at 100,000").

Prices: the configured price per million tokens for the configured model when set, else the bundled price table
of `genai-prices` (offline), else unpriced (0, said so). Extractive answers call no LLM and cost no tokens; for
them the report also estimates what the configured LLM would cost on the same traffic."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from core.db import AnswerRow
from core.settings import Settings
from retrieval.audit import AnswerLog

VOLUMES = (100, 10_000, 100_000)
DAYS_PER_MONTH = 30
PROMPT_OVERHEAD_TOKENS = 250  # the LLM generator's instructions and passage numbering
ANSWER_TOKENS = 150  # a short cited answer


def price(model: str, input_tokens: float, output_tokens: float, settings: Settings) -> tuple[float, str]:
    """(US dollars, where the price came from) for one request's tokens."""
    llm = settings.llm
    if model == llm.model and (llm.input_price_per_mtok or llm.output_price_per_mtok):
        return (input_tokens * llm.input_price_per_mtok + output_tokens * llm.output_price_per_mtok) / 1e6, "settings"
    if not (input_tokens or output_tokens):
        return 0.0, "no tokens"
    from genai_prices import Usage, calc_price

    try:
        found = calc_price(Usage(input_tokens=round(input_tokens), output_tokens=round(output_tokens)), model_ref=model)
    except LookupError:
        return 0.0, "unpriced (unknown model: set CAIRN_LLM__INPUT_PRICE_PER_MTOK / __OUTPUT_PRICE_PER_MTOK)"
    return float(found.total_price), f"genai-prices: {found.provider.name} {found.model.name}"


def project(answers: Sequence[AnswerRow], settings: Settings, volumes: Sequence[int] = VOLUMES) -> dict:
    """The recorded mix per model (share of requests, mean tokens, price per request) and monthly projections."""
    by_model: dict[str, list[AnswerRow]] = defaultdict(list)
    for row in answers:
        by_model[row.model or row.generator].append(row)
    mix = []
    for model, rows in sorted(by_model.items(), key=lambda item: -len(item[1])):
        tokens_in = statistics.fmean(r.input_tokens for r in rows)
        tokens_out = statistics.fmean(r.output_tokens for r in rows)
        recorded = statistics.fmean(r.cost_usd for r in rows)
        priced, source = price(model, tokens_in, tokens_out, settings)
        per_request = recorded if recorded > 0 else priced
        mix.append({
            "model": model, "requests": len(rows), "share": len(rows) / len(answers),
            "input_tokens": round(tokens_in, 1), "output_tokens": round(tokens_out, 1),
            "usd_per_request": per_request, "price_source": "recorded" if recorded > 0 else source,
        })
    per_request = sum(m["share"] * m["usd_per_request"] for m in mix)
    tokens = sum(m["share"] * (m["input_tokens"] + m["output_tokens"]) for m in mix)
    report = {
        "answers": len(answers),
        "mix": mix,
        "usd_per_request": per_request,
        "projections": [_month(v, per_request, tokens) for v in volumes],
    }
    # What the configured LLM would cost on this traffic (the decision an extractive deployment faces).
    estimate_in = PROMPT_OVERHEAD_TOKENS + settings.answer.passages * settings.chunking.chunk_size
    estimated, source = price(settings.llm.model, estimate_in, ANSWER_TOKENS, settings)
    report["if_llm"] = {
        "model": settings.llm.model, "input_tokens": estimate_in, "output_tokens": ANSWER_TOKENS,
        "usd_per_request": estimated, "price_source": source,
        "projections": [_month(v, estimated, estimate_in + ANSWER_TOKENS) for v in volumes],
    }
    return report


def tenant_report(log: AnswerLog, settings: Settings, tenant: str | None, days: float) -> dict:
    """The projection from the answers of the last `days` (every tenant's when tenant is None)."""
    since = datetime.now(UTC) - timedelta(days=days)
    return project(log.between(tenant, since), settings)


def _month(per_day: int, usd_per_request: float, tokens_per_request: float) -> dict:
    requests = per_day * DAYS_PER_MONTH
    return {"requests_per_day": per_day, "monthly_usd": round(requests * usd_per_request, 2),
            "monthly_tokens": round(requests * tokens_per_request)}


def format_report(report: dict) -> str:
    lines = [f"{report['answers']} answers recorded; mean cost per request ${report['usd_per_request']:.6f}"]
    for m in report["mix"]:
        lines.append(
            f"  {m['model']}: {m['share']:.0%} of requests, {m['input_tokens']:.0f} in / {m['output_tokens']:.0f} out "
            f"tokens, ${m['usd_per_request']:.6f} per request ({m['price_source']})"
        )
    lines.append("Projected monthly cost (30 days):")
    for p in report["projections"]:
        lines.append(f"  {p['requests_per_day']:>7,} requests/day: ${p['monthly_usd']:>12,.2f}  ({p['monthly_tokens']:,} tokens)")
    llm = report["if_llm"]
    lines.append(
        f"If {llm['model']} wrote every answer (~{llm['input_tokens']} in / {llm['output_tokens']} out tokens, "
        f"${llm['usd_per_request']:.6f} per request, {llm['price_source']}):"
    )
    for p in llm["projections"]:
        lines.append(f"  {p['requests_per_day']:>7,} requests/day: ${p['monthly_usd']:>12,.2f}")
    return "\n".join(lines)
