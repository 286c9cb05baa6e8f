"""Conversations: turns stored per tenant, and follow-ups made self-contained before retrieval ("And who is it
for?" after a question about insulin is asked as a question about insulin)."""

from __future__ import annotations

import functools
import re
import uuid

from sqlalchemy import func, select

from core.db import ConversationRow, ConversationTurnRow, Database, utcnow

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*|\d[\d.,%]*")
# A follow-up leans on an earlier turn when it points back (pronouns, "that", "there") or leaves its subject out
# ("And the price?", "What about Canada?").
_POINTERS = {"it", "its", "they", "them", "their", "theirs", "this", "that", "these", "those", "he", "him", "his",
             "she", "her", "hers", "there", "then", "one", "ones", "such", "same", "former", "latter"}
_ELLIPSIS = re.compile(r"^\s*(and|but|also|so|or|what about|how about|and what about|why|how come)\b", re.IGNORECASE)
_SUBJECT = re.compile(r"^.*\b(?:about|regarding|concerning|on|of|for|with|to)\s+(?:the\s+|a\s+|an\s+)?(?P<phrase>[^?.!]+?)\s*[?.!]*$",
                      re.IGNORECASE)
# Personal pronouns first: "that" and "this" are as often relative or determiners ("the agency that aims to...").
_POINTERS_BY_STRENGTH = (re.compile(r"\b(it|they|them|he|she|him|her)\b", re.IGNORECASE),
                         re.compile(r"\b(this|that|these|those)\b(?=\s*[?.!,]|$)", re.IGNORECASE))
_POSSESSIVE = re.compile(r"\b(its|their|his|her)\b", re.IGNORECASE)
_SELF_CONTAINED_WORDS = 4  # content words a question needs to stand alone without pointers
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
    points_back = any(p.search(question) for p in _POINTERS_BY_STRENGTH) or bool(_POSSESSIVE.search(question))
    return points_back or bool(_ELLIPSIS.match(question)) or len(content_words(question)) < _SELF_CONTAINED_WORDS


def subject_of(question: str) -> str:
    """What a question is about: the phrase after its last "about / of / on / for ...", else its last content words."""
    found = _SUBJECT.match(" ".join(question.split()))
    if found and content_words(found["phrase"]):
        return found["phrase"]
    return " ".join(content_words(question)[-3:])


def condense(question: str, history: list[str]) -> str:
    """The follow-up as a self-contained question, the current turn first: its first pointer ("it", "they", "its")
    becomes the subject of the turn it leans on, an elliptical question ("What about the price?") gets that subject
    added, and the other salient terms of the last two turns follow in brackets, none it already has. A question
    that stands alone is returned as it is."""
    question = " ".join(question.split())
    if not history or not depends_on_history(question):
        return question
    subject = subject_of(history[-1])
    rewritten = question
    if subject:
        pointer = next((p for p in _POINTERS_BY_STRENGTH if p.search(question)), None)
        if pointer is not None:
            rewritten = pointer.sub(subject, question, count=1)
        elif _POSSESSIVE.search(question):
            rewritten = _POSSESSIVE.sub(f"{subject}'s", question, count=1)
        else:
            rewritten = f"{question.rstrip(' ?.!')} of {subject}?"
    have = {w.lower().removesuffix("'s").removesuffix("’s") for w in content_words(rewritten)}
    carried: list[str] = []
    for earlier in reversed(history[-2:]):
        for word in content_words(earlier):
            if word.lower() not in have and len(carried) < CARRIED_TERMS:
                have.add(word.lower())
                carried.append(word)
    return f"{rewritten} ({' '.join(carried)})" if carried else rewritten


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
