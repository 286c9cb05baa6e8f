"""Conversations: turns stored per tenant, and follow-ups made self-contained before retrieval ("And who is it
for?" after a question about insulin is asked as a question about insulin)."""

from __future__ import annotations

import functools
import re
import uuid

from sqlalchemy import func, select

from core.db import AnswerRow, ConversationRow, ConversationTurnRow, Database, utcnow
from retrieval.tables import TABLE_CELL

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*|\d[\d.,%]*")
# A follow-up leans on an earlier turn when it points back (pronouns, "that", "there") or leaves its subject out
# ("And the price?", "What about Canada?").
_POINTERS = {"it", "its", "they", "them", "their", "theirs", "this", "that", "these", "those", "he", "him", "his",
             "she", "her", "hers", "there", "then", "one", "ones", "such", "same", "former", "latter"}
_ELLIPSIS = re.compile(r"^\s*(and|but|also|so|or|what about|how about|and what about|why|how come)\b", re.IGNORECASE)
_SUBJECT = re.compile(r"^.*\b(?:about|regarding|concerning|on|of|for|with|to)\s+(?:the\s+|a\s+|an\s+)?(?P<phrase>[^?.!]+?)\s*[?.!]*$",
                      re.IGNORECASE)
# What points back: "it" and "they" first (the subject is what was talked about; "he" is more often the one talking:
# "Why does he want to raise it?" after a question about the corporate minimum tax), then "he" and "she", then a
# closing "that" / "this" (elsewhere they are as often relative or determiners: "the agency that aims to...").
_THINGS = re.compile(r"\b(it|they|them)\b", re.IGNORECASE)
_PERSONS = re.compile(r"\b(he|she|him|her)\b", re.IGNORECASE)
_DEMONSTRATIVE = re.compile(r"\b(this|that|these|those)\b(?=\s*[?.!,]|$)", re.IGNORECASE)
_POSSESSIVE = re.compile(r"\b(its|their|his|her)\b", re.IGNORECASE)
_THINGS_POSSESSIVE = re.compile(r"\b(its|their)\b", re.IGNORECASE)
# A follow-up that names what it is about ("And what did he say about Israel?"): its pointer is someone else (the
# speaker), not the earlier turn's subject, so nothing is put in its place; "What about the price?" asks the price
# of the subject.
_OWN_SUBJECT = re.compile(r"\b(?:about|regarding|concerning)\s+(?!(?:it|them|that|this|those|these|him|her)\b)\w", re.IGNORECASE)
_WHAT_ABOUT = re.compile(r"^\s*(?:and\s+)?(?:what|how)\s+about\b", re.IGNORECASE)
# A question asking for a thing ("Who ...", "Which team ...", "What company ..."; not "What is ..."): a follow-up's
# "they", "that team" then mean the thing its answer named.
_ASKS_FOR = re.compile(r"^\W*(?:(?:and|but|so|then|now)\W+)?(?:(?P<who>who|whom)\b|(?:which|what)\s+(?P<noun>[A-Za-z][\w-]*))",
                       re.IGNORECASE)
_NAME = re.compile(r"[A-Z][\w'’.&-]*(?:\s+(?:(?:of|the|de|van|von|and|&)\s+)?[A-Z][\w'’.&-]*)*")
_MARKER = re.compile(r"\s*\[\d+\]")
# Content words a question needs to stand alone without pointers: "What is the price?" leans on the earlier turn,
# "Who signed the handbook?" asks something new (taken for a follow-up, it was asked about the last turn's subject).
_SELF_CONTAINED_WORDS = 2
CARRIED_TERMS = 8  # salient terms carried from the turns a follow-up depends on


@functools.cache
def _stop_words() -> frozenset[str]:
    # Imported on first use for start-up cost: spaCy pulls in thinc and torch, which a process that never reads a
    # conversation (an API process that only queues uploads) should not load.
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS) | {"say", "says", "said", "tell", "did", "does", "mention", "mentioned", "according"}


def content_words(text: str) -> list[str]:
    """The words that carry a question's subject: no stop words, no pointers, in order, each once."""
    seen, out = set(), []
    for word in _WORD.findall(text):
        key = word.lower().strip("'’")
        if key in _stop_words() or key in _POINTERS or len(key) < 2 or key in seen:
            continue
        seen.add(key)
        out.append(word)
    return out


