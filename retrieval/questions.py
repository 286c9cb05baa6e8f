"""Reading a question before answering it: what it asks once the words naming its source are set aside, the distinct
parts a complete answer must cover, and the time it asks about ("today", "proposed")."""

from __future__ import annotations

import re

# A question joins several asks with "and"/"also"/";" before a new question word or auxiliary: "What is X, and
# what would Y do?" has two parts; "What are the causes and effects of X?" has one (no new question after "and").
_QUESTION_WORDS = r"(?:what|how|who|whom|whose|when|where|why|which|is|are|was|were|does|do|did|would|will|can|could|should|has|have)"
_JOIN = re.compile(rf"\s*(?:[,;]\s*(?:and|but|also)?|\band\b|\balso\b|\?)\s+(?={_QUESTION_WORDS}\b)", re.IGNORECASE)
_COMPARE = re.compile(r"^(?P<head>.*?\b(?:compare|comparing|difference between|differences between)\s+)(?P<a>.+?)\s+(?:and|with|to|versus|vs\.?)\s+(?P<b>.+?)(?P<tail>[?.!]*)$", re.IGNORECASE)
_CHANGE = re.compile(r"^(?:how\s+(?:did|has|have)\s+)(?P<subject>.+?)\s+(?:changed?|evolved?|developed?|grown|shifted)\b", re.IGNORECASE)
_MIN_PART_WORDS = 3
# An ask opens with a question word or auxiliary, or a request ("explain ...", "list ..."), after an "and"/"so" that
# carries a conversation on; a follow-up made self-contained ends with its earlier turns' words in brackets.
_REQUESTS = r"(?:tell|explain|list|describe|name|give|show|summari[sz]e|compare|define|find|identify|outline)"
_ASKS = re.compile(rf"^\W*(?:(?:and|but|so|also|then|ok|okay|well)\W+)*(?:{_QUESTION_WORDS}|{_REQUESTS})\b", re.IGNORECASE)
_CARRIED = re.compile(r"\s*\([^()]*\)\s*$")

TIME_WORDS = {
    "current": ("today", "now", "currently", "current", "present", "presently", "these days", "this year", "still"),
    "proposed": ("propose", "proposed", "proposal", "plan", "plans", "planned", "would", "will", "future", "next"),
    "past": ("before", "previously", "used to", "ago", "last year", "formerly"),
}


def question_parts(question: str) -> list[str]:
    """The asks a complete answer covers; one part (the question itself) for a simple question, and for a claim (a
    statement's ", which ..." is a clause of it, not a second question)."""
    text = " ".join(question.split())
    if not asked_as_question(text):
        return [text]
    compared = _COMPARE.match(text)
    if compared:
        return [f"{compared['a']}", f"{compared['b']}"]
    changed = _CHANGE.match(text)
    if changed:
        subject = changed["subject"]
        return [f"{subject} before", f"{subject} now"]
    pieces = [p.strip(" ,;?") for p in _JOIN.split(text)]
    # A lead-in that asks nothing ("As of the statement, how much ...") belongs to the ask after it.
    if len(pieces) > 1 and not _ASKS.match(pieces[0]):
        pieces[:2] = [f"{pieces[0]}, {pieces[1]}"]
    parts = [p for p in pieces if len(p.split()) >= _MIN_PART_WORDS]
    return parts if len(parts) > 1 else [text]


def asked_as_question(text: str) -> bool:
    """Whether the text asks ("What is X?", "does X cause Y") rather than states (a claim to check: "X causes Y.").
    The cross-encoder reads the two differently: a claim's best sentence restates it, a question's answers it in other
    words, so the same logit means more for a question (the calibration weighs it by this)."""
    stripped = _CARRIED.sub("", text.strip())
    return stripped.endswith("?") or bool(_ASKS.match(stripped))


def time_of(text: str) -> set[str]:
    """Which of the time classes (current, proposed, past) the text names."""
    lowered = f" {text.lower()} "
    return {kind for kind, words in TIME_WORDS.items() if any(re.search(rf"\b{re.escape(w)}\b", lowered) for w in words)}


