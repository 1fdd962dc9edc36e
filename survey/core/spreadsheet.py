"""Cells of every CSV we write (dashboard tables, microdata, public files): the one guard
against spreadsheet formula injection (OWASP "CSV injection"), full-width forms included."""

from __future__ import annotations

FORMULA_PREFIXES = frozenset("=+-@\t\r＝＋－＠")
"""First characters that make a spreadsheet treat a text cell as a formula."""


def escape_formula(value: str) -> str:
    """Prefix ``'`` to a text cell that a spreadsheet would read as a formula.

    >>> escape_formula("=HYPERLINK(\\"http://x\\")")
    '\\'=HYPERLINK("http://x")'
    >>> escape_formula("很好")
    '很好'
    """
    if value and value[0] in FORMULA_PREFIXES:
        return "'" + value
    return value
