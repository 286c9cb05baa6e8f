"""Answering over a real index: exact citations, honest fallbacks, the review queue, and the LLM path against a
local OpenAI-compatible server that also fails in the ways real ones do."""

from __future__ import annotations

import csv
import json
import re

import pytest

from core.settings import LLMSettings, Settings
from ingest.pipeline import IngestTarget
from retrieval.answer import NOT_COVERED, AnswerService
from retrieval.generation import ExtractiveGenerator
from retrieval.llm import OpenAIGenerator
from tests.conftest import SHARED_DATA, open_root
from tests.fake_openai import FakeOpenAI

SPEECH = SHARED_DATA / "chunking" / "corpora" / "state_of_the_union.md"
HEALTH_Q = "How many people are no longer denied health insurance due to preexisting conditions according to President Biden?"
OFF_TOPIC = "How do I bake sourdough bread at home?"


def gold_span(question: str) -> tuple[int, int]:
    with (SHARED_DATA / "chunking" / "questions.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["question"] == question:
                (ref,) = json.loads(row["references"])
                return ref["start_index"], ref["end_index"]
    raise LookupError(question)


@pytest.fixture(scope="module")
def speech(tmp_path_factory, bge, parser):
    settings = Settings(data_dir=tmp_path_factory.mktemp("answer") / "data", _env_file=None)
    with open_root(settings, bge, parser) as rt:
        outcome = rt.ingest.ingest(SPEECH, display=SPEECH.name, source=str(SPEECH), target=IngestTarget("acme", "speeches", "sentence"))
        assert outcome.status.value == "indexed"
        rt.catalog.record_corpus_version("acme", "speeches")
        yield rt, outcome.document_id


def ask(rt, question, service=None, **options):
    return (service or rt.answers).answer(question, tenant="acme", collection="speeches", **options)


def test_answer_cites_the_gold_span_exactly(speech):
    rt, document_id = speech
    start, end = gold_span(HEALTH_Q)
    answer = ask(rt, HEALTH_Q)
    assert answer.fallback is None and answer.review_id is None and answer.confidence >= 0.5
    assert answer.generator == "extractive" and "[1]" in answer.answer
    text = rt.catalog.text(document_id, 1)
    for citation in answer.citations:
        assert citation.quote == text[citation.start : citation.end]  # exact, in document offsets
        assert citation.document_id == document_id and citation.source == str(SPEECH)
    assert any(start <= c.start and c.end <= end for c in answer.citations), [(c.start, c.end) for c in answer.citations]
    assert answer.corpus_version and set(answer.timings_ms) >= {"embed", "retrieve", "generate", "total"}
    assert rt.answer_log.record("acme", answer.id)["answer"] == answer.answer  # every answer is logged
    assert rt.answer_log.record("globex", answer.id) is None


def test_a_question_naming_its_source_is_answered_from_what_it_asks(speech):
    """A speech never says "President Biden emphasizes": judged against those words, the sentence that answers looked
    like no answer (confidence 0.017, an abstention) until the question's source frame was set aside."""
    rt, _ = speech
    question = "What specific American values does President Biden emphasize in his speech?"
    start, end = gold_span(question)
    answer = ask(rt, question)
    assert answer.fallback is None and answer.confidence > rt.answers.threshold
    assert any(c.start < end and start < c.end for c in answer.citations), [c.quote for c in answer.citations]
    assert answer.standalone_question == question  # retrieval and the record keep the question as asked


def test_off_topic_question_falls_back_and_goes_to_review(speech):
    rt, _ = speech
    answer = ask(rt, OFF_TOPIC)
    assert answer.fallback is not None and answer.fallback.reason == "low_confidence"
    assert answer.answer.startswith(NOT_COVERED) and answer.citations == []
    assert answer.fallback.closest_sources and answer.confidence < 0.5
    pending = {item.id: item for item in rt.review.pending("acme")}
    assert pending[answer.review_id].question == OFF_TOPIC and pending[answer.review_id].reason == "low_confidence"
    assert rt.review.pending("globex") == []


def test_nothing_indexed_is_no_relevant_context(speech):
    rt, _ = speech
    answer = rt.answers.answer(HEALTH_Q, tenant="globex", collection="speeches")
    assert answer.fallback.reason == "no_relevant_context" and answer.answer == NOT_COVERED
    assert answer.confidence == 0.0 and answer.review_id


def test_empty_question_is_refused(speech):
    rt, _ = speech
    with pytest.raises(ValueError, match="empty"):
        ask(rt, "   ")


def llm_service(rt, base_url: str, **llm) -> AnswerService:
    settings = LLMSettings(base_url=base_url, model="fake-model", timeout_s=1.0, max_retries=0, **llm)
    generator = OpenAIGenerator(settings, rt.reranker)
    return AnswerService(rt.settings, rt.search, ExtractiveGenerator(rt.reranker), rt.catalog, rt.answer_log, generator)


def passage_with(request: dict, needle: str) -> int:
    """The number the prompt gave the passage containing `needle`."""
    prompt = request["messages"][-1]["content"]
    for number, body in re.findall(r"\[(\d+)\] \(source: [^)]*\)\n(.*?)(?=\n\n\[\d+\] \(source|\n\nQuestion:)", prompt, re.S):
        if needle in body:
            return int(number)
    raise AssertionError("no passage holds the needle")


def test_llm_answer_is_checked_and_cited(speech):
    rt, _ = speech

    def reply(request):
        n = passage_with(request, "preexisting condition")
        return f"Over 100 million Americans can no longer be denied health insurance because of a preexisting condition [{n}]."

    with FakeOpenAI(reply) as llm:
        answer = ask(rt, HEALTH_Q, llm_service(rt, llm.base_url, input_price_per_mtok=1.0, output_price_per_mtok=2.0))
    assert answer.fallback is None and answer.generator == "fake-model"
    assert answer.answer.endswith("[1]") and len(answer.citations) == 1
    assert "preexisting condition" in answer.citations[0].quote
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (120, 20)
    assert answer.usage.cost_usd == pytest.approx((120 * 1.0 + 20 * 2.0) / 1e6)
    system = llm.requests[0]["messages"][0]["content"]
    assert "only the numbered passages" in system and llm.requests[0]["temperature"] == 0


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("500", "llm_unavailable"),
        ("slow", "llm_unavailable"),  # past the 1 s timeout
        ("malformed", "llm_unavailable"),
        ("no_choices", "llm_rejected"),
        ("INSUFFICIENT", "llm_rejected"),
        ("Over 100 million people are covered [9].", "llm_rejected"),  # cites a passage it was not given
        ("The moon is made of green cheese [1].", "llm_rejected"),  # cited, but not supported
    ],
)
def test_llm_failures_fall_back_to_the_extractive_answer(speech, reply, reason):
    rt, _ = speech
    with FakeOpenAI(lambda request: reply) as llm:
        answer = ask(rt, HEALTH_Q, llm_service(rt, llm.base_url))
    assert answer.fallback is not None and answer.fallback.reason == reason
    assert answer.generator == "extractive" and answer.citations, answer.answer
    assert "100 million" in answer.answer  # the extractive answer, still right


