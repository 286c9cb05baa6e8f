"""Answer generators: one protocol, two implementations (extractive, the offline default; an OpenAI-compatible LLM).

A generator gets the question and the reranked passages and returns a Draft: the answer text with [n] markers and
the citations those markers point at, each an exact span of a source document."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from core.models import load_spacy_sentences
from core.sparse import Bm25Encoder
from retrieval.questions import asked_as_question, content_of, question_parts, time_of
from retrieval.rerank import Reranker, sigmoid
from retrieval.search import SearchHit
from retrieval.tables import TABLE_CELL as _TABLE_CELL
from retrieval.tables import as_pairs, extreme_row, is_rule, is_table_line, superlative, table_rows
from retrieval.tables import line_bounds as _line

_LINE_BREAK = re.compile(r"\n\s*")


def _header_above(text: str, start: int) -> tuple[int, int] | None:
    """The bounds of the first row of the block of table rows right above the line at `start`, if there is one."""
    header, at = None, _line(text, start)[0]
    while at:
        above = _line(text, at - 1)
        if not is_table_line(text[above[0] : above[1]]):
            break
        header, at = (header if is_rule(text[above[0] : above[1]]) else above), above[0]
    return header


@dataclass
class Citation:
    index: int
    chunk_id: str
    document_id: str
    source: str
    title: str
    page: int | None
    start: int
    end: int
    quote: str  # == the document's extracted text[start:end]
    score: float
    ocr: bool = False  # the quoted text was read by OCR

    @classmethod
    def of(cls, index: int, hit: SearchHit, start: int, end: int, score: float) -> Citation:
        """A citation of hit.text[start:end] (offsets relative to the passage), in document offsets."""
        return cls(
            index=index, chunk_id=hit.chunk_id, document_id=hit.document_id, source=hit.source, title=hit.title,
            page=hit.page, start=hit.start + start, end=hit.start + end, quote=hit.text[start:end], score=round(score, 4),
            ocr=hit.ocr,
        )


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@dataclass
class Draft:
    text: str
    citations: list[Citation]
    support: float  # how well the cited text supports the answer, in [0, 1]
    generator: str
    usage: Usage = field(default_factory=Usage)
    # What the evidence says about the answer, for the calibrated confidence (retrieval.calibration.SIGNALS).
    signals: dict[str, float] = field(default_factory=dict)
    parts: list[str] = field(default_factory=list)  # the sentences of `text` with their markers, as streamed
    # A question of several parts: the signals of each part some sentence answers, read as if asked alone.
    part_signals: list[dict[str, float]] = field(default_factory=list)


class Generator(Protocol):
    name: str

    def generate(self, question: str, passages: list[SearchHit], instructions: str | None = None) -> Draft:
        """A cited answer from the passages; `instructions` (a caller's system prompt) come after Cairn's grounding
        rules, which they cannot change; a generator that cannot follow them ignores them."""
        ...


class GeneratorUnavailable(RuntimeError):
    """The generator's backend (an LLM endpoint) is down, too slow or answered with an error."""


class GenerationRejected(RuntimeError):
    """The generator answered, but not in a form that can be trusted (no valid citations, unsupported claims)."""


# Hard-wrapped text (plain-text mail, text taken out of a PDF, Project Gutenberg) breaks its lines inside sentences:
# a line of WRAPPED_LINES characters that does not end a sentence, followed by one that goes on (no blank line, no
# indent, no list marker, heading or table row), is one sentence across the break; shorter lines (an infobox's
# "Date of birth 26 June 1968") and longer ones (a paragraph per line) are not wrapped.
WRAPPED_LINES = (50, 100)
_ENDS_LINE = tuple(".!?:;\"')]”’=")
_OPENS_BLOCK = re.compile(r"[-*•●=#>+|`]|\d+[.)]")


def _wrapped(text: str, start: int, end: int) -> bool:
    """Whether the line break text[start:end] only wraps a line inside a sentence."""
    if end != start + 1 or end >= len(text):  # a blank line or an indent follows: a new block
        return False
    opens = _line(text, start)[0]
    if not opens:  # the passage's first line may be the end of a longer one: its length says nothing
        return False
    line = text[opens:start].rstrip()
    following = text[slice(*_line(text, end))]
    return (WRAPPED_LINES[0] <= len(line) <= WRAPPED_LINES[1] and not line.endswith(_ENDS_LINE)
            and _TABLE_CELL not in line and _TABLE_CELL not in following and not _OPENS_BLOCK.match(following))


@functools.lru_cache(maxsize=1)
def _sentencizer():
    return load_spacy_sentences()


_sentencizer_lock = threading.Lock()


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentences of `text` as (start, end) offsets, trimmed of surrounding whitespace; line breaks also split."""
    return list(_sentence_spans(text))


# Answers keep reading the same popular passages: splitting one costs spaCy ~5-10 ms (7% of an extractive answer's
# time in `make profile`), so the spans of the last few thousand passages are kept (a few MB).
@functools.lru_cache(maxsize=4096)
def _sentence_spans(text: str) -> tuple[tuple[int, int], ...]:
    with _sentencizer_lock:
        doc = _sentencizer()(text)
        bounds = [(sent.start_char, sent.end_char) for sent in doc.sents]
    spans: list[tuple[int, int]] = []
    for start, end in bounds:
        cursor = start
        for brk in _LINE_BREAK.finditer(text, start, end):
            if not _wrapped(text, brk.start(), brk.end()):
                spans.append((cursor, brk.start()))
                cursor = brk.end()
        spans.append((cursor, end))
    trimmed = []
    for start, end in spans:
        piece = text[start:end]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            trimmed.append((start + left, start + right))
    return tuple(trimmed)


def _with_context(hit: SearchHit, start: int, end: int) -> str:
    """What the cross-encoder reads for hit.text[start:end]: the sentence under its headings ("Valkyria Chronicles
    III > Reception. The game was praised..." says which game), and a table row under its table's column names, so
    that "Maple Leafs | TOR | 13" is read as "Team: Maple Leafs; Location: TOR; Stanley Cups: 13"."""
    text = hit.text
    sentence = text[start:end]
    if _TABLE_CELL in sentence:  # a row, or the first row with the header above it
        row = _line(text, end - 1)
        header = _header_above(text, row[0])
        if header:
            sentence = as_pairs(text[slice(*header)], text[slice(*row)])
    section = hit.section_at(end - 1)
    if not section or section.endswith(sentence.strip()):  # a heading is read as it is
        return sentence
    return f"{section}. {sentence}"


def _as_text(quote: str) -> str:
    """A quote as the answer's text shows it: on one line, but for a table's rows, one line each ("Team | Location |
    Stanley Cups" over "Blues | STL | 1", not run together into "Stanley Cups Blues")."""
    if _TABLE_CELL not in quote:
        return " ".join(quote.split())
    return "\n".join(" ".join(line.split()) for line in quote.splitlines() if line.strip())


def _is_table_header(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is the first row of a table with rows under it: the names of the columns, which state
    nothing on their own ("Team | Location | Stanley Cups"), and are read with each row under them instead."""
    line_start, line_end = _line(text, start)
    above = text[slice(*_line(text, line_start - 1))] if line_start else ""
    below = text[slice(*_line(text, line_end + 1))] if line_end < len(text) else ""
    return _TABLE_CELL in text[start:end] and not is_table_line(above) and is_table_line(below)


def _row_start(text: str, start: int) -> int:
    """Where the quote of the table row at `start` starts: the row itself, or the header row just above it, which a
    table of one row needs ("Nevada | | 20-8143439" over "(State of incorporation) | | (IRS Employer
    Identification No.)" answers only as the two rows together) and which names the columns of the first row."""
    header = _header_above(text, start)
    if not header:
        return start
    between = text[header[1] + 1 : _line(text, start)[0]].split("\n")[:-1]  # the lines between: none, or a rule
    return header[0] if all(is_rule(line) for line in between) else start


def _separate(chosen: list[int], candidates: list[tuple[int, int, int]], passages: list[SearchHit],
              preference: np.ndarray) -> list[int]:
    """The chosen candidates whose quotes overlap none preferred to them, in passage order. Overlapping quotes of one
    document say the same thing twice: a sentence read with a lead-in that holds another chosen sentence, or one
    sentence found in two overlapping chunks. The one the cross-encoder preferred stays: the lead-in's short sentence
    chosen only for what the sentence before it says is left out, and so is a sentence alone when the reading that
    adds what follows it ("That would raise $500 billion") answers better."""

    def span(i: int) -> tuple[str, int, int]:
        rank, start, end = candidates[i]
        return passages[rank].document_id, passages[rank].start + start, passages[rank].start + end

    def words(i: int) -> str:
        rank, start, end = candidates[i]
        return " ".join(passages[rank].text[start:end].split())

    kept: list[int] = []
    for i in sorted(chosen, key=lambda i: -preference[i]):
        document, start, end = span(i)
        if not any(d == document and start < e and s < end for d, s, e in map(span, kept)) and words(i) not in {
                words(k) for k in kept}:
            kept.append(i)
    return sorted(kept, key=lambda i: candidates[i])


# Sentences shorter than this (characters) are read with the sentences just before them, up to LEAD_IN characters;
# sentences opening on a word that points back (a pronoun, a "But"), with the sentence just before them, and with
# the one before that too when that one points back as well (up to POINTING_BACK sentences before).
SHORT_SENTENCE = 60
_ANAPHORIC = re.compile(r"(?:It|Its|He|His|She|Her|They|Their|But)\b")
POINTING_BACK = 3
# A sentence that announces what follows ("... has implemented several green building initiatives.", "Here are a few
# examples:", "there are practical tips to ...") says what the next sentence is about, not what it says: its quote
# goes on into that sentence.
_ANNOUNCES = re.compile(r"(?::\s*(?:\d+[.)])?|\b(?:several|many|various|numerous|a number of|a few|a variety of|a range of|multiple)"
                        r"\s+(?:[\w-]+\s+){0,3}[\w-]+s\s*[.!]|\b(?:here|there) are\b.*)\s*$", re.IGNORECASE)
_ADDS = re.compile(r"(?:Additionally|In addition|Also|Moreover|Furthermore|Similarly|Likewise)\b")
_LIST_MARK = re.compile(r"(?:\d{1,2}|[a-zA-Z])[.)]|[-*•]")
LEAD_IN = 200
FOLLOWING = 2  # sentences a reading may take on after its own


def _follow_on(hit: SearchHit, end: int) -> int:
    """Where the quote of a reading ending at `end` ends: there, or after the sentences its last sentence announces
    and the ones that add to it ("Additionally, ..."), up to FOLLOWING of them and never into the next section."""
    spans = sentence_spans(hit.text)
    last = next((at for at, (_, e) in enumerate(spans) if e >= end), None)
    if last is None or spans[last][1] != end or _TABLE_CELL in hit.text[slice(*spans[last])]:
        return end
    taken, announcing = 0, _ANNOUNCES.search(hit.text, *spans[last])
    while (last + 1 < len(spans) and taken < FOLLOWING and not _is_heading(hit, *spans[last + 1])
           and (announcing or _ADDS.match(hit.text, spans[last + 1][0]))):
        last += 1
        if not _LIST_MARK.fullmatch(hit.text, *spans[last]):  # "1." alone says nothing: what it numbers does
            taken += 1
            announcing = _ANNOUNCES.search(hit.text, *spans[last])
    return spans[last][1]


# A question mark that ends a sentence or a quoted turn ("...?', 'role': 'user'}" in a chat log's JSON).
_ASKS = re.compile(r"\?[\"'”’)\]]*(?:\s|,|$)")


def _is_heading(hit: SearchHit, start: int, end: int) -> bool:
    """Whether hit.text[start:end] is a heading of the document: a section starts inside it and its words are the
    heading's, but for markup ("= = Reception = =", "## Reception", "C. STATUTORY DUTIES")."""
    words = re.findall(r"\w+", hit.text[start:end])
    for offset, path in hit.sections or []:
        if hit.start + start <= offset < hit.start + end:
            title = re.findall(r"\w+", path.rsplit(" > ", 1)[-1])
            return bool(title) and words[-len(title):] == title and len(words) <= len(title) + 2
    return False


def _reading_start(text: str, spans: list[tuple[int, int]], at: int, first: int = 0) -> int:
    """Where the text read, and quoted, for sentence `at` starts. A short sentence comes with what leads up to it
    ("They're making great sacrifices — 8.2 percent." answers nothing alone; after "What is the average federal tax
    of billionaires?" it does); a sentence opening on a word that points back with the sentence before it ("Its
    lyrics were written by Seiko Fujibayashi" says whose only after the sentence naming the song), and with the one
    before that when it points back too ("It's time to raise the corporate minimum tax to 21 percent" after "But
    that's still less than working people pay" after "big companies now have to pay a minimum of 15 percent"). The
    quote is still one exact span. No reading starts before sentence `first` (the heading of its section)."""
    start, end = spans[at]
    if at > first and end - start < SHORT_SENTENCE:
        return _lead_in(text, spans, at, first)
    lead = at
    while lead > first and at - lead < POINTING_BACK and _ANAPHORIC.match(text, spans[lead][0]):
        lead -= 1
    return spans[lead][0]


def _lead_in(text: str, spans: list[tuple[int, int]], at: int, first: int = 0) -> int:
    """Where the lead-in of sentence `at` starts: the earlier sentences of the passage from sentence `first` on
    that fit in LEAD_IN characters before it (at least the one just before), never the fragment a passage cut
    mid-sentence opens on (lower case: "to cap it all off by getting two goals.")."""
    start = spans[at][0]
    first = max(first, 1 if text[spans[0][0]].islower() else 0)
    lead = spans[at - 1][0] if at > first else start
    for earlier in range(at - 2, first - 1, -1):
        if start - spans[earlier][0] > LEAD_IN:
            break
        lead = spans[earlier][0]
    return lead


# Logits added to a sentence that speaks of the time the question asks about (TIME_WORDS): enough to prefer it over
# an equally relevant sentence of another time, not enough to lift an irrelevant one.
TIME_BONUS = 1.0
RANK_PENALTY = 0.5  # logits a sentence loses per passage rank below the first (the search's judgement counts too)
# Sentences within this many logits of the best join it in the answer, whatever their sign: the cross-encoder's
# scale shifts with how a question is put (a paraphrase scores every sentence low), so only the distance to the best
# tells a second answer from a worse one; whether to answer at all is the calibrated confidence's call.
NEARLY_AS_GOOD = 2.0
TIMELY_KEPT = 3  # sentences speaking of the asked time kept for scoring beyond the shortlist
SHORTLIST_FLOOR = 3  # sentences scored whatever share of the question they hold (when there are that many)


def read_text(passages: list[SearchHit]) -> str:
    """The text the question is answered from: every passage with its title."""
    return "\n".join(f"{hit.title or ''}\n{hit.text}" for hit in passages)


class ExtractiveGenerator:
    """Picks the passage sentences the cross-encoder finds best answer the question; each is quoted exactly."""

    name = "extractive"

    def __init__(self, reranker: Reranker, max_sentences: int = 4, min_chars: int = 25, max_scored: int = 10,
                 sparse=None, min_share: float = 0.3):
        self.reranker = reranker
        self.max_sentences = max_sentences
        self.min_chars = min_chars
        # The cross-encoder costs ~12 ms per short sentence here: it scores the sentences that hold the most
        # (BM25-weighted) words of the question, at most `max_scored` of them, and of those only the ones holding at
        # least `min_share` of what the best-holding sentence holds (of the question, or of one of its parts).
        self.max_scored = max_scored
        self.min_share = min_share
        self.sparse = sparse or Bm25Encoder()

    def generate(self, question: str, passages: list[SearchHit], instructions: str | None = None) -> Draft:
        del instructions  # quotes are what the sources say: a system prompt cannot change them
        # The time it asks about is read from the question as asked ("what did he propose" asks for a proposal)...
        asked_time = time_of(question)
        asked = asked_as_question(question)
        as_asked = question
        # ...and sentences are judged against what it asks, not against the words naming its source ("did President
        # Biden mention", "in his address"), which a speech's own sentences never say.
        question = content_of(question, read_text(passages))
        candidates: list[tuple[int, int, int]] = []  # (passage rank, start, end)
        # whether each candidate's own sentence (not its lead-in) is a question, or a table's header row
        asking: list[bool] = []
        seen: set[tuple[str, int, int]] = set()  # overlapping chunks repeat sentences
        for rank, hit in enumerate(passages):
            spans = sentence_spans(hit.text)
            first = 0  # the sentence the current section's heading is (readings do not reach back past it)
            for at, (start, end) in enumerate(spans):
                # A heading is read as it is: a short one would otherwise take the end of the section before it as
                # its lead-in ("... under the authority of the Program's enabling statutes. C. STATUTORY DUTIES").
                if _is_heading(hit, start, end):
                    first = at
                key = (hit.document_id, hit.start + start, hit.start + end)
                row = _TABLE_CELL in hit.text[start:end]  # a table row is short but complete
                if key in seen or (end - start < self.min_chars and not row and len(hit.text.strip()) >= self.min_chars):
                    continue
                seen.add(key)
                lead = _row_start(hit.text, start) if row else _reading_start(hit.text, spans, at, first)
                candidates.append((rank, lead, end))
                asking.append(_ASKS.search(hit.text, start, end) is not None
                              or (row and _is_table_header(hit.text, start, end)))
        # A sentence that asks something answers nothing (a chat log's user turn restating the question, a speech's
        # rhetorical question), nor does a table's header row: it is read only as another sentence's lead-in (a row
        # with its header), unless the passages hold nothing else.
        statements = [c for c, asks in zip(candidates, asking, strict=True) if not asks]
        parts = question_parts(question)
        direction = superlative(as_asked)
        asked_terms = set(self.sparse.encode_query(question)[0]) if direction else set()
        tables = self._extremes(direction, asked_terms, passages, statements or candidates)
        shortlisted = self._shortlist(question, parts, asked_time, passages, statements or candidates)
        candidates = shortlisted + sorted({winner for winner, _ in tables} - set(shortlisted))
        if not candidates:
            return Draft("", [], 0.0, self.name)
        texts = [_with_context(passages[r], s, e) for r, s, e in candidates]
        logits = self.reranker.score(question, texts)
        # A superlative question over a table ("the most Stanley Cups"): the row holding the extreme of the column it
        # names answers, as strongly as the cross-encoder finds the table's best-scored row answers; the table's other
        # rows do not.
        outvoted, winners = set(), []
        for winner, rows in tables:
            at = candidates.index(winner)
            scored = [i for i, c in enumerate(candidates) if c in rows]
            logits[at] = max(logits[i] for i in scored)
            outvoted |= set(scored) - {at}
            winners.append(at)
        if winners:
            # One answer to "the most": the extreme of the table whose headings narrow the question least ("Stanley
            # Cups" rather than "Stanley Cups Since 67" unless it asks since when), then of the one that answers best.
            def narrowing(at: int) -> int:
                rank, _, end = candidates[at]
                return len(set(self.sparse.encode_query(passages[rank].section_at(end - 1) or "")[0]) - asked_terms)

            top = min(winners, key=lambda at: (narrowing(at), -logits[at]))
            outvoted |= set(winners) - {top}
        # A question about a time ("today", "proposed") prefers the sentences that speak of that time (in choosing
        # only: the signals stay the cross-encoder's own).
        preference = logits + np.array([TIME_BONUS if asked_time & time_of(t) else 0.0 for t in texts], dtype=np.float32)
        preference[sorted(outvoted)] = -np.inf
        # The best sentence, and others nearly as good (within NEARLY_AS_GOOD logits of it).
        preference = preference - RANK_PENALTY * np.array([r for r, _, _ in candidates], dtype=np.float32)
        ranked = sorted(range(len(candidates)), key=lambda i: preference[i], reverse=True)
        best = float(logits[ranked[0]])
        chosen = [i for i in ranked if preference[i] >= preference[ranked[0]] - NEARLY_AS_GOOD][: self.max_sentences]
        # Quoted for completeness, not counted as evidence: a sentence the cross-encoder scores below 0 beside the best
        # adds to the answer, not to the confidence in it.
        unscored = {i for i in chosen if i != ranked[0] and logits[i] <= 0}
        # A question of several parts: the best sentence for each part too, or a plain word that a part is not covered.
        weak, covered = [], []  # (part, its name) no sentence answers; (part, its logits) for the parts some does
        if len(parts) > 1:
            # Judged without the source frame ("how did he address X" is read as "how X"), named as the user put it.
            asked_parts = question_parts(as_asked)
            names = asked_parts if len(asked_parts) == len(parts) else parts
            for part, name in zip(parts, names, strict=True):
                part_logits = self.reranker.score(part, texts)
                top = int(np.argmax(part_logits))
                if part_logits[top] <= 0:
                    weak.append((part, name))
                    continue
                covered.append((part, part_logits))
                if top not in chosen:
                    chosen.append(top)
                else:
                    unscored.discard(top)  # a part's best sentence is evidence for that part
        chosen = sorted(chosen, key=lambda i: candidates[i])  # passage order, then position
        parts_text, citations, evidence = [], [], []
        read: dict[int, str] = {}  # what each citation's sentence was judged on (its quote may go on past it)
        # Each chosen sentence is quoted with what it announces and what adds to it.
        quotes = [(r, s, _follow_on(passages[r], e)) if i in chosen else (r, s, e) for i, (r, s, e) in enumerate(candidates)]
        for number, i in enumerate(_separate(chosen, quotes, passages, preference), start=1):
            rank, start, end = quotes[i]
            citation = Citation.of(number, passages[rank], start, end, float(sigmoid(logits[i])))
            citations.append(citation)
            read[number] = passages[rank].text[start : candidates[i][2]]
            if i not in unscored:
                evidence.append(read[number])
            parts_text.append(f"{_as_text(citation.quote)} [{number}]")
        # A part no sentence answers is said to be uncovered, unless the quotes name every word of it ("Compare the
        # Blues and the Flyers" quoting the rows "Blues | STL | 1" and "Flyers | PHI | 2"): saying the sources do not
        # cover what the answer quotes would contradict it.
        uncovered = []
        if weak:
            quoted = set(self.sparse.encode_document(" ".join(c.quote for c in citations))[0])
            for part, name in weak:
                terms = set(self.sparse.encode_query(part)[0])
                if not terms or not terms <= quoted:
                    uncovered.append(name)
        if uncovered:
            parts_text.append("The sources found do not cover: " + "; ".join(uncovered) + ".")
        signals = self._signals(question, asked, passages, candidates, logits, ranked, evidence)
        # Each part some sentence answers is also read as if asked alone: the answer is as well supported as its
        # best-supported part (one part the sources do not cover is said so, and must not sink the others).
        part_signals = []
        for part, part_logits in covered:
            part_ranked = sorted(range(len(candidates)), key=lambda i: part_logits[i], reverse=True)
            rank, start, end = candidates[part_ranked[0]]
            hit = passages[rank]  # its evidence: the quote holding its best sentence (alone, or in a lead-in)
            quoting = [read[c.index] for c in citations if c.document_id == hit.document_id and c.start < hit.start + end
                       and hit.start + start < c.end]
            part_signals.append(self._signals(part, asked, passages, candidates, part_logits, part_ranked, quoting))
            best = max(best, float(part_logits[part_ranked[0]]))
        return Draft(" ".join(parts_text), citations, float(sigmoid(best)), self.name, signals=signals,
                     parts=parts_text, part_signals=part_signals)

    def _signals(self, question, asked, passages, candidates, logits, ranked, evidence) -> dict[str, float]:
        """The evidence's signals for the calibrated confidence: how strongly the best sentence answers (under its
        headings) and read in its context (the document's title, its neighbours), its lead over the next, how much of
        the question the sentences counted as evidence cover (as read: `evidence`), how many passages hold a relevant
        sentence, how far down the passages it was found, how far the dense and the keyword search agree on its best
        passage (its RRF score, whatever fusion ranked them: highest when both put it first; a passage that restates
        the question tops both, a same-topic neighbour rarely does), and whether it was asked as a question or stated
        as a claim (with the best logit again for questions: the cross-encoder's logits have another offset and scale
        for each form)."""
        top = ranked[0]
        rank, start, end = candidates[top]
        hit = passages[rank]
        spans = sentence_spans(hit.text)
        at = next((k for k, span in enumerate(spans) if span == (start, end)), None)
        window = hit.text[spans[at - 1][0] if at else start : spans[at + 1][1] if at is not None and at + 1 < len(spans) else end]
        context = f"{hit.title}: {window}" if hit.title else window
        context_logit = float(self.reranker.score(question, [context])[0])
        second = float(logits[ranked[1]]) if len(ranked) > 1 else float(logits[top]) - 10.0
        query_terms = set(self.sparse.encode_query(question)[0])
        quoted = set(self.sparse.encode_document(" ".join([hit.title or ""] + evidence))[0])
        relevant = {candidates[i][0] for i in range(len(candidates)) if logits[i] > 0}
        return {
            "best_logit": round(float(logits[top]), 4),
            "context_logit": round(context_logit, 4),
            "margin": round(min(10.0, float(logits[top]) - second), 4),
            "coverage": round(len(query_terms & quoted) / len(query_terms), 4) if query_terms else 0.0,
            "agreement": round(len(relevant) / len(passages), 4),
            "passage_rank": float(rank),
            "search_score": round(max(p.retrieval_score if p.rrf_score is None else p.rrf_score for p in passages), 6),
            "question_form": 1.0 if asked else 0.0,
            "question_best_logit": round(float(logits[top]), 4) if asked else 0.0,
        }

    def _extremes(self, direction: int, asked_terms: set, passages: list[SearchHit],
                  candidates: list[tuple[int, int, int]]) -> list[tuple[tuple[int, int, int], set]]:
        """For a superlative question (`asked_terms`: its BM25 terms), each table among the candidates whose extreme
        row can be told: (that row's candidate, the candidates of all its rows)."""
        if not direction:
            return []
        found, seen = [], set()
        for rank, _, end in candidates:
            text = passages[rank].text
            rows = table_rows(text, end - 1)  # none unless the candidate ends on a table row
            if not rows or (rank, rows[0]) in seen:
                continue
            seen.add((rank, rows[0]))
            extreme = extreme_row(direction, text, rows, asked_terms,
                                  lambda name: set(self.sparse.encode_document(name)[0]))
            ends = {row_end for _, row_end in rows}
            members = {c for c in candidates if c[0] == rank and c[2] in ends}
            winner = next((c for c in members if extreme and c[2] == extreme[1]), None)
            if winner:
                found.append((winner, members))
        return found

    def _shortlist(self, question: str, parts: list[str], asked_time: set[str], passages: list[SearchHit],
                   candidates: list[tuple[int, int, int]]):
        """The candidates worth the cross-encoder's time: the `max_scored` holding the most of the question (the
        summed BM25 weight of the distinct question terms each contains: a term repeated in a long sentence counts
        once), plus the best few that speak of the time the question asks about; of those, the ones that hold at
        least `min_share` of what the best-holding one holds, of the whole question or of one of its parts (a
        sentence holding under a third of what the best one holds seldom beats it; `SHORTLIST_FLOOR` are always kept)."""
        if not candidates:
            return candidates
        texts = [passages[rank].text[start:end] for rank, start, end in candidates]
        terms = [set(self.sparse.encode_document(text)[0]) for text in texts]

        def holding(text: str) -> list[float]:
            indices, values = self.sparse.encode_query(text)
            weight = dict(zip(indices, values, strict=True))
            return [sum(weight.get(t, 0.0) for t in found) for found in terms]

        held = holding(question)
        timely = [i for i in range(len(candidates)) if asked_time and asked_time & time_of(texts[i])]
        ranked = sorted(range(len(candidates)), key=lambda i: held[i], reverse=True)  # stable: ties keep passage order
        kept = set(ranked)
        if len(candidates) > self.max_scored:
            kept = set(sorted(timely, key=lambda i: held[i], reverse=True)[:TIMELY_KEPT])
            kept |= set(ranked[: max(self.max_scored - len(kept), 1)])
        if self.min_share > 0 and held[ranked[0]] > 0:  # (when no sentence holds a word of the question, none is cut)
            readings = [held] + ([holding(part) for part in parts] if len(parts) > 1 else [])
            tops = [max(h[i] for i in kept) for h in readings]
            floor = [i for i in ranked if i in kept][:SHORTLIST_FLOOR]
            kept = {i for i in kept if i in floor or i in timely
                    or any(top > 0 and h[i] >= self.min_share * top for h, top in zip(readings, tops, strict=True))}
        return [c for i, c in enumerate(candidates) if i in kept]
