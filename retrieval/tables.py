"""Superlative questions over tables: "Which team has won the most Stanley Cups?" asks for the row with the largest
number in a column, a comparison the cross-encoder does not make (it scores each row alone, and every row of the
table reads as equally relevant). Tables reach the passages as lines of `cell | cell` (ingest renders CSV,
spreadsheets and documents' tables so), their first line naming the columns."""

from __future__ import annotations

import re
from collections.abc import Callable

TABLE_CELL = " | "
# A Markdown table's rule under its header: "---|---|---", "| :--- | ---: |".
_RULE = re.compile(r"\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*")
_MOST = re.compile(r"\b(?:most|highest|largest|biggest|greatest|maximum)\b", re.IGNORECASE)
_LEAST = re.compile(r"\b(?:least|fewest|lowest|smallest|minimum)\b", re.IGNORECASE)
_NUMBER = re.compile(r"[-+]?[$€£¥]?\s*\d[\d,]*(?:\.\d+)?\s*%?")


def line_bounds(text: str, at: int) -> tuple[int, int]:
    """The bounds of the line holding text[at], its line break left out (a line break at `at` ends that line)."""
    end = text.find("\n", at)
    return text.rfind("\n", 0, at) + 1, len(text) if end < 0 else end


def is_rule(line: str) -> bool:
    return "|" in line and bool(_RULE.fullmatch(line))  # a bare "---" is a horizontal rule, not a table's


def is_table_line(line: str) -> bool:
    """A row of a table (`cell | cell`), or a Markdown table's rule line between its header and its rows."""
    return TABLE_CELL in line or is_rule(line)


def cells(line: str) -> list[str]:
    """A row's cells, without a Markdown row's outer pipes ("| Bananas | 1.89 |")."""
    return [cell.strip() for cell in line.strip().strip("|").split(TABLE_CELL)]


def as_pairs(header: str, row: str) -> str:
    """A row read under its column names, each value after its own ("Team: Maple Leafs; Location: TOR; Stanley
    Cups: 13"): the cross-encoder then finds which value a question asks for (logit 1.7 for the row under its header
    line, 5.0 so, for "How many Stanley Cups have the Maple Leafs won?")."""
    names, values = cells(header), cells(row)
    names += [""] * (len(values) - len(names))
    return "; ".join(f"{name}: {value}" if name else value for name, value in zip(names, values) if value)


def superlative(question: str) -> int:
    """+1 when the question asks for the largest of something ("the most", "the highest"), -1 for the smallest, 0
    when it asks for neither or both."""
    most, least = bool(_MOST.search(question)), bool(_LEAST.search(question))
    return 0 if most == least else (1 if most else -1)


# Cells that hold no value ("n/a", a dash): a column of numbers with gaps is still a column of numbers.
_MISSING = frozenset({"", "-", "--", "—", "–", "n/a", "na", "n.a.", "none", "null", "nan", "?"})


def _missing(cell: str) -> bool:
    return cell.strip().lower() in _MISSING


def _number(cell: str) -> float | None:
    """The number a cell holds, with its thousands separators, currency and percent signs; an accountant's
    "(1,200)" is -1200."""
    cell = cell.strip()
    negative = cell.startswith("(") and cell.endswith(")")
    cell = cell[1:-1].strip() if negative else cell
    if not _NUMBER.fullmatch(cell):
        return None
    value = float(re.sub(r"[^\d.+-]", "", cell))
    return -value if negative else value


def table_rows(text: str, at: int) -> list[tuple[int, int]]:
    """The bounds of the rows of the table (consecutive lines holding a cell separator, and a Markdown table's rule
    line, which is not a row) that holds text[at]; the first is the header. Empty when text[at] is on no row."""
    start = line_bounds(text, at)[0]
    while start and is_table_line(text[slice(*line_bounds(text, start - 1))]):
        start = line_bounds(text, start - 1)[0]
    rows = []
    while start < len(text):
        line = line_bounds(text, start)
        if not is_table_line(text[slice(*line)]):
            break
        if not is_rule(text[slice(*line)]):
            rows.append(line)
        start = line[1] + 1
    return rows if any(s <= at <= e for s, e in rows) else []


def extreme_row(direction: int, text: str, rows: list[tuple[int, int]], asked_terms: set,
                terms_of: Callable[[str], set]) -> tuple[int, int] | None:
    """The row (its bounds) holding the largest (direction +1) or smallest (-1) number of the column the question
    names: the numeric column whose header shares the most terms with the question, or the only numeric column when
    it names none. None when no column qualifies, or two rows share the extreme (the answer would be a list)."""
    if direction == 0 or len(rows) < 3:  # a header and at least two rows to compare
        return None
    header = cells(text[slice(*rows[0])])
    body = [(bounds, cells(text[slice(*bounds)])) for bounds in rows[1:]]
    named, numeric = [], []  # how many of the question's terms each column's name holds; the numeric columns
    for column, name in enumerate(header):
        named.append(len(asked_terms & terms_of(name)))
        values = [(_number(row[column]) if column < len(row) else None, bounds) for bounds, row in body]
        filled = [(value, bounds) for value, bounds in values if value is not None]
        # A column of numbers under a name: a number where the name should be means the passage starts inside the
        # table (a chunk cut it), and the rows above are not there to compare.
        if (len(filled) >= 2 and _number(name) is None
                and len(filled) == sum(1 for _, row in body if column < len(row) and not _missing(row[column]))):
            numeric.append((named[column], filled))
    if not numeric:
        return None
    best = max(numeric, key=lambda column: column[0])
    # The column it names, or the only numeric one when it names none; not when it names another column better
    # ("the highest location"; the first column holds the rows' names, which the question asks for: "which team"),
    # nor two numeric columns as well as each other.
    if best[0] < max(named[1:], default=0) or sum(1 for column in numeric if column[0] == best[0]) > 1:
        return None
    filled = best[1]
    top = max(value * direction for value, _ in filled)
    winners = [bounds for value, bounds in filled if value * direction == top]
    return winners[0] if len(winners) == 1 else None
