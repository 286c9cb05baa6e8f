"""The answer service: retrieve, rerank, generate a cited answer, judge confidence, fall back honestly.

Below the confidence threshold nothing is generated (no LLM call): the answer says the knowledge base does not
cover the question, names the closest sources, and the question enters the human-review queue."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

from opentelemetry import trace
from opentelemetry.trace import Tracer

from core.metrics import Metrics
from core.settings import Settings
from core.tracing import (
    GEN_AI_INPUT_TOKENS,
    GEN_AI_MODEL,
    GEN_AI_OPERATION,
    GEN_AI_OUTPUT_TOKENS,
    GEN_AI_PROVIDER,
    stage,
)
from core.vectorstore import DocumentFilter
from ingest.catalog import DocumentCatalog
from retrieval.audit import AnswerLog, Asker
from retrieval.cache import AnswerCache, cache_key
from retrieval.calibration import UNCALIBRATED, Calibration
from retrieval.conversation import ConversationStore, condense, standalone_turns
from retrieval.generation import (
    Citation,
    Draft,
    ExtractiveGenerator,
    GenerationRejected,
    Generator,
    GeneratorUnavailable,
    Usage,
    read_text,
)
from retrieval.questions import content_of, question_parts
from retrieval.rerank import sigmoid
from retrieval.search import Query, SearchHit, SearchService

NOT_COVERED = "The knowledge base does not answer this question."
PART_PASSAGES = 2  # passages read for each part of a question of several parts


class UnknownConversation(LookupError):
    pass


@dataclass
class Fallback:
    reason: str  # no_relevant_context | low_confidence | llm_unavailable | llm_rejected
    message: str
    closest_sources: list[dict] = field(default_factory=list)


@dataclass
class Answer:
    id: str
    question: str
    answer: str
    citations: list[Citation]
    confidence: float
    fallback: Fallback | None
    review_id: str | None
    generator: str
    corpus_version: str | None
    usage: Usage
    timings_ms: dict[str, float]
    cached: bool = False  # answered from the answer cache (same question, corpus version and settings)
    calibration: str = UNCALIBRATED  # the version of the calibration that turned the signals into the confidence
    standalone_question: str = ""  # the question as retrieval read it: a follow-up made self-contained
    conversation_id: str | None = None
    instructions: str | None = None  # the caller's system prompt, recorded whether or not it could be applied
    instructions_applied: bool = False  # only an LLM's answer can follow them (after Cairn's grounding rules)
    signals: dict[str, float] = field(default_factory=dict)  # what the evidence said (the calibration's inputs)

    def as_dict(self) -> dict:
        return asdict(self)


def confidence_of(top_passage_logit: float | None, support: float) -> float:
    """The answer's support (the cross-encoder's probability that its best sentence answers the question), and
    when the passages were reranked, its geometric mean with the best passage's relevance."""
    if top_passage_logit is None:
        return round(float(support), 4)
    return round(float((sigmoid(top_passage_logit) * support) ** 0.5), 4)