# The words of a question that name where an answer comes from rather than what it says: "did President Biden
# mention", "according to the report", "in his State of the Union Address", "as described in the text". A source
# seldom names itself (a speech says "I", an article rarely its own title), so a sentence judged against them looks
# like a poor answer however well it answers the rest. A named speaker the sources do mention stays: "What did
# Congress propose?" asked of a speech that speaks of Congress is about Congress, not by it.
_TITLE = r"(?:President|Senator|Governor|Mayor|Dr\.?|Mr\.?|Mrs\.?|Ms\.?|Professor|Prof\.?|General|Pope|King|Queen|Prince|Princess|Sir|Lord|Lady)"
_NAME = rf"(?P<name>(?:{_TITLE} )?[A-Z][\w.'-]*(?: [A-Z][\w.'-]*){{0,3}})"  # a capitalised name of one to four words
# A speaker named by role ("did the president say"): a transcript labels its speakers so ("THE PRESIDENT:", "User:"),
# which a sentence judged against the question would match on the label rather than on what was said.
_ROLE = (
    r"(?i:author|authors|speaker|writer|narrator|host|guest|interviewer|user|assistant|customer|agent|president|"
    r"vice president|prime minister|minister|secretary|senator|governor|mayor|chancellor|ceo|chair|chairman|chairwoman|"
    r"spokesperson|spokesman|spokeswoman|researchers)"
)
_SPEAKER = rf"(?:{_NAME}|he|she|they|the {_ROLE}|the (?:text|article|report|document|passage|speech|study))"
_WHOSE = rf"(?:[Hh]is|[Hh]er|[Tt]heir|[Ii]ts|[Tt]he|[Tt]his|[Tt]hat|{_NAME}'s?)"  # "in his speech", "in President Biden's speech"
_REPORTS = (
    r"(?:say|said|says|mention|mentioned|mentions|propose|proposed|proposes|discuss|discussed|discusses|emphasi[sz]e|emphasi[sz]ed|"
    r"emphasi[sz]es|highlight|highlighted|highlights|describe|described|describes|outline|outlined|outlines|urge|urged|urges|"
    r"request|requested|requests|promise|promised|promises|claim|claimed|claims|give|gave|gives|announce|announced|announces|"
    r"address|addressed|addresses|stress|stressed|stresses|note|noted|notes|cite|cited|cites|express|expressed|expresses|explain|"
    r"explained|explains|argue|argued|argues|refer to|referred to|refers to|vow|vowed|vows|recommend|recommended|recommends)"
)
_WORK = (  # any case: "in his State of the Union Address"
    r"(?i:speech|address|remarks|text|article|report|document|passage|talk|paper|book|chapter|section|story|post|letter|message|"
    r"statement|interview|essay|excerpt|conversation|chat|transcript)"
)
_SOURCE_FRAMES = (  # applied in this order: a reporting verb goes with its speaker before "in his speech" goes alone
    re.compile(rf"\b(?:do|does|did|has|have|had|will|would|can|could) {_SPEAKER} {_REPORTS}\b"),  # "did X mention"
    re.compile(rf",?\s*\b(?:as )?{_REPORTS} by {_SPEAKER}\b"),  # "as described by X"
    re.compile(rf"\baccording to {_SPEAKER}(?:'s? (?:[\w-]+ ){{0,5}}?{_WORK})?\s*,\s*", re.IGNORECASE),  # "According to X, ..."
    re.compile(rf",?\s*\baccording to {_SPEAKER}(?:'s? (?:[\w-]+ ){{0,5}}?{_WORK})?(?=\s*[?.!]?$)", re.IGNORECASE),
    re.compile(rf",?\s*\b(?:as )?{_REPORTS} (?:in|during|by) {_WHOSE} (?:[\w-]+ ){{0,5}}?{_WORK}\b"),
    re.compile(rf",?\s*\b(?:in|during|throughout) {_WHOSE} (?:[\w-]+ ){{0,5}}?{_WORK}\b"),
    re.compile(rf"\b{_NAME} (?:has |have |had )?{_REPORTS}\b(?= (?:to|for|in|regarding|about|as|will|would|are|is|\w+ing)\b)"),
    re.compile(rf"\b{_NAME}'s? (?=(?:views?|stated|stance|position|intentions?|plans?|proposals?|remarks|comments|thoughts|opinions?|purposes?|administration|government)\b)"),
)
_MIN_CONTENT_WORDS = 3


def content_of(question: str, sources: str | None = None) -> str:
    """The question without the words that name its source (speaker, document): what the evidence must say. A named
    speaker is set aside only when `sources` (the text read to answer it, when given) never mention them. The
    question itself when it names no source, or when too little would be left."""

    def set_aside(frame: re.Match) -> str:
        name = frame.group("name")
        if name and name[0].isupper() and sources is not None:  # a proper name ("the report" always goes)
            surname = re.sub(r"'s?$", "", name.split()[-1])
            if re.search(rf"\b{re.escape(surname)}\b", sources, re.IGNORECASE):
                return frame.group(0)
        return " "

    content = question
    for frame in _SOURCE_FRAMES:
        content = frame.sub(set_aside, content)
    if content == question:
        return question
    content = re.sub(r"\s+([?.!,])", r"\1", " ".join(content.split()))
    return content if len(content.split()) >= _MIN_CONTENT_WORDS else question