def depends_on_history(question: str) -> bool:
    points_back = any(p.search(question) for p in (_THINGS, _PERSONS, _DEMONSTRATIVE, _POSSESSIVE))
    return points_back or bool(_ELLIPSIS.match(question)) or len(content_words(question)) < _SELF_CONTAINED_WORDS


_CARRIED = re.compile(r"\s*\([^()]*\)\s*$")  # the terms condense() carries in brackets after a follow-up


def _name_words(name: re.Match) -> list[str]:
    """A capitalized run's words without the stop words opening it: "The Montreal Canadiens" names "Montreal
    Canadiens"."""
    words = name.group().split()
    while words and words[0].lower() in _stop_words():
        words = words[1:]
    return words


def subject_of(question: str) -> str:
    """What a question is about: the phrase after its last "about / of / on / for ...", else the name it holds
    ("Where are the Maple Leafs located?"), else its last content words (a condensed follow-up's carried terms
    left out)."""
    question = _CARRIED.sub("", " ".join(question.split()))
    found = _SUBJECT.match(question)
    if found and content_words(found["phrase"]):
        return found["phrase"]
    for name in _NAME.finditer(question, 1):  # not its first word: every question starts with a capital
        words = _name_words(name)
        if words:
            return " ".join(words)
    return " ".join(content_words(question)[-3:])


def answer_subject(question: str, answer: str) -> tuple[str, str | None] | None:
    """What an answer named when its question asked for a thing, and the noun the question asked for it by:
    "Which team won the most Stanley Cups?" answered "Maple Leafs | TOR | 13 [1]" named ("Maple Leafs", "team"),
    "Who illustrated the Flower Fairies?" answered "Cicely Mary Barker ( 1895 – 1973 ) was an English illustrator"
    named ("Cicely Mary Barker", None). None when the question asked for no thing or the answer names none."""
    asked = _ASKS_FOR.match(question)
    noun = asked["noun"] if asked else None
    if not asked or (noun and noun.lower() in _stop_words()):
        return None
    text = _MARKER.sub("", answer).strip()
    rows = [line for line in text.splitlines() if TABLE_CELL in line]
    if rows:  # a table's row: the thing is what its first cell names
        cell = rows[-1].split(TABLE_CELL)[0].strip()
        return (cell, noun) if cell else None
    asked_words = {w.lower() for w in _WORD.findall(question)}
    for found in _NAME.finditer(text):
        words = _name_words(found)
        before = text[: found.start()].rstrip()
        opens_sentence = not before or before[-1] in ".!?:"
        if len(words) < (2 if opens_sentence else 1):  # a sentence's first word is capitalized anyway: "Overseas, ..."
            continue
        if not any(w.lower().strip(".'’") in asked_words for w in words):  # a name the question did not already hold
            return " ".join(words).rstrip("."), noun
    return None


def condense(question: str, history: list[str], answer: str | None = None) -> str:
    """The follow-up as a self-contained question, the current turn first: its first pointer ("it", "they", "its")
    becomes the subject of the turn it leans on, an elliptical question ("What about the price?") gets that subject
    added, and the other salient terms of the last two turns follow in brackets, none it already has. When that turn
    asked for a thing ("Which team won the most?") and `answer`, its answer, named one, the pointers and "that team"
    mean the thing named ("Where is that team located?" asks where the Maple Leafs are). A question that stands
    alone is returned as it is."""
    question = " ".join(question.split())
    if not history:
        return question
    named = answer_subject(history[-1], answer) if answer else None
    demonstrative = re.compile(rf"\b(?:that|this|the same|the)\s+{re.escape(named[1])}\b|\bthat one\b"
                               if named and named[1] else r"\bthat one\b", re.IGNORECASE)
    points_at_answer = named is not None and demonstrative.search(question) is not None
    if not points_at_answer and not depends_on_history(question):
        return question
    subject = named[0] if named else subject_of(history[-1])
    rewritten, have = question, set()
    if points_at_answer:
        rewritten = demonstrative.sub(lambda _: subject, question, count=1)
    elif subject and not _WHAT_ABOUT.match(question) and _OWN_SUBJECT.search(question):
        # its own subject replaces the earlier one: that one's words are not carried either
        have = {w.lower() for w in content_words(subject)}
    elif subject:
        thing = subject == subject.lower()  # a subject in lower case is a thing, never "he"
        pointers = (_THINGS, _DEMONSTRATIVE) if thing else (_THINGS, _PERSONS, _DEMONSTRATIVE)
        possessive = _THINGS_POSSESSIVE if thing else _POSSESSIVE
        pointer = next((p for p in pointers if p.search(question)), None)
        if pointer is not None:
            rewritten = pointer.sub(subject, question, count=1)
        elif possessive.search(question):
            rewritten = possessive.sub(f"{subject}'s", question, count=1)
        else:
            rewritten = f"{question.rstrip(' ?.!')} of {subject}?"
    have |= {w.lower().removesuffix("'s").removesuffix("’s") for w in content_words(rewritten)}
    carried: list[str] = []
    for earlier in reversed(history[-2:]):
        for word in content_words(earlier):
            if word.lower() not in have and len(carried) < CARRIED_TERMS:
                have.add(word.lower())
                carried.append(word)
    return f"{rewritten} ({' '.join(carried)})" if carried else rewritten