def test_weak_evidence_never_calls_the_llm(speech):
    rt, _ = speech
    with FakeOpenAI() as llm:
        answer = ask(rt, OFF_TOPIC, llm_service(rt, llm.base_url))
    assert answer.fallback.reason == "low_confidence" and llm.requests == []


def test_a_table_row_is_read_with_its_header_and_quoted_alone(speech):
    from retrieval.search import SearchHit

    rt, _ = speech
    table = "Stanley Cups\n\nTeam | Location | Stanley Cups\nBlues | STL | 1\nFlyers | PHI | 2\nMaple Leafs | TOR | 13"
    hit = SearchHit("c1", "d1", table, 0.5, "cups.xlsx", "Stanley Cups", 1, 100, 100 + len(table))
    draft = ExtractiveGenerator(rt.reranker).generate("How many Stanley Cups have the Maple Leafs won?", [hit])
    first = draft.citations[0]
    assert first.quote == "Maple Leafs | TOR | 13" and draft.support >= 0.5
    assert (first.start, first.end) == (100 + table.index("Maple"), 100 + len(table))


def test_a_table_header_row_is_never_quoted_alone(speech):
    """The column names state nothing: a question about a team the table does not list is not answered with them."""
    from retrieval.search import SearchHit

    rt, _ = speech
    table = "Stanley Cups\n\nTeam | Location | Stanley Cups\nBlues | STL | 1\nFlyers | PHI | 2\nMaple Leafs | TOR | 13"
    hit = SearchHit("c1", "d1", table, 0.5, "cups.xlsx", "Stanley Cups", 1, 0, len(table))
    draft = ExtractiveGenerator(rt.reranker).generate("How many Stanley Cups have the Montreal Canadiens won?", [hit])
    assert "Team | Location | Stanley Cups" not in [c.quote for c in draft.citations]


def test_a_superlative_question_over_a_table_is_answered_with_the_extreme_row(speech):
    """The cross-encoder scores rows one by one and cannot compare them: "the most" is read from the column."""
    from retrieval.search import SearchHit

    rt, _ = speech
    table = "Stanley Cups\n\nTeam | Location | Stanley Cups\nBlues | STL | 1\nFlyers | PHI | 2\nMaple Leafs | TOR | 13"
    hit = SearchHit("c1", "d1", table, 0.5, "cups.csv", "Stanley Cups", 1, 0, len(table))
    draft = ExtractiveGenerator(rt.reranker).generate("Which team has won the most Stanley Cups?", [hit])
    assert [c.quote for c in draft.citations] == ["Maple Leafs | TOR | 13"] and draft.support >= 0.5
    draft = ExtractiveGenerator(rt.reranker).generate("Which team has won the fewest Stanley Cups?", [hit])
    assert [c.quote for c in draft.citations] == ["Team | Location | Stanley Cups\nBlues | STL | 1"]


