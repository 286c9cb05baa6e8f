"""Reading a question: the words naming its source are set aside, its parts and its time are found."""

from __future__ import annotations

import pytest

from retrieval.questions import asked_as_question, content_of, question_parts, time_of


@pytest.mark.parametrize(
    ("question", "content"),
    [
        ("What reasons did President Biden give for the failure of a particular bill's passage?",
         "What reasons for the failure of a particular bill's passage?"),
        ("According to President Biden, what is the current status of China compared to the past decade?",
         "what is the current status of China compared to the past decade?"),
        ("How can Ukraine stop Putin according to President Biden?", "How can Ukraine stop Putin?"),
        ("What specific measures did President Biden propose in his State of the Union Address to make college more affordable?",
         "What specific measures to make college more affordable?"),
        ("What improvements occurred in Belvidere, Illinois, as described by President Biden in his State of the Union Address?",
         "What improvements occurred in Belvidere, Illinois?"),
        ("What are the methods of reducing carbon emissions in Reykjavik as described in the text?",
         "What are the methods of reducing carbon emissions in Reykjavik?"),
        ("What are Dr. Smith's views on remote work?", "What are views on remote work?"),
        ("What does the report say about churn in the second quarter?", "What about churn in the second quarter?"),
        # a speaker named by role, as transcripts label speakers ("THE PRESIDENT:", "User:")
        ("What did the president say about the corporate minimum tax?", "What about the corporate minimum tax?"),
        ("Who did the President say was responsible for the outage?", "Who was responsible for the outage?"),
    ],
)
def test_the_words_naming_the_source_are_set_aside(question, content):
    assert content_of(question) == content


@pytest.mark.parametrize(
    "question",
    [
        "How do I bake sourdough bread at home?",
        "Input from  mental and physical health care professionals is effective at decreasing homelessness.",  # kept as is
        "What did he say?",  # nothing would be left to judge the evidence by
        "Who said that the Columbus Blue Jackets would trade Rick Nash?",  # who said it is what is asked
        "What did the president of the club announce?",  # not a speaker's frame: "of the club" names whose president
        "ALDH1 expression is associated with poorer prognosis for breast cancer primary tumors.",
    ],
)
def test_a_question_naming_no_source_is_left_as_it_is(question):
    assert content_of(question) == question


def test_a_speaker_the_sources_name_is_what_the_question_is_about():
    question = "What did Congress propose to fund in the spring?"
    assert content_of(question, "Congress should fund more police officers.") == question
    assert content_of(question, "We should fund more police officers.") == "What to fund in the spring?"
    assert content_of("According to the report, what was the revenue?", "The report shows revenue grew.") == "what was the revenue?"
    framed = "What steps did President Biden propose in his State of the Union Address to lower drug prices?"
    assert content_of(framed, "I propose to lower drug prices. THE PRESIDENT: Thank you.") == "What steps to lower drug prices?"


def test_parts_and_time():
    assert question_parts("What is billionaires' average tax rate, and what would a 25% minimum raise?") == [
        "What is billionaires' average tax rate", "what would a 25% minimum raise"]
    assert question_parts("What are the causes and effects of inflation?") == ["What are the causes and effects of inflation?"]
    # A lead-in that asks nothing is part of the ask after it, not a part of its own.
    assert question_parts("As of the statement, how much has the racial wealth gap decreased?") == [
        "As of the statement, how much has the racial wealth gap decreased?"]
    assert question_parts("Regarding taxes, what is the corporate rate, and what would billionaires pay?") == [
        "Regarding taxes, what is the corporate rate", "what would billionaires pay"]
    # A claim's relative clause is not a second question.
    claim = "H4 G94P proteins induce chromatin assembly, which increases free histones."
    assert question_parts(claim) == [claim]
    assert time_of("What is the corporate minimum tax today?") == {"current"}
    assert time_of("What tax rate does he propose?") == {"proposed"}


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("What is the corporate minimum tax today?", True),
        ("how many people live in Reykjavik", True),
        ("Does vitamin D lower the risk of fractures?", True),
        ("  Is churn higher in the second quarter", True),
        ("The minimum tax is 15 percent?", True),  # asked by its mark alone
        ("And what does insulin cost to make? (State Union)", True),  # a follow-up made self-contained
        ("so how much does it cost", True),
        ("Explain the corporate minimum tax", True),  # a request asks too
        ("List the measures against junk fees.", True),
        ("0-dimensional biomaterials show inductive properties.", False),  # a SciFact claim
        ("Whatever the dose, vitamin D does not lower the risk of fractures.", False),  # "what" inside a word
        ("Ischemia causes cell death", False),
        ("Androgen deprivation therapy increases the risk of dementia (in men).", False),
        ("Listeria infection is less common in pregnant women.", False),  # "list" inside a word
    ],
)
def test_a_question_is_told_from_a_claim(text, asked):
    assert asked_as_question(text) is asked
