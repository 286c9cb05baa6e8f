"""Conversations through the real API: a follow-up is made self-contained from the earlier turns (stored per
tenant, or sent as chat messages), and the rewritten question is in the answer and its audit record."""

from __future__ import annotations

import pytest

from tests.conftest import speech_app

FIRST = "What does the State of the Union say about insulin?"
FOLLOW_UP = "And what does it cost to make?"


@pytest.fixture(scope="module")
def client(tmp_path_factory, bge, parser):
    with speech_app(tmp_path_factory.mktemp("conversations") / "data", bge, parser) as test_client:
        yield test_client


def test_a_follow_up_is_answered_from_the_conversation(client):
    first = client.post("/v1/answer", json={"question": FIRST}).json()
    conversation_id = first["conversation_id"]
    assert conversation_id and first["standalone_question"] == FIRST
    follow = client.post("/v1/answer", json={"question": FOLLOW_UP, "conversation_id": conversation_id}).json()
    assert follow["conversation_id"] == conversation_id and follow["question"] == FOLLOW_UP
    assert follow["standalone_question"].startswith("And what does insulin cost to make?")
    assert follow["fallback"] is None and any("10 bucks to make" in c["quote"] for c in follow["citations"])
    assert client.get(f"/v1/answers/{follow['id']}").json()["standalone_question"] == follow["standalone_question"]

    stored = client.get(f"/v1/conversations/{conversation_id}").json()
    assert [t["question"] for t in stored["turns"]] == [FIRST, FOLLOW_UP]
    assert stored["turns"][1]["answer_id"] == follow["id"] and stored["turns"][1]["answer"] == follow["answer"]
    feedback = client.post("/v1/feedback", json={"answer_id": first["id"], "rating": "down"})  # any turn
    assert feedback.status_code == 201 and feedback.json()["review_id"]
    assert client.get("/v1/conversations/nope").status_code == 404
    unknown = client.post("/v1/answer", json={"question": FOLLOW_UP, "conversation_id": "nope"})
    assert unknown.status_code == 404


def test_history_and_chat_messages_carry_the_conversation(client):
    alone = client.post("/v1/answer", json={"question": FOLLOW_UP}).json()
    assert alone["standalone_question"] == FOLLOW_UP  # nothing to lean on
    sent = client.post("/v1/answer", json={"question": FOLLOW_UP, "history": [FIRST]}).json()
    assert "insulin" in sent["standalone_question"]
    # the earlier questions are made self-contained in turn: the third turn's "it" is still insulin
    third = client.post("/v1/answer", json={"question": "Who pays $35 for it?", "history": [FIRST, FOLLOW_UP]}).json()
    assert third["standalone_question"].startswith("Who pays $35 for insulin")
    messages = [{"role": "system", "content": "Answer like a pirate."}, {"role": "user", "content": FIRST},
                {"role": "assistant", "content": "..."}, {"role": "user", "content": FOLLOW_UP}]
    chat = client.post("/v1/chat/completions", json={"model": "cairn", "messages": messages}).json()
    assert "insulin" in chat["cairn"]["standalone_question"] and chat["cairn"]["system_prompt_applied"] is False
    record = client.get(f"/v1/answers/{chat['cairn']['answer_id']}").json()
    assert record["instructions"] == "Answer like a pirate." and record["instructions_applied"] is False
    assert "10 bucks to make" in chat["choices"][0]["message"]["content"]


def test_a_follow_up_pointing_at_what_the_last_answer_named_asks_about_it(client):
    """"Which country ...?" answered with a sentence naming Ukraine: "that country" and "its" in the next turns mean
    Ukraine, whether the turns are stored (conversation_id: the last answer is read from the answer log) or sent
    with the assistant's replies as chat messages."""
    first = client.post("/v1/answer", json={"question": "Which country is Putin invading?"}).json()
    assert "invading Ukraine" in first["answer"]
    follow_up = "What did the President ask Congress to do for that country?"
    follow = client.post("/v1/answer", json={"question": follow_up, "conversation_id": first["conversation_id"]}).json()
    assert follow["standalone_question"].startswith("What did the President ask Congress to do for Ukraine?")

    messages = [{"role": "user", "content": "Which country is Putin invading?"},
                {"role": "assistant", "content": first["answer"]}, {"role": "user", "content": follow_up},
                {"role": "assistant", "content": follow["answer"]}, {"role": "user", "content": "Who is its president?"}]
    chat = client.post("/v1/chat/completions", json={"model": "cairn", "messages": messages}).json()
    assert chat["cairn"]["standalone_question"].startswith("Who is Ukraine's president?")
    fallback = "The knowledge base does not answer this question. The closest sources found: Crimea Report."
    chat = client.post("/v1/chat/completions", json={"model": "cairn", "messages": [
        messages[0], {"role": "assistant", "content": fallback}, messages[2]]}).json()
    assert "Crimea" not in chat["cairn"]["standalone_question"]  # a fallback named no country
    without_replies = [m for m in messages if m["role"] == "user"]  # nothing said what "that country" was
    chat = client.post("/v1/chat/completions", json={"model": "cairn", "messages": without_replies[:2]}).json()
    assert "Ukraine" not in chat["cairn"]["standalone_question"]
