"""Reading a question before answering it: the distinct parts a complete answer must cover, and the time it asks
about ("today", "proposed")."""

from __future__ import annotations

import re

# A question joins several asks with "and"/"also"/";" before a new question word or auxiliary: "What is X, and
# what would Y do?" has two parts; "What are the causes and effects of X?" has one (no new question after "and").
_QUESTION_WORDS = r"(?:what|how|who|whom|whose|when|where|why|which|is|are|was|were|does|do|did|would|will|can|could|should|has|have)"
_JOIN = re.compile(rf"\s*(?:[,;]\s*(?:and|but|also)?|\band\b|\balso\b|\?)\s+(?={_QUESTION_WORDS}\b)", re.IGNORECASE)
_COMPARE = re.compile(r"^(?P<head>.*?\b(?:compare|comparing|difference between|differences between)\s+)(?P<a>.+?)\s+(?:and|with|to|versus|vs\.?)\s+(?P<b>.+?)(?P<tail>[?.!]*)$", re.IGNORECASE)
_CHANGE = re.compile(r"^(?:how\s+(?:did|has|have)\s+)(?P<subject>.+?)\s+(?:changed?|evolved?|developed?|grown|shifted)\b", re.IGNORECASE)
_MIN_PART_WORDS = 3

TIME_WORDS = {
    "current": ("today", "now", "currently", "current", "present", "presently", "these days", "this year", "still"),
    "proposed": ("propose", "proposed", "proposal", "plan", "plans", "planned", "would", "will", "future", "next"),
    "past": ("before", "previously", "used to", "ago", "last year", "formerly"),
}


def question_parts(question: str) -> list[str]:
    """The asks a complete answer covers; one part (the question itself) for a simple question."""
    text = " ".join(question.split())
    compared = _COMPARE.match(text)
    if compared:
        return [f"{compared['a']}", f"{compared['b']}"]
    changed = _CHANGE.match(text)
    if changed:
        subject = changed["subject"]
        return [f"{subject} before", f"{subject} now"]
    pieces = [p.strip(" ,;?") for p in _JOIN.split(text)]
    parts = [p for p in pieces if len(p.split()) >= _MIN_PART_WORDS]
    return parts if len(parts) > 1 else [text]


def time_of(text: str) -> set[str]:
    """Which of the time classes (current, proposed, past) the text names."""
    lowered = f" {text.lower()} "
    return {kind for kind, words in TIME_WORDS.items() if any(re.search(rf"\b{re.escape(w)}\b", lowered) for w in words)}
