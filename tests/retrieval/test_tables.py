"""Superlative questions over tables: the row holding the extreme of the column the question names."""

from __future__ import annotations

import pytest

from core.sparse import Bm25Encoder
from retrieval.tables import as_pairs, extreme_row, superlative, table_rows

CUPS = "Stanley Cups\n\nTeam | Location | Stanley Cups\nBlues | STL | 1\nFlyers | PHI | 2\nMaple Leafs | TOR | 13"
SPARSE = Bm25Encoder()


def row_for(question: str, text: str = CUPS) -> str | None:
    rows = table_rows(text, text.index(" | "))
    found = extreme_row(superlative(question), text, rows, set(SPARSE.encode_query(question)[0]),
                        lambda name: set(SPARSE.encode_document(name)[0]))
    return text[slice(*found)] if found else None


@pytest.mark.parametrize(
    ("question", "direction"),
    [("Which team has won the most Stanley Cups?", 1), ("Who scored the fewest goals?", -1),
     ("What is the lowest price?", -1), ("How many cups have the Blues won?", 0),
     ("Which is the largest and which the smallest?", 0)],
)
def test_what_a_question_asks_the_extreme_of(question, direction):
    assert superlative(question) == direction


@pytest.mark.parametrize(
    ("question", "row"),
    [
        ("Which team has won the most Stanley Cups?", "Maple Leafs | TOR | 13"),
        ("Which team has won the fewest Stanley Cups?", "Blues | STL | 1"),
        ("Which team has won the most championships?", "Maple Leafs | TOR | 13"),  # the only numeric column
        ("Which team has the highest location?", None),  # it names a column of words
        ("How many Stanley Cups have the Flyers won?", None),  # not a superlative
    ],
)
def test_the_row_holding_the_extreme_of_the_column_named(question, row):
    assert row_for(question) == row


def test_no_row_when_two_share_the_extreme_or_two_numeric_columns_are_named_alike():
    tied = "Team | Cups\nBlues | 13\nLeafs | 13\nFlyers | 2"
    assert row_for("Which team has the most cups?", tied) is None
    two = "Team | Home wins | Away wins\nBlues | 3 | 9\nLeafs | 8 | 1"
    assert row_for("Which team has the most wins?", two) is None
    assert row_for("Which team has the most home wins?", two) == "Leafs | 8 | 1"


def test_a_markdown_tables_rule_line_and_outer_pipes_are_no_cells():
    table = "| Item | Price | # In stock |\n|---|:---:|---:|\n| Juicy Apples | 1.99 | 739 |\n| Bananas | 1.89 | 6 |"
    assert [table[slice(*r)] for r in table_rows(table, len(table) - 1)][1:] == [
        "| Juicy Apples | 1.99 | 739 |", "| Bananas | 1.89 | 6 |"]
    assert row_for("Which item has the lowest price?", table) == "| Bananas | 1.89 | 6 |"
    assert row_for("Which item has the most in stock?", table) == "| Juicy Apples | 1.99 | 739 |"
    assert table_rows("A | B\n---\n1 | 2", 0) == [(0, 5)]  # a bare "---" is a horizontal rule: the table ends


def test_no_row_when_the_passage_starts_inside_the_table():
    assert row_for("Which team has the most cups?", "Blues | 1\nFlyers | 2\nLeafs | 13") is None


def test_numbers_are_read_with_their_thousands_separators_currency_and_percent_signs():
    prices = "Plan | Price\nBasic | $1,200\nPro | $950.50\nTeam | $12,000"
    assert row_for("Which plan has the highest price?", prices) == "Team | $12,000"
    assert row_for("Which plan has the lowest price?", prices) == "Pro | $950.50"


def test_a_column_with_missing_values_and_accounting_negatives_is_still_numeric():
    results = "Segment | Net income\nRetail | (1,200)\nCloud | 3,400\nAds | n/a\nLabs | —\nDevices | 250"
    assert row_for("Which segment had the highest net income?", results) == "Cloud | 3,400"
    assert row_for("Which segment had the lowest net income?", results) == "Retail | (1,200)"
    assert row_for("Which segment had the lowest net income?", results.replace("n/a", "pending")) is None  # words


def test_the_table_is_the_block_of_rows_holding_the_position():
    text = "Intro line.\n\nA | B\n1 | 2\n3 | 4\n\nAfter."
    rows = table_rows(text, text.index("3 | 4"))
    assert [text[slice(*r)] for r in rows] == ["A | B", "1 | 2", "3 | 4"]
    assert table_rows(text, text.index("Intro")) == []


def test_a_row_as_pairs_of_column_name_and_value():
    assert as_pairs("Team | Location | Cups", "Leafs | TOR | 13") == "Team: Leafs; Location: TOR; Cups: 13"
    # empty cells dropped, a value without a column name alone, outer pipes not cells
    assert as_pairs("| Nevada |  | 20-8143439 |", "| (State) |  | (IRS No.) | extra |") == (
        "Nevada: (State); 20-8143439: (IRS No.); extra")
