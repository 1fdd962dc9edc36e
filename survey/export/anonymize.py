"""Anonymization for the researcher export: free-text scrubbing, spreadsheet-formula
escaping and the k-anonymity plan (generalisation first, suppression second).

Pure library code (no Flask, no SQLAlchemy) so every rule can be tested on its own.

Free text
    :func:`scrub_text` replaces personal data in a free-text answer with a
    language-neutral tag: ``[phone]`` (mainland mobiles with optional +86/0086 and
    separators, landlines with area code, 400/800 numbers), ``[id]`` (18-digit resident ID
    numbers with a valid ISO 7064 MOD 11-2 check character, 15-digit old-format numbers
    with a valid birth date), ``[plate]`` (licence plates, new-energy ones included),
    ``[email]``, ``[qq]``, ``[wechat]``, ``[name]`` (after 我叫/姓名/名叫/我的名字是/
    "my name is"; after the weaker 我是/本人 only a 2–3 character name starting with a
    common surname and ending at a boundary, so 我是一名退休教师 is left alone) and
    ``[number]`` (any other stand-alone run of 7 or more digits — bank cards, mistyped ID
    or phone numbers; shorter numbers such as prices and years stay). Digit patterns never
    match inside a longer digit run. Full-width digits and letters (１３８…) are matched as
    their ASCII forms.

k-anonymity
    :func:`plan_k_anonymity` takes the equivalence-class counts of the raw
    quasi-identifiers (one SQL ``GROUP BY``, so memory depends on the number of distinct
    combinations, never on the number of rows), walks a fixed generalisation ladder until at
    most ``max_suppression`` of the rows sit in classes smaller than ``k``, then suppresses
    the quasi-identifier cells (``*``) of the rows still in small classes — and, when the
    suppressed rows of one wave × city are themselves fewer than ``k``, more of the smallest
    classes, or, if the whole wave × city has fewer than ``k`` rows, drops those rows. Wave
    and city are never generalised (they define separate samples).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = [
    "AGE_WIDE",
    "AGE_WIDER",
    "SUPPRESSED",
    "KPlan",
    "QuasiIdentifier",
    "ScrubCounts",
    "plan_k_anonymity",
    "resident_id_valid",
    "scrub_text",
]

# --------------------------------------------------------------------------- free text

# Full-width ASCII variants (U+FF01..U+FF5E) → ASCII, one character for one, so match
# positions in the translated probe are positions in the original text.
FULLWIDTH_TO_ASCII = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
FULLWIDTH_TO_ASCII[0x3000] = 0x20  # ideographic space

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _valid_date(year: int, month: int, day: int) -> bool:
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and day >= 1):
        return False
    days = (31, 29 if (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)) else 28,
            31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return day <= days


def resident_id_valid(number: str) -> bool:
    """Whether ``number`` is a well-formed mainland resident ID number.

    18 characters: region (first digit 1–9), a valid birth date, and the ISO 7064
    MOD 11-2 check character (``X`` for 10). 15 digits (pre-1999 format): region and a
    valid 19YYMMDD birth date (no check digit exists).

    >>> resident_id_valid("110105199003078676")
    True
    >>> resident_id_valid("110105199003078679")  # wrong check digit
    False
    """
    n = number.upper()
    if len(n) == 18 and n[:17].isdigit() and (n[17].isdigit() or n[17] == "X"):
        if n[0] == "0" or not _valid_date(int(n[6:10]), int(n[10:12]), int(n[12:14])):
            return False
        total = sum(int(c) * w for c, w in zip(n[:17], _ID_WEIGHTS, strict=True))
        return _ID_CHECK[total % 11] == n[17]
    if len(n) == 15 and n.isdigit():
        return n[0] != "0" and _valid_date(1900 + int(n[6:8]), int(n[8:10]), int(n[10:12]))
    return False


_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_LETTERS = "A-HJ-NP-Za-hj-np-z"
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶"
    "程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金廖贾夏韦付傅邹孟熊秦邱尹薛闫阎段雷侯龙史陶黎贺"
    "顾毛郝龚邵钱严覃武戴莫孔汤萧柳欧"
)
_CJK = "\u4e00-\u9fff"

# (tag, pattern, validator). The span replaced is group "x" when the pattern has it, else
# the whole match. Earlier patterns win where matches overlap.
PATTERNS: list[tuple[str, re.Pattern[str], Callable[[str], bool] | None]] = [
    ("email", re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"),
     None),
    ("wechat", re.compile(r"(?<![A-Za-z0-9_])wxid_[A-Za-z0-9_\-]{3,}", re.IGNORECASE), None),
    ("id", re.compile(r"(?<!\d)(?P<x>\d{17}[\dXx]|\d{15})(?!\d)"), resident_id_valid),
    ("phone", re.compile(
        r"(?<![\d+])(?:(?:\+|00)\s?86[\s\-]?|\(\+?86\)\s?)?1[3-9]\d(?:[\s\-]?\d{4}){2}(?!\d)"),
     None),
    ("phone", re.compile(
        r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[\s\-]?\d{7,8}(?:(?:-|转|ext\.?)\d{1,6})?(?!\d)"),
     None),
    ("phone", re.compile(r"(?<!\d)[48]00[\s\-]?\d{3}[\s\-]?\d{4}(?!\d)"), None),
    ("plate", re.compile(
        rf"[{_PROVINCES}][{_PLATE_LETTERS}][\s·•.\-]?[{_PLATE_LETTERS}0-9]{{5,6}}(?![A-Za-z0-9])"),
     None),
    ("qq", re.compile(
        r"(?:(?<![A-Za-z])qq|扣扣|企鹅)\s*(?:号码|号)?\s*(?:是|为|:)?\s*(?P<x>\d{5,11})(?!\d)",
        re.IGNORECASE), None),
    ("wechat", re.compile(
        r"(?:微信|威信|(?<![A-Za-z])(?:vx|wx|wechat|weixin))\s*(?:号码|号|id)?\s*(?:是|为|:)?\s*"
        r"(?P<x>[A-Za-z][A-Za-z0-9_\-]{5,19})(?![A-Za-z0-9_\-])", re.IGNORECASE), None),
    ("name", re.compile(
        rf"(?:我叫|名叫|我的名字是|我的名字叫|姓名\s*(?:是|:)?)\s*(?P<x>[{_CJK}]{{2,3}})")
     , None),
    ("name", re.compile(
        rf"(?:我是|本人是?)\s*(?P<x>(?:欧阳|司马|诸葛|上官|[{_SURNAMES}])[{_CJK}]{{1,2}})"
        rf"(?=[^{_CJK}]|$|的)"), None),
    ("name", re.compile(r"(?i:my name is)\s+(?P<x>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"), None),
    ("number", re.compile(r"(?<!\d)\d{7,}(?!\d)"), None),
]

# Something every pattern above needs (a digit, "@", a keyword, a province character
# followed by a Latin letter): text without any of it cannot match, so it skips the scan.
# Keep it a superset of the patterns when adding one (tests/test_anonymize.py checks).
TRIGGER = re.compile(
    rf"\d|@|wxid_|微信|威信|vx|wx|wechat|weixin|qq|扣扣|企鹅|我叫|名叫|我的名字|姓名|我是|本人"
    rf"|my name is|[{_PROVINCES}][A-Za-z]", re.IGNORECASE)

TAGS = tuple(dict.fromkeys(tag for tag, _, _ in PATTERNS))
"""Every tag :func:`scrub_text` can insert (written as ``[tag]``)."""


@dataclass
class ScrubCounts:
    """How many replacements of each kind were made (for the codebook)."""

    counts: Counter[str] = field(default_factory=Counter)
    texts: int = 0
    texts_changed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"texts": self.texts, "texts_changed": self.texts_changed,
                **{tag: self.counts.get(tag, 0) for tag in TAGS}}


def scrub_text(text: str, counts: ScrubCounts | None = None) -> str:
    """Replace personal data in ``text`` with ``[tag]`` markers (see the module docstring).

    >>> scrub_text("我叫李明，电话13812345678")
    '我叫[name]，电话[phone]'
    >>> scrub_text("门票价格偏高，380元。")
    '门票价格偏高，380元。'
    """
    probe = text.translate(FULLWIDTH_TO_ASCII)
    if counts is not None:
        counts.texts += 1
    if TRIGGER.search(probe) is None:
        return text
    taken = bytearray(len(probe))
    spans: list[tuple[int, int, str]] = []
    for tag, pattern, valid in PATTERNS:
        for m in pattern.finditer(probe):
            group = "x" if "x" in pattern.groupindex else 0
            start, end = m.span(group)
            if any(taken[start:end]):
                continue
            if valid is not None and not valid(m.group(group)):
                continue
            taken[start:end] = b"\x01" * (end - start)
            spans.append((start, end, tag))
    if not spans:
        return text
    spans.sort()
    out, pos = [], 0
    for start, end, tag in spans:
        out.append(text[pos:start])
        out.append(f"[{tag}]")
        pos = end
        if counts is not None:
            counts.counts[tag] += 1
    out.append(text[pos:])
    if counts is not None:
        counts.texts_changed += 1
    return "".join(out)


# --------------------------------------------------------------------------- k-anonymity

SUPPRESSED = "*"
"""The value of a quasi-identifier cell that was suppressed or fully generalised."""

AGE_WIDE = {"14_17": "14_29", "18_29": "14_29", "30_44": "30_44", "45_59": "45_59",
            "60_69": "60_plus", "70_79": "60_plus", "80_plus": "60_plus"}
"""Age bands, first generalisation: four bands."""
AGE_WIDER = {"14_17": "14_44", "18_29": "14_44", "30_44": "14_44", "45_59": "45_plus",
             "60_69": "45_plus", "70_79": "45_plus", "80_plus": "45_plus"}
"""Age bands, second generalisation: two bands."""


@dataclass(frozen=True)
class QuasiIdentifier:
    """One quasi-identifier column.

    ``levels[0]`` is the identity; ``levels[i]`` maps a raw value to its level-``i``
    generalisation (``None`` = the value itself, ``SUPPRESSED`` = fully generalised).
    ``fixed`` columns (wave, city) are never generalised or suppressed.
    """

    name: str
    levels: tuple[Mapping[str, str] | None, ...] = (None, {})
    fixed: bool = False

    def generalise(self, value: str, level: int) -> str:
        if level == 0 or self.fixed:
            return value
        mapping = self.levels[min(level, len(self.levels) - 1)]
        if mapping is None:
            return value
        if not mapping:
            return SUPPRESSED
        return mapping.get(value, value)


def ladder(names: Sequence[str]) -> list[dict[str, int]]:
    """The generalisation steps, mildest first, for the quasi-identifiers ``names``.

    0 nothing; 1 age in four bands; 2 other demographics ``*``; 3 visit type ``*``;
    4 age in two bands; 5 district ``*``; 6 age ``*``; 7 gender and site kind ``*``.
    """
    extra = [n for n in names if n not in ("wave", "city", "district", "site_kind", "age_band",
                                            "gender", "visit_type")]
    steps: list[dict[str, int]] = [{}]
    current: dict[str, int] = {}
    for change in ({"age_band": 1}, {n: 1 for n in extra}, {"visit_type": 1}, {"age_band": 2},
                   {"district": 1}, {"age_band": 3}, {"gender": 1, "site_kind": 1}):
        current = {**current, **{k: v for k, v in change.items() if k in names}}
        steps.append(dict(current))
    return steps


def quasi_identifiers(names: Sequence[str]) -> list[QuasiIdentifier]:
    """The :class:`QuasiIdentifier` specs for column ``names`` (wave and city fixed)."""
    out = []
    for name in names:
        if name in ("wave", "city"):
            out.append(QuasiIdentifier(name, (None,), fixed=True))
        elif name == "age_band":
            out.append(QuasiIdentifier(name, (None, AGE_WIDE, AGE_WIDER, {})))
        else:
            out.append(QuasiIdentifier(name))
    return out


@dataclass(frozen=True)
class KPlan:
    """The result of :func:`plan_k_anonymity`.

    ``mapping`` maps every raw quasi-identifier tuple to its output tuple, or to ``None``
    when its rows are dropped. ``k_achieved`` is the smallest output class (``0`` when no
    row is left).
    """

    k: int
    step: int
    generalised: dict[str, int]
    mapping: dict[tuple[str, ...], tuple[str, ...] | None]
    rows: int
    rows_generalised: int
    cells_generalised: int
    rows_suppressed: int
    cells_suppressed: int
    rows_dropped: int
    k_achieved: int

    def report(self) -> dict[str, object]:
        """What the codebook states about anonymization."""
        return {"k": self.k, "k_achieved": self.k_achieved, "generalisation_step": self.step,
                "generalised": self.generalised, "rows": self.rows,
                "rows_exported": self.rows - self.rows_dropped,
                "rows_generalised": self.rows_generalised,
                "cells_generalised": self.cells_generalised,
                "rows_suppressed": self.rows_suppressed,
                "cells_suppressed": self.cells_suppressed, "rows_dropped": self.rows_dropped}


def plan_k_anonymity(counts: Mapping[tuple[str, ...], int], qis: Sequence[QuasiIdentifier],
                     k: int = 5, max_suppression: float = 0.02) -> KPlan:
    """Decide generalisation and suppression so that every output class has ≥ ``k`` rows.

    Parameters
    ----------
    counts : rows per raw quasi-identifier tuple (values as strings, ``""`` for missing), in
        the order of ``qis``.
    qis : the quasi-identifier columns; ``fixed`` ones are never changed.
    k : minimum class size, ≥ 2.
    max_suppression : share of rows (0–1) that may be suppressed at the chosen step; the
        mildest generalisation step that stays within it is chosen (the last step otherwise).

    Example: 12 rows in one class and 3 in another (same wave and city) — the 3 cannot be
    generalised into a class of 5 by widening age alone, so with ``max_suppression=0`` the
    ladder continues until they merge:

    >>> qis = quasi_identifiers(["wave", "age_band"])
    >>> plan = plan_k_anonymity({("2026Q4", "30_44"): 12, ("2026Q4", "18_29"): 3}, qis, 5, 0)
    >>> plan.mapping[("2026Q4", "18_29")], plan.k_achieved
    (('2026Q4', '14_44'), 15)
    """
    if k < 2:
        raise ValueError(f"k must be at least 2, got {k}")
    if not 0 <= max_suppression <= 1:
        raise ValueError(f"max_suppression must be between 0 and 1, got {max_suppression}")
    names = [q.name for q in qis]
    total = sum(counts.values())
    steps = ladder(names)
    fixed = [i for i, q in enumerate(qis) if q.fixed]
    chosen = len(steps) - 1
    for s, step in enumerate(steps):
        apply = _generaliser(counts, qis, step)
        step_classes: Counter[tuple[str, ...]] = Counter()
        for raw, n in counts.items():
            step_classes[apply(raw)] += n
        small_rows = sum(n for n in step_classes.values() if n < k)
        if small_rows <= max_suppression * total:
            chosen = s
            break
    generalised = steps[chosen]
    apply = _generaliser(counts, qis, generalised)
    gen = {raw: apply(raw) for raw in counts}
    classes: Counter[tuple[str, ...]] = Counter()
    for raw, n in counts.items():
        classes[gen[raw]] += n
    # Suppression, per fixed key (wave × city).
    by_key: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for cls in classes:
        by_key.setdefault(tuple(cls[i] for i in fixed), []).append(cls)
    suppressed: set[tuple[str, ...]] = set()
    dropped_keys: set[tuple[str, ...]] = set()
    for key, members in by_key.items():
        if sum(classes[c] for c in members) < k:
            dropped_keys.add(key)
            continue
        small = [c for c in members if classes[c] < k]
        if not small:
            continue
        pool = sum(classes[c] for c in small)
        rest = sorted((c for c in members if classes[c] >= k), key=lambda c: (classes[c], c))
        star = _suppress(small[0], qis)
        pool += classes.get(star, 0) if star not in small else 0
        while pool < k and rest:
            extra = rest.pop(0)
            if extra != star:
                small.append(extra)
                pool += classes[extra]
        suppressed.update(small)
    mapping: dict[tuple[str, ...], tuple[str, ...] | None] = {}
    final: Counter[tuple[str, ...]] = Counter()
    rows_generalised = cells_generalised = rows_suppressed = cells_suppressed = 0
    rows_dropped = 0
    for raw, n in counts.items():
        g = gen[raw]
        if tuple(g[i] for i in fixed) in dropped_keys:
            mapping[raw] = None
            rows_dropped += n
            continue
        changed = sum(1 for a, b in zip(raw, g, strict=True) if a != b)
        if changed:
            rows_generalised += n
            cells_generalised += changed * n
        out = g
        if g in suppressed:
            out = _suppress(g, qis)
            rows_suppressed += n
            cells_suppressed += n * sum(1 for a, b in zip(g, out, strict=True) if a != b)
        mapping[raw] = out
        final[out] += n
    return KPlan(k=k, step=chosen,
                 generalised={name: level for name, level in generalised.items() if level},
                 mapping=mapping, rows=total, rows_generalised=rows_generalised,
                 cells_generalised=cells_generalised, rows_suppressed=rows_suppressed,
                 cells_suppressed=cells_suppressed, rows_dropped=rows_dropped,
                 k_achieved=min(final.values()) if final else 0)


def _generaliser(counts: Mapping[tuple[str, ...], int], qis: Sequence[QuasiIdentifier],
                 step: Mapping[str, int]) -> Callable[[tuple[str, ...]], tuple[str, ...]]:
    """raw tuple → generalised tuple at ``step`` (one small dict per column, built once)."""
    values: list[set[str]] = [set() for _ in qis]
    for raw in counts:
        for column, v in zip(values, raw, strict=True):
            column.add(v)
    maps = [{v: q.generalise(v, step.get(q.name, 0)) for v in column}
            for q, column in zip(qis, values, strict=True)]
    getters = [m.__getitem__ for m in maps]

    def apply(raw: tuple[str, ...]) -> tuple[str, ...]:
        return tuple([get(v) for get, v in zip(getters, raw, strict=True)])

    return apply


def _suppress(cls: tuple[str, ...], qis: Sequence[QuasiIdentifier]) -> tuple[str, ...]:
    return tuple(v if q.fixed else SUPPRESSED for q, v in zip(qis, cls, strict=True))
