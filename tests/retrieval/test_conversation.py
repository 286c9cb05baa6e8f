"""Follow-ups made self-contained offline: pointers, possessives and elliptical questions take the earlier turn's
subject; a question that stands alone is left as it is."""

from __future__ import annotations

import pytest

from retrieval.conversation import answer_subject, condense, depends_on_history, standalone_turns, subject_of

EARLIER = ["What does the State of the Union say about insulin?"]


@pytest.mark.parametrize(
    ("follow_up", "expected"),
    [
        ("And what does it cost to make?", "And what does insulin cost to make? (State Union)"),
        ("What is its price?", "What is insulin's price? (State Union)"),
        ("What about the price?", "What about the price of insulin? (State Union)"),
        ("Which agency was created that aims to end cancer?", "Which agency was created that aims to end cancer?"),
    ],
)
def test_follow_ups_take_the_earlier_subject(follow_up, expected):
    assert condense(follow_up, EARLIER) == expected


def test_standalone_questions_and_empty_histories_are_left_alone():
    whole = "How much did the Inflation Reduction Act lower drug prices for seniors?"
    assert not depends_on_history(whole) and condense(whole, EARLIER) == whole
    assert condense("And who is it for?", []) == "And who is it for?"
    assert subject_of("What did the President say about the CHIPS Act?") == "CHIPS Act"
    assert condense("When did it pass?", ["What did the President say about the CHIPS Act?"]) == "When did CHIPS Act pass? (President)"


@pytest.mark.parametrize(
    ("question", "answer", "named"),
    [
        ("Which team won the most Stanley Cups?", "Maple Leafs | TOR | 13 [1]", ("Maple Leafs", "team")),
        # a table's header quoted over its row: the row's first cell
        ("Which team won the fewest?", "Team | Location | Stanley Cups\nBlues | STL | 1 [1]", ("Blues", "team")),
        # a sentence's first word is capitalized anyway, and a name the question holds is not the answer
        ("Which country is Putin invading?", "Overseas, Putin of Russia is on the march, invading Ukraine and sowing "
         "chaos throughout Europe. [1]", ("Ukraine", "country")),
        ("Who illustrated the Flower Fairies?", "The illustrator Cicely Mary Barker ( 1895 – 1973 ) drew them. [1]",
         ("Cicely Mary Barker", None)),
        # not asking for a thing
        ("What is the price of insulin?", "It costs $35 a month in Medicare. [1]", None),
        ("Why did Putin invade?", "Putin wanted Ukraine. [1]", None),
    ],
)
def test_what_an_answer_named_when_its_question_asked_for_a_thing(question, answer, named):
    assert answer_subject(question, answer) == named


def test_a_follow_up_pointing_at_what_the_answer_named_asks_about_it():
    earlier = ["Which team won the most Stanley Cups?"]
    answer = "Maple Leafs | TOR | 13 [1]"
    assert condense("And where is that team located?", earlier, answer).startswith("And where is Maple Leafs located?")
    assert condense("How many did they win?", earlier, answer).startswith("How many did Maple Leafs win?")
    # without the answer, the earlier question's own subject, as before
    assert "Maple Leafs" not in condense("How many did they win?", earlier)
    # a question that asks something new is left alone, answer or not
    assert condense("Who signed the handbook?", earlier, answer) == "Who signed the handbook?"
    # a question that did not ask for a thing: its subject, not the answer's first name
    assert condense("When did it pass?", ["What did the President say about the CHIPS Act?"],
                    "Intel is building factories thanks to it. [1]").startswith("When did CHIPS Act pass?")


def test_a_conversation_sent_whole_is_made_self_contained_turn_by_turn():
    turns = [("Which team won the most Stanley Cups?", "Maple Leafs | TOR | 13 [1]"),
             ("And where is that team located?", "Maple Leafs | TOR | 13 [1]"),
             ("How many cups did they win?", None)]
    standalone = standalone_turns(turns)
    assert standalone[0] == turns[0][0]
    assert standalone[1].startswith("And where is Maple Leafs located?")
    assert standalone[2].startswith("How many cups did Maple Leafs win?")  # the name carried by the turn before


def test_a_subject_that_is_a_thing_stands_for_it_not_for_he():
    earlier = ["What did the President propose for the corporate minimum tax?"]
    assert condense("Why does he want to raise it?", earlier).startswith(
        "Why does he want to raise corporate minimum tax?")
    assert condense("What is his reason for its rise?", earlier).startswith(
        "What is his reason for corporate minimum tax's rise?")
    # a name may be a person
    assert condense("When was he born?", ["Who painted the Flower Fairies?"], "Cicely Mary Barker painted them.").startswith(
        "When was Cicely Mary Barker born?")


def test_a_follow_up_naming_what_it_is_about_keeps_its_pointer():
    earlier = ["What did the President say about Ukraine?"]
    assert condense("And what did he say about Israel?", earlier) == "And what did he say about Israel? (President)"
    assert condense("What did he say about it?", earlier).startswith("What did he say about Ukraine?")
