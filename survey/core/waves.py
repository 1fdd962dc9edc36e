"""Waves are calendar quarters in China Standard Time (UTC+8, no daylight saving)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

CHINA_TZ = timezone(timedelta(hours=8), "CST")
WAVE_RE = re.compile(r"^(\d{4})Q([1-4])$")


def is_wave(label: str) -> bool:
    """Whether ``label`` is a wave label such as ``"2026Q4"`` (the one wave syntax)."""
    return WAVE_RE.match(label) is not None


def wave_of(moment: datetime) -> str:
    """The wave label of a moment, e.g. ``2026-11-25T10:00+08:00`` → ``"2026Q4"``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(CHINA_TZ)
    return f"{local.year}Q{(local.month - 1) // 3 + 1}"


def wave_bounds(wave: str) -> tuple[datetime, datetime]:
    """``[start, end)`` of a wave as aware datetimes."""
    m = WAVE_RE.match(wave)
    if not m:
        raise ValueError(f"wave: expected YYYYQn, got {wave!r}")
    year, q = int(m.group(1)), int(m.group(2))
    start = datetime(year, 3 * (q - 1) + 1, 1, tzinfo=CHINA_TZ)
    end = datetime(year + (q == 4), 1 if q == 4 else 3 * q + 1, 1, tzinfo=CHINA_TZ)
    return start, end


def previous_wave(wave: str) -> str:
    start, _ = wave_bounds(wave)
    return wave_of(start - timedelta(days=1))


def recent_waves(now: datetime, count: int) -> list[str]:
    """The ``count`` waves up to and including the one ``now`` is in, oldest first."""
    waves = [wave_of(now)]
    while len(waves) < count:
        waves.append(previous_wave(waves[-1]))
    return waves[::-1]
