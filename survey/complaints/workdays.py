"""Working days on China's official holiday calendar (``chinese-calendar``: public
holidays off, adjusted weekend working days 调休 on).

For a year the library does not cover yet, Monday–Friday are working days and every
answer that depended on such a year is *provisional* (re-computed once the library is
updated with the State Council's schedule for that year).
"""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar


def _official(d: date) -> bool | None:
    """Whether ``d`` is a working day by the official calendar; ``None`` when the library
    has no data for its year."""
    try:
        return bool(chinese_calendar.is_workday(d))
    except NotImplementedError:
        return None


def is_covered(d: date) -> bool:
    """Whether the official calendar of ``d``'s year is known."""
    return _official(d) is not None


def is_working_day(d: date) -> bool:
    """``d`` is a working day (official calendar; Monday–Friday for an uncovered year).

    >>> is_working_day(date(2026, 10, 8)), is_working_day(date(2026, 10, 10))  # Thu, Sat 调休
    (True, True)
    >>> is_working_day(date(2026, 10, 5))  # National Day holiday
    False
    """
    official = _official(d)
    return d.weekday() < 5 if official is None else official


def add_working_days(start: date, n: int) -> tuple[date, bool]:
    """The ``n``-th working day after ``start`` (``start`` itself not counted, ``n`` ≥ 0),
    and whether the answer is provisional (a day on the way lies in an uncovered year).

    >>> add_working_days(date(2026, 9, 29), 5)  # over National Day 2026
    (datetime.date(2026, 10, 12), False)
    """
    if n < 0:
        raise ValueError(f"n must be 0 or more, not {n}")
    provisional = not is_covered(start)
    day, left = start, n
    while left:
        day += timedelta(days=1)
        official = _official(day)  # one calendar lookup per day
        provisional = provisional or official is None
        if (day.weekday() < 5) if official is None else official:
            left -= 1
    return day, provisional


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end`` ≤ ``start``):
    the inverse of :func:`add_working_days`, ``working_days_between(s, add_working_days(s,
    n)[0]) == n``."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day)
    return count