def standalone_turns(turns: list[tuple[str, str | None]]) -> list[str]:
    """Each question of a conversation, (question, the reply it got), made self-contained from the ones before it
    and the reply to the last of them by the offline rule: what a stored conversation keeps, for a client that
    sends the whole conversation with each question (the OpenAI chat route)."""
    standalone: list[str] = []
    reply = None
    for question, answer in turns:
        standalone.append(condense(question, standalone, reply))
        reply = answer
    return standalone


class ConversationStore:
    def __init__(self, db: Database):
        self.db = db

    def start(self, tenant: str) -> str:
        conversation_id = str(uuid.uuid4())
        with self.db.session() as s:
            s.add(ConversationRow(id=conversation_id, tenant=tenant))
        return conversation_id

    def exists(self, tenant: str, conversation_id: str) -> bool:
        with self.db.session() as s:
            row = s.get(ConversationRow, conversation_id)
            return row is not None and row.tenant == tenant

    def history(self, tenant: str, conversation_id: str) -> list[str]:
        """The self-contained questions of the turns so far, oldest first."""
        with self.db.session() as s:
            return list(s.scalars(
                select(ConversationTurnRow.standalone_question)
                .join(ConversationRow, ConversationRow.id == ConversationTurnRow.conversation_id)
                .where(ConversationTurnRow.conversation_id == conversation_id, ConversationRow.tenant == tenant)
                .order_by(ConversationTurnRow.position)
            ))

    def last_answer(self, tenant: str, conversation_id: str) -> str | None:
        """The text of the last turn's answer, when it answered (not a fallback) and the answer log still has it."""
        with self.db.session() as s:
            answer_id = s.scalar(select(ConversationTurnRow.answer_id)
                                 .where(ConversationTurnRow.conversation_id == conversation_id)
                                 .order_by(ConversationTurnRow.position.desc()).limit(1))
            row = s.get(AnswerRow, answer_id) if answer_id else None
            body = row.body if row is not None and row.tenant == tenant else None
        return body.get("answer") if body and not body.get("fallback") else None

    def add_turn(self, conversation_id: str, question: str, standalone: str, answer_id: str) -> None:
        with self.db.session() as s:
            position = s.scalar(select(func.count()).where(ConversationTurnRow.conversation_id == conversation_id)) or 0
            s.add(ConversationTurnRow(conversation_id=conversation_id, position=position, question=question,
                                      standalone_question=standalone, answer_id=answer_id))
            conversation = s.get(ConversationRow, conversation_id)
            conversation.updated_at = utcnow()

    def get(self, tenant: str, conversation_id: str) -> dict | None:
        with self.db.session() as s:
            row = s.get(ConversationRow, conversation_id)
            if row is None or row.tenant != tenant:
                return None
            turns = s.scalars(select(ConversationTurnRow).where(ConversationTurnRow.conversation_id == conversation_id)
                              .order_by(ConversationTurnRow.position))
            return {
                "id": row.id, "created_at": row.created_at.isoformat(), "updated_at": row.updated_at.isoformat(),
                "turns": [{"position": t.position, "question": t.question, "standalone_question": t.standalone_question,
                           "answer_id": t.answer_id, "created_at": t.created_at.isoformat()} for t in turns],
            }