class AnswerService:
    def __init__(
        self,
        settings: Settings,
        search: SearchService,
        extractive: ExtractiveGenerator,
        catalog: DocumentCatalog,
        log: AnswerLog,
        llm: Generator | None = None,
        metrics: Metrics | None = None,
        cache: AnswerCache | None = None,
        tracer: Tracer | None = None,
        calibration: Calibration | None = None,
        conversations: ConversationStore | None = None,
    ):
        self.settings = settings
        self.conversations = conversations
        self.calibration = calibration
        self.search = search
        self.extractive = extractive  # always read: the confidence judges the extractive reading of the evidence
        self.llm = llm  # a writer that rewrites it from the same passages, when the settings choose one
        self.catalog = catalog
        self.log = log
        self.metrics = metrics
        self.reranker = extractive.reranker
        self.cache = cache
        self.tracer = tracer or trace.NoOpTracer()
        self._fingerprint = self._fingerprint_of(settings, llm is not None, calibration)

    @staticmethod
    def _fingerprint_of(settings: Settings, with_llm: bool, calibration: Calibration | None) -> str:
        """What else decides an answer besides the question and the corpus: a change of any of it is a cache miss."""
        return json.dumps(
            [settings.answer.model_dump(), settings.retrieval.model_dump(), settings.embedder.name, settings.chunking.model_dump(),
             settings.llm.model if with_llm else None, calibration.version if calibration else None],
            sort_keys=True, default=str,
        )

    def answer(
        self, question: str, *, tenant: str, collection: str, top_k: int | None = None, api_key_id: str | None = None,
        history: list[str] | None = None, conversation_id: str | None = None, new_conversation: bool = False,
        instructions: str | None = None, on_sentence: Callable[[str], None] | None = None,
        where: DocumentFilter = DocumentFilter(), replies: list[str | None] | None = None,
    ) -> Answer:
        """Answers `question`; a follow-up is first made self-contained from `history` (the earlier questions, oldest
        first, each made self-contained in turn as a stored conversation keeps them) with `replies` (the answer each
        got, where the client sent it: the last one says what "it" or "that team" is), or from the stored turns of
        `conversation_id` (UnknownConversation if the tenant has none such) and their last answer, and the turn is
        stored (a new conversation is started with `new_conversation`)."""
        question = question.strip()
        if not question:
            raise ValueError("the question is empty")
        given = list(history or [])
        # A fallback names no answer: its "closest sources found: ..." is not what the next question points at.
        said = [None if not reply or reply.startswith(NOT_COVERED) else reply for reply in (replies or [])]
        turns = list(zip(given, said + [None] * (len(given) - len(said))))
        earlier = standalone_turns(turns)
        previous_answer = turns[-1][1] if turns else None
        if conversation_id is not None:
            if self.conversations is None or not self.conversations.exists(tenant, conversation_id):
                raise UnknownConversation(f"no conversation {conversation_id}")
            if not earlier:
                previous_answer = self.conversations.last_answer(tenant, conversation_id)
            earlier = self.conversations.history(tenant, conversation_id) + earlier
        elif new_conversation and self.conversations is not None:
            conversation_id = self.conversations.start(tenant)
        standalone = self._standalone(question, earlier, previous_answer)
        with self.tracer.start_as_current_span("answer", attributes={"cairn.tenant": tenant, "cairn.collection": collection}) as span:
            answer = self._answer(question, standalone, conversation_id, tenant, collection, top_k, api_key_id, where,
                                  instructions, on_sentence)
            span.set_attributes({"cairn.answer_id": answer.id, "cairn.confidence": answer.confidence, "cairn.cached": answer.cached,
                                 "cairn.fallback": answer.fallback.reason if answer.fallback else ""})
        if conversation_id is not None:
            self.conversations.add_turn(conversation_id, question, standalone, answer.id)
        return answer

    def _standalone(self, question: str, earlier: list[str], previous_answer: str | None) -> str:
        """The follow-up made self-contained: by the LLM when one is configured (one bounded call), else, or when
        that call fails, by the offline rule."""
        offline = condense(question, earlier, previous_answer)
        if self.llm is None or offline == question or not hasattr(self.llm, "condense"):
            return offline
        try:
            return self.llm.condense(question, earlier, previous_answer)
        except GeneratorUnavailable:
            return offline

    def _answer(self, question: str, standalone: str, conversation_id: str | None, tenant: str, collection: str,
                top_k: int | None, api_key_id: str | None, where: DocumentFilter, instructions: str | None = None,
                on_sentence: Callable[[str], None] | None = None) -> Answer:
        started = time.perf_counter()
        asked, question = question, standalone  # everything below reads the self-contained question
        cfg = self.settings.answer
        asker = Asker(tenant, api_key_id)
        corpus_version = self.catalog.corpus_version(tenant, collection)
        key = None
        if self.cache is not None:
            # A caller's instructions may change what an LLM writes: they are part of what decides the answer.
            options = {"top_k": top_k, **asdict(where), **({"instructions": instructions} if instructions else {})}
            key = cache_key(tenant, collection, question, corpus_version, options, self._fingerprint)
            hit = self.cache.get(key)
            if self.metrics is not None:
                self.metrics.cache.labels("hit" if hit else "miss").inc()
            if hit is not None:
                return self._replay(hit, asked, question, conversation_id, asker, collection, started, instructions)
        reads = top_k or cfg.passages
        retrieved = self.search.retrieve(Query(question, tenant, collection, top_k=reads, where=where, rrf_scores=True))
        timings = dict(retrieved.timings_ms)
        passages = retrieved.hits[:reads] + self._passages_for_parts(question, tenant, collection, where, retrieved.hits[:reads], timings)
        top_logit = passages[0].rerank_logit if passages else None

        emit = None
        if on_sentence is not None:
            def emit(part: str) -> None:  # each sentence as it is ready; the first one's moment is a timing
                timings.setdefault("first_sentence", round((time.perf_counter() - started) * 1000, 2))
                on_sentence(part)
        with stage(self.tracer, timings, "generate") as span:
            draft, fallback, confidence, signals = self._generate(question, passages, top_logit, instructions, emit)
            llm_wrote = draft is not None and self.llm is not None and draft.generator == self.llm.name
            model = self.llm.name if llm_wrote else self.reranker.model_id
            if llm_wrote:
                span.update_name(f"chat {model}")
                span.set_attributes({GEN_AI_OPERATION: "chat", GEN_AI_PROVIDER: "openai", GEN_AI_MODEL: model,
                                     GEN_AI_INPUT_TOKENS: draft.usage.input_tokens, GEN_AI_OUTPUT_TOKENS: draft.usage.output_tokens})
            else:
                span.update_name(f"generate {self.extractive.name}")
                span.set_attributes({GEN_AI_OPERATION: "cairn.extractive", GEN_AI_MODEL: model})
        if fallback is None and confidence < self.threshold:
            fallback = Fallback("low_confidence", f"the evidence found is too weak (confidence {confidence:.2f})")
        if draft is None or (fallback is not None and fallback.reason in ("no_relevant_context", "low_confidence")):
            fallback.closest_sources = _closest_sources(passages)
            text = NOT_COVERED + _closest(passages)
            draft = Draft(text, [], 0.0, self.extractive.name, draft.usage if draft else Usage())
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)

        answer = Answer(
            id=str(uuid.uuid4()), question=asked, answer=draft.text, citations=draft.citations,
            confidence=confidence, fallback=fallback, review_id=None, generator=draft.generator,
            corpus_version=corpus_version, usage=draft.usage, timings_ms=timings,
            calibration=self.calibration.version if self.calibration else UNCALIBRATED, signals=signals,
            standalone_question=question, conversation_id=conversation_id, instructions=instructions or None,
            instructions_applied=bool(instructions) and draft.generator != self.extractive.name,
        )
        if fallback is not None:
            answer.review_id = str(uuid.uuid4())
        retrieved_ids = [
            {"chunk_id": h.chunk_id, "document_id": h.document_id, "score": round(h.score, 6)} for h in retrieved.hits
        ]
        self._record(answer, asker, collection, model, retrieved_ids)
        if key is not None and fallback is None:
            self.cache.put(key, {"answer": answer.as_dict(), "model": model, "retrieved": retrieved_ids})
        return answer

    def _record(self, answer: Answer, asker: Asker, collection: str, model: str, retrieved: list[dict]) -> None:
        record = answer.as_dict()
        self.log.log(record, asker=asker, collection=collection, model=model, retrieved=retrieved)
        if self.metrics is not None:
            self.metrics.observe_answer(record, model)

    def _replay(self, hit: dict, asked: str, standalone: str, conversation_id: str | None, asker: Asker, collection: str,
                started: float, instructions: str | None = None) -> Answer:
        """A cached answer as a new answer (its own id and audit record); no tokens were spent on it."""
        given = hit["answer"]
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        answer = Answer(
            id=str(uuid.uuid4()), question=asked, answer=given["answer"], standalone_question=standalone,
            conversation_id=conversation_id,
            citations=[Citation(**c) for c in given["citations"]], confidence=given["confidence"], fallback=None,
            review_id=None, generator=given["generator"], corpus_version=given["corpus_version"], usage=Usage(),
            timings_ms={"cache": elapsed, "total": elapsed}, cached=True,
            calibration=given.get("calibration", UNCALIBRATED), signals=given.get("signals") or {},
            instructions=instructions or None, instructions_applied=bool(given.get("instructions_applied")),
        )
        self._record(answer, asker, collection, hit["model"], hit["retrieved"])
        return answer

    def _passages_for_parts(self, question, tenant, collection, where, passages, timings) -> list[SearchHit]:
        """A question of several parts also reads the best passages for each part (PART_PASSAGES each) that the
        whole question's search did not bring: a complete answer must find every part's evidence."""
        parts = question_parts(content_of(question, read_text(passages)))  # the parts the generator will cite
        if len(parts) < 2:
            return []
        have = {h.chunk_id for h in passages}
        extra: list[SearchHit] = []
        for part in parts:
            found = self.search.retrieve(Query(part, tenant, collection, top_k=PART_PASSAGES, where=where, rrf_scores=True))
            for stage_name, ms in found.timings_ms.items():
                timings[stage_name] = round(timings.get(stage_name, 0.0) + ms, 2)
            for hit in found.hits:
                if hit.chunk_id not in have:
                    have.add(hit.chunk_id)
                    extra.append(hit)
        return extra

    def use_calibration(self, calibration: Calibration | None) -> None:
        self.calibration = calibration
        self._fingerprint = self._fingerprint_of(self.settings, self.llm is not None, calibration)

    @property
    def threshold(self) -> float:
        """Below this confidence Cairn abstains: the calibration's (chosen for a false-abstention target) or the
        setting's."""
        return self.calibration.threshold if self.calibration else self.settings.answer.min_confidence

    def _best_supported(self, draft: Draft) -> Draft:
        """A question of several parts is as well supported as its best-supported part: its signals become those
        of the reading (the whole question, or one part asked alone) with the highest calibrated confidence."""
        if self.calibration is None or not draft.part_signals or not draft.signals:
            return draft
        best = max([draft.signals, *draft.part_signals], key=self.calibration.confidence)
        return replace(draft, signals=best)

    def confidence(self, draft: Draft, top_logit: float | None) -> float:
        if self.calibration is not None and draft.signals:
            return round(self.calibration.confidence(draft.signals), 4)
        return confidence_of(top_logit, draft.support)

    def _generate(self, question: str, passages: list[SearchHit], top_logit: float | None, instructions: str | None = None,
                  emit: Callable[[str], None] | None = None):
        """(draft, fallback, confidence, signals); the draft is None when there is nothing to generate from. The
        confidence is judged on the extractive reading of the evidence, before any LLM is called."""
        if not passages:
            return None, Fallback("no_relevant_context", "nothing in the knowledge base matches the question"), 0.0, {}
        extractive = self._best_supported(self.extractive.generate(question, passages))
        confidence = self.confidence(extractive, top_logit)
        if confidence < self.threshold:
            return extractive, None, confidence, extractive.signals  # weak evidence: no LLM is ever called for it
        if self.llm is None:
            for part in extractive.parts if emit is not None else ():
                emit(part)  # chosen, checked: out they go
            return extractive, None, confidence, extractive.signals
        try:
            if emit is not None and hasattr(self.llm, "generate_streamed"):
                written = self.llm.generate_streamed(question, passages, emit, instructions)
            else:
                written = self.llm.generate(question, passages, instructions)
        except GeneratorUnavailable as exc:
            return extractive, Fallback("llm_unavailable", f"the language model could not be reached ({exc}); extractive answer given"), confidence, extractive.signals
        except GenerationRejected as exc:
            return extractive, Fallback("llm_rejected", f"the language model's answer was not supported by the sources ({exc}); extractive answer given"), confidence, extractive.signals
        # Calibrated, the confidence is the evidence's (what the calibration was fitted on); otherwise the support of
        # the sentences the LLM wrote.
        return written, None, confidence if self.calibration else self.confidence(written, top_logit), extractive.signals


def _source(hit: SearchHit) -> dict:
    return {"document_id": hit.document_id, "source": hit.source, "title": hit.title, "page": hit.page, "score": round(hit.score, 4)}


def _closest_sources(passages: list[SearchHit], most: int = 3) -> list[dict]:
    """The best passage of each of the first `most` documents among the passages read: each document once."""
    best: dict[str, SearchHit] = {}
    for hit in passages:
        if hit.document_id not in best:
            best[hit.document_id] = hit
    return [_source(hit) for hit in list(best.values())[:most]]


def _closest(passages: list[SearchHit]) -> str:
    if not passages:
        return ""
    names = []
    for hit in passages[:3]:
        name = hit.title or hit.source
        if hit.page:
            name += f" (page {hit.page})"
        if name not in names:
            names.append(name)
    return " The closest sources found: " + "; ".join(names) + "."
