"""Markdown pieces of the reports: numbers as percent or fixed digits ("n/a" for missing
values) and pipe tables.
"""

import math


def percent(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.2f}"


def number(value: float | None, *, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def scientific(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3e}"


def table(*, header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def as_float(value: float | None) -> float:
    return math.nan if value is None else float(value)
