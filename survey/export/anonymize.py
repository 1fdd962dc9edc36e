"""Anonymization for the researcher export: free-text scrubbing, spreadsheet-formula
escaping and the k-anonymity plan (generalisation first, suppression second).

Pure library code (no Flask, no SQLAlchemy) so every rule can be tested on its own.

Free text
    :func:`scrub_text` *scrubs* a free-text answer — pattern-based removal of the kinds of
    personal data below, each replaced with a language-neutral tag. It is not
    anonymisation: an unusual spelling (Chinese numerals, a name without a title or cue,
    an address without house-number parts) can get through; the codebook says so.

    ``[phone]``
        mainland mobiles with optional +86/0086 and separators, landlines with area code,
        400/800 numbers.
    ``[id]``
        18-digit resident ID numbers with a valid ISO 7064 MOD 11-2 check character,
        15-digit old-format numbers with a valid birth date.
    ``[bank_card]``
        13–19 digits, written in one run or in groups (``6222 0212 3456 7890 128``,
        ``6222-0212-…``: a first group of 4–6 digits, then groups of 3–6 with one and the
        same separator, the last 1–6), whose Luhn check digit is right. Resident IDs and
        phones are matched first, so a Luhn-valid ID stays ``[id]``.
    ``[plate]``, ``[email]``, ``[qq]``, ``[wechat]``
        licence plates (new-energy ones included), e-mail addresses, QQ/扣扣 numbers,
        微信/wx/vx/wechat ids and ``wxid_…``.
    ``[name]``
        after 我叫/姓名/名叫/我的名字是/"my name is"; after the weaker 我是/本人 only a
        2–3 character name starting with a common surname and ending at a boundary (so
        我是一名退休教师 is left alone); and after a title (医生, 医师, 大夫, 护士, 护工,
        护理员, 师傅, 经理, 老师, 主任, 院长, 导游, 司机, 服务员, 店长, 顾问, 客服, 民警,
        警官, 社工, 保安, 技师, 工作人员; optional ``:`` or space) when what follows is a
        common surname (or 欧阳/司马/诸葛/上官) and one or two more characters that are not
        function words (很, 的, 态, 说, …), or 小/老 + surname: ``医生李建国`` →
        ``医生[name]``, the title is kept. Words that start with a surname character
        (周末, 马上, 许多, 谢谢, 严格, …) are not names, so 医生周末不上班, 医生很好 and
        护士态度 stay.
    ``[staff_id]``
        the id after 工号/员工号/员工编号/工牌号/工牌/胸牌号/警号/警员编号 (optional
        是/为/``:``/``#``/space/``NO.``): letters and digits with at least one digit;
        the label is kept (``工号[staff_id]``).
    ``[address]``
        the house-number tail of an address, built from *parts*: a house number ``12号``
        (``12-3号``), a building ``5幢``/``5栋``/``3号楼``/``2号院``/``B座``, a unit
        ``2单元``, a floor ``3楼``/``3层``, a room ``301室``/``301户`` or, last, a bare
        3–5 digit room number at a boundary, a lane ``88弄``, a dash chain ``5-2-301``.
        It is an address when (a) a road word (路, 街, 道, 巷, 胡同) is followed by a house
        number and at least one more part (文三路[address]); (b) a lane is followed by a
        house number (幸福里[address]); (c) a building is followed by a unit or room,
        a floor in between allowed, a letter unit (B单元) only with a room after it
        (xx小区[address]); (d) a unit is followed by a room;
        (e) a house number is followed by a building, unit, dash chain or an explicit
        ``室``/``户`` room; (f) after 住在/家住/住址/地址/家在/寄到, within 15 characters,
        any part (我家住在文三路[address]). The tail is replaced from its first number
        onward; the road or community name stays. A lone part is prose, not an address:
        ``3号窗口``, ``3号楼``, ``10号线``, ``5楼``, ``第5天``, ``门票380元``, and so is a
        road with a bare house number and no cue (``中山路100号`` is usually a public
        building). Chinese numerals (三单元) are not matched.
    ``[number]``
        any other stand-alone run of 7 or more digits (mistyped ID or phone numbers,
        order numbers), and card-shaped groups of 13–19 digits that fail the Luhn check.
        Shorter numbers such as prices and years stay.

    Digit patterns never match inside a longer digit run. Full-width digits and letters
    (１３８…) are matched as their ASCII forms.

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
    "TAGS",
    "TAG_KINDS",
    "KPlan",
    "QuasiIdentifier",
    "ScrubCounts",
    "luhn_valid",
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
_SURNAME = rf"(?:欧阳|司马|诸葛|上官|[{_SURNAMES}])"

_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_valid(number: str) -> bool:
    """Whether the digits of ``number`` (separators ignored) are 13–19 long and pass the
    Luhn check, as bank card numbers do.

    >>> luhn_valid("6222 0212 3456 7890 128"), luhn_valid("6222021234567890123")
    (True, False)
    """
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = sum(_LUHN_DOUBLE[d] if i % 2 else d for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def _card_length(number: str) -> bool:
    return 13 <= sum(c.isdigit() for c in number) <= 19


# Bank-card-shaped digits: one run of 13–19, or groups (first 4–6 digits, then 3–6, the last
# 1–6) with one repeated separator; never a piece of a longer (grouped) digit run.
_CARD = (r"(?<!\d)(?<!\d[ \-])(?:\d{13,19}(?![ \-]?\d)"
         r"|\d{4,6}(?P<sep>[ \-])\d{3,6}(?:(?P=sep)\d{3,6}){0,3}(?:(?P=sep)\d{1,6})?"
         r"(?![ \-]?\d))")
_CARD_GROUPED = (r"(?<!\d)(?<!\d[ \-])\d{4,6}(?P<sep>[ \-])\d{3,6}(?:(?P=sep)\d{3,6}){0,3}"
                 r"(?:(?P=sep)\d{1,6})?(?![ \-]?\d)")

# Titles after which a surname + given name is a person (the title stays).
TITLES = ("工作人员", "服务员", "护理员", "医生", "医师", "大夫", "护士", "护工", "师傅", "经理",
          "老师", "主任", "院长", "导游", "司机", "店长", "顾问", "客服", "民警", "警官", "社工",
          "保安", "技师")
_TITLE = "|".join("老师(?!傅)" if t == "老师" else t for t in TITLES)
# Characters that are rarely part of a given name but often follow a title + surname-like
# character in prose ("医生李明很好", "护士王芳给我…").
_NAME_STOP = ("很的了说是也都就给帮和跟对真太挺蛮非特态服不没还讲解告让把被在为处接负主表辛等及与们"
              "问来去到看做带打叫要会已又再才却我你他她您这那个每些有多收拿找送")
_NAME_CHAR = rf"(?:(?![{_NAME_STOP}])[{_CJK}])"
# Words that start with a surname character and are not names.
_NOT_NAMES = ("周末|周到|周围|周边|周[一二三四五六日天全期转]|马上|马虎|马路|陈述|陈旧|许多|许可|"
              "许久|何时|何况|何必|何等|谢谢|谢绝|曾经|余额|余下|程序|程度|任何|任务|任意|任由|"
              "付款|付费|付钱|顾客|顾及|毛病|钱包|钱款|严格|严重|严肃|金额|范围|陆续|黄牛|胡乱|"
              "胡说|杜绝|钟头|夏天|郑重|唐突|莫名|龙头|雷同|史上|孔洞|汤药|柳絮|叶子|田地|董事|"
              "潘多|姜汤|段时|罗列|林立")

# Address parts (see the module docstring).
_AN = r"(?:\d{1,5}|[A-Za-z]\d{0,4})"
_BLDG = rf"{_AN}(?:号楼|号院|号馆|幢|栋|座)"
_UNIT = rf"{_AN}单元"
_FLOOR = r"\d{1,3}(?:楼|层)"
_ROOM = rf"(?:\d{{1,5}}(?:室|户)|\d{{3,5}}(?=[^\dA-Za-z{_CJK}]|$|的))"
_ROOM_EXPLICIT = r"\d{1,5}(?:室|户)"
_HOUSE = r"\d{1,5}(?:-\d{1,5})?号(?!楼|院|馆|线)"
_LANE = r"\d{1,5}弄"
_DASH = r"\d{1,5}(?:-\d{1,5}){1,3}(?:室|户|号)?(?!\d)"
_PART = rf"(?:{_BLDG}|{_UNIT}|{_DASH}|{_ROOM_EXPLICIT}|{_HOUSE}|{_LANE}|{_FLOOR}|{_ROOM})"
_MORE = rf"(?: ?{_PART})*"
_START = r"(?<![\dA-Za-z\-])"

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
    ("bank_card", re.compile(_CARD), luhn_valid),
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
        rf"(?:我是|本人是?)\s*(?P<x>{_SURNAME}[{_CJK}]{{1,2}})"
        rf"(?=[^{_CJK}]|$|的)"), None),
    ("name", re.compile(
        rf"(?:{_TITLE})[ :]?(?P<x>(?!{_NOT_NAMES})(?:{_SURNAME}{_NAME_CHAR}{{1,2}}"
        rf"|[小老][{_SURNAMES}]))"), None),
    ("name", re.compile(r"(?i:my name is)\s+(?P<x>[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?)"), None),
    ("staff_id", re.compile(
        r"(?:员工编号|警员编号|员工号|工牌号|胸牌号|工号|工牌|警号)\s*(?:是|为|:|#)?\s*"
        r"(?:no\.?\s*)?(?P<x>[A-Za-z]{0,4}-?\d[A-Za-z0-9]{0,15}(?:-[A-Za-z0-9]{1,8})?)"
        r"(?![A-Za-z0-9])", re.IGNORECASE), None),
    # (a) road + house number + more; (b) lane + house number; (c) building + unit/room;
    # (d) unit + room; (e) house number + building/unit/dash/room; (f) after a cue. Each one
    # needs a digit (TRIGGER relies on it): a letter-only part (B座, B单元) never stands alone.
    ("address", re.compile(
        rf"(?:路|街|道|巷|胡同)(?P<x>{_HOUSE}(?: ?{_PART})+)"), None),
    ("address", re.compile(rf"{_START}(?P<x>{_LANE} ?{_HOUSE}{_MORE})"), None),
    ("address", re.compile(
        rf"{_START}(?P<x>{_BLDG} ?(?:{_FLOOR} ?)?(?:\d{{1,5}}单元|{_ROOM}|[A-Za-z]单元 ?{_ROOM})"
        rf"{_MORE})"), None),
    ("address", re.compile(rf"{_START}(?P<x>{_UNIT} ?(?:{_FLOOR} ?)?{_ROOM}{_MORE})"), None),
    ("address", re.compile(
        rf"{_START}(?P<x>{_HOUSE} ?(?:{_BLDG}|{_UNIT}|{_DASH}|(?:{_FLOOR} ?)?{_ROOM_EXPLICIT})"
        rf"{_MORE})"), None),
    ("address", re.compile(
        rf"(?:住在|家住|住址|地址|家在|寄到)\s*(?:是|为|:)?\s*[{_CJK}A-Za-z]{{0,15}}?"
        rf"(?P<x>(?<!\d)(?=[A-Za-z]?\d){_PART}{_MORE})"), None),
    ("number", re.compile(_CARD_GROUPED), _card_length),
    ("number", re.compile(r"(?<!\d)\d{7,}(?!\d)"), None),
]

# Something every pattern above needs (a digit, "@", a keyword, a province character
# followed by a Latin letter, a title followed by a surname): text without any of it cannot
# match, so it skips the scan. Keep it a superset of the patterns when adding one
# (tests/test_anonymize.py checks).
TRIGGER = re.compile(
    rf"\d|@|wxid_|微信|威信|vx|wx|wechat|weixin|qq|扣扣|企鹅|我叫|名叫|我的名字|姓名|我是|本人"
    rf"|my name is|[{_PROVINCES}][A-Za-z]"
    rf"|(?:{'|'.join(TITLES)})[ :]?(?:{_SURNAME}|[小老][{_SURNAMES}])", re.IGNORECASE)

TAGS = tuple(dict.fromkeys(tag for tag, _, _ in PATTERNS))
"""Every tag :func:`scrub_text` can insert (written as ``[tag]``)."""

TAG_KINDS: dict[str, dict[str, str]] = {
    "email": {"zh-Hans": "电子邮箱地址", "en": "e-mail addresses"},
    "wechat": {"zh-Hans": "微信号（含 wxid_…）", "en": "WeChat ids (wxid_… included)"},
    "id": {"zh-Hans": "居民身份证号（18 位校验正确、15 位出生日期有效）",
           "en": "resident ID numbers (18 digits with a valid check character, 15 digits "
                 "with a valid birth date)"},
    "phone": {"zh-Hans": "电话号码（手机、带区号座机、400/800）",
              "en": "phone numbers (mobiles, landlines with area code, 400/800)"},
    "bank_card": {"zh-Hans": "银行卡号（13–19 位，可分组，Luhn 校验正确）",
                  "en": "bank card numbers (13–19 digits, possibly grouped, valid Luhn check)"},
    "plate": {"zh-Hans": "机动车号牌（含新能源）", "en": "licence plates (new-energy included)"},
    "qq": {"zh-Hans": "QQ 号", "en": "QQ numbers"},
    "name": {"zh-Hans": "姓名（“我叫”“姓名”等之后、“我是”之后的常见姓氏、"
                        "医生/护士/师傅等称谓之后）",
             "en": "names (after 我叫/姓名 etc., a common surname after 我是, after titles "
                   "such as 医生/护士/师傅)"},
    "staff_id": {"zh-Hans": "工号、警号等员工编号", "en": "staff and badge numbers (工号, 警号 …)"},
    "address": {"zh-Hans": "详细地址的门牌部分（号、幢/栋/号楼、单元、室等）",
                "en": "the house-number part of street addresses (号, 幢/栋/号楼, 单元, 室 …)"},
    "number": {"zh-Hans": "其他 7 位以上的数字串", "en": "any other run of 7 or more digits"},
}
"""What each tag stands for, in zh-Hans and English (for the codebook)."""


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
    fixed_names = {q.name for q in qis if q.fixed}
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
                 generalised={name: level for name, level in generalised.items()
                              if level and name not in fixed_names},
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