def test_a_superlative_is_answered_from_the_table_that_answers_it_best(speech):
    """A spreadsheet with "Stanley Cups" and "Stanley Cups Since 67": one answer, the extreme of the table asked about."""
    from retrieval.search import SearchHit

    rt, _ = speech
    rows = "Team | Location | Stanley Cups\nBlues | STL | 1\nFlyers | PHI | 2\nMaple Leafs | TOR | "
    book = f"Stanley Cups\n\n{rows}13\n\nStanley Cups Since 67\n\n{rows}0"
    hit = SearchHit("c1", "d1", book, 0.5, "cups.xlsx", "Stanley Cups", 1, 0, len(book),
                    sections=[[0, "Stanley Cups"], [book.index("Stanley Cups Since"), "Stanley Cups Since 67"]])
    generator = ExtractiveGenerator(rt.reranker)
    assert [c.quote for c in generator.generate("Which team has won the most Stanley Cups?", [hit]).citations] == [
        "Maple Leafs | TOR | 13"]
    since = generator.generate("Which team has won the most Stanley Cups since 67?", [hit]).citations
    assert [c.quote for c in since] == ["Flyers | PHI | 2"] and since[0].start > book.index("Since 67")


def test_a_markdown_tables_first_row_is_an_answer_quoted_with_the_header_and_rule_above_it(speech):
    """"---|---|---" between the header and the rows made the first row look like a header of its own: never quoted."""
    from retrieval.search import SearchHit

    rt, _ = speech
    table = "Item | Price | # In stock\n---|---|---\nJuicy Apples | 1.99 | 739\nBananas | 1.89 | 6"
    hit = SearchHit("c1", "d1", table, 0.5, "simple-table.md", "simple-table", None, 0, len(table))
    draft = ExtractiveGenerator(rt.reranker).generate("How many juicy apples are in stock?", [hit])
    assert draft.citations[0].quote == table[: table.index("\nBananas")]


def test_the_first_row_of_a_table_is_quoted_with_the_header_above_it(speech):
    """A form's table of one row puts the values over their labels: only the two rows together answer, and the
    quote holds both (an exact span); the first row of any table comes with its column names."""
    from retrieval.search import SearchHit

    rt, _ = speech
    table = ("Galaxy Gaming, Inc.\n\nNevada |  | 20-8143439\n"
             "(State or other jurisdiction of incorporation or organization) |  | (IRS Employer Identification No.)")
    hit = SearchHit("c1", "d1", table, 0.5, "10k.html", "10-K", 1, 0, len(table))
    draft = ExtractiveGenerator(rt.reranker).generate("What is the IRS employer identification number?", [hit])
    assert draft.citations[0].quote == table[table.index("Nevada") :]


@pytest.mark.parametrize(
    ("text", "row", "header"),
    [
        ("Team | Cups\nBlues | 1", "Team | Cups", True),
        ("Team | Cups\nBlues | 1", "Blues | 1", False),
        ("Cups\n\nTeam | Cups\nBlues | 1\n\nSince 67\nTeam | Cups\nBlues | 0", "Team | Cups", True),  # the 2nd table's
        ("Team | Cups", "Team | Cups", False),  # a lone row heads nothing
        ("Item | Price\n---|---\nApples | 1.99\nPears | 2", "Item | Price", True),  # a Markdown table
        ("Item | Price\n---|---\nApples | 1.99\nPears | 2", "Apples | 1.99", False),
    ],
)
def test_a_table_header_row_is_the_first_row_of_a_block(text, row, header):
    from retrieval.generation import _is_table_header

    start = text.rindex(row)
    assert _is_table_header(text, start, start + len(row)) is header


def test_overlapping_quotes_of_one_document_are_quoted_once():
    """One sentence found in two overlapping chunks is quoted once; of a sentence alone and a reading that holds it
    and what follows, the one the cross-encoder preferred; the same words in another document once too."""
    import numpy as np

    from retrieval.generation import _separate
    from retrieval.search import SearchHit

    text = "I proposed a minimum tax of 25 percent. That would raise $500 billion. Other news follows here."
    first = SearchHit("c1", "d1", text[:70], 0.5, "speech.md", "speech", None, 0, 70)
    second = SearchHit("c2", "d1", text[40:], 0.5, "speech.md", "speech", None, 40, len(text))
    other = SearchHit("c3", "d2", text, 0.5, "other.md", "other", None, 0, len(text))
    passages = [first, second, other]
    candidates = [(0, 0, 39), (0, 0, 70), (1, 0, 30), (2, 0, 39)]  # alone; with what follows; again; elsewhere
    preference = np.array([5.5, 7.0, 6.0, 1.0], dtype=np.float32)
    assert _separate([0, 1, 2, 3], candidates, passages, preference) == [1, 3]
    preference[0] = 8.0  # the sentence alone preferred: the reading that adds to it is left out, not what follows
    # (and the same words in another document are not quoted again)
    assert _separate([0, 1, 2, 3], candidates, passages, preference) == [0, 2]
