"""Follow-ups made self-contained offline: pointers, possessives and elliptical questions take the earlier turn's
subject; a question that stands alone is left as it is."""

from __future__ import annotations

import pytest

from retrieval.conversation import condense, depends_on_history, subject_of

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
