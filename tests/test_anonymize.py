"""Free-text scrubbing, formula escaping and the k-anonymity plan (pure functions)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from survey.core.spreadsheet import escape_formula
from survey.demo.data import COMMENTS
from survey.export.anonymize import (
    SUPPRESSED,
    plan_k_anonymity,
    quasi_identifiers,
    resident_id_valid,
    scrub_text,
)

W = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def with_check(first17: str) -> str:
    return first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, W, strict=True)) % 11]


def luhn_ok(digits: str) -> bool:
    """The Luhn check, written out: double every second digit from the right."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_complete(prefix: str) -> str:
    """``prefix`` + the one check digit that makes it Luhn-valid."""
    (number,) = [prefix + str(d) for d in range(10) if luhn_ok(prefix + str(d))]
    return number


CARD_19 = "6222021234567890128"   # Luhn-valid, 19 digits
CARD_16 = luhn_complete("622202123456789")
CARD_BAD = CARD_16[:-1] + str((int(CARD_16[-1]) + 1) % 10)


PII = [
    ("电话13812345678", "13812345678", "[phone]"),
    ("手机 +86 139-1234-5678 找我", "139-1234-5678", "[phone]"),
    ("手机0086 15912345678", "15912345678", "[phone]"),
    ("打 187 1234 5678", "187 1234 5678", "[phone]"),
    ("全角号码１３８１２３４５６７８", "１３８１２３４５６７８", "[phone]"),
    ("身份证号110105199003078676，", "110105199003078676", "[id]"),
    ("证件 " + with_check("44030419851201123"), with_check("44030419851201123"), "[id]"),
    ("老身份证 110105900307867 还能用吗", "110105900307867", "[id]"),
    ("电话0571-87654321", "0571-87654321", "[phone]"),
    ("座机（010）12345678转123", "12345678", "[phone]"),
    ("客服400-123-4567", "400-123-4567", "[phone]"),
    ("车牌浙A12345，返修三次", "浙A12345", "[plate]"),
    ("新能源车 粤B·D12345 充电", "D12345", "[plate]"),
    ("邮箱 zhang.family@example.com", "zhang.family@example.com", "[email]"),
    ("我的QQ号：123456789", "123456789", "[qq]"),
    ("加扣扣 87654321", "87654321", "[qq]"),
    ("我的微信号 wxid_tour2026", "wxid_tour2026", "[wechat]"),
    ("微信：Li_Ming_88 随时联系", "Li_Ming_88", "[wechat]"),
    ("vx abc12345", "abc12345", "[wechat]"),
    ("我叫李明，想反映一下收费问题。", "李明", "[name]"),
    ("我是王芳，材料被退回了两次。", "王芳", "[name]"),
    ("姓名：欧阳娜娜", "欧阳娜娜", "[name]"),
    ("我是李明的家属", "李明", "[name]"),
    ("My name is John Smith, thanks", "John Smith", "[name]"),
    ("银行卡 6222021234567890123", "6222021234567890123", "[number]"),
    # the examples of the issue
    ("家住文三路123号5幢2单元301室，离医院很近", "123号5幢2单元301室", "[address]"),
    ("医生李建国很耐心", "李建国", "[name]"),
    ("工号A12345的护士态度不好", "A12345", "[staff_id]"),
    ("退款请打到 6222 0212 3456 7890 128 谢谢", "6222 0212 3456 7890 128", "[bank_card]"),
    # more addresses
    ("西湖区文一西路969号3号楼1单元502", "969号3号楼1单元502", "[address]"),
    ("xx小区12栋3单元1102室", "12栋3单元1102室", "[address]"),
    ("幸福里88弄6号201室", "88弄6号201室", "[address]"),
    ("人民大道200号B座1806", "200号B座1806", "[address]"),
    ("全角 文三路１２３号５幢２单元３０１室", "１２３号５幢２单元３０１室", "[address]"),
    ("文三路123号5-2-301，很吵", "123号5-2-301", "[address]"),
    ("我家住在文三路123号", "123号", "[address]"),
    # more names after titles
    ("护士王芳给我打针", "王芳", "[name]"),
    ("导游：欧阳娜娜讲得好", "欧阳娜娜", "[name]"),
    ("服务员小张态度差", "小张", "[name]"),
    ("老师傅李建国手艺好", "李建国", "[name]"),
    # more staff numbers
    ("工号：12345", "12345", "[staff_id]"),
    ("工号 8866 的师傅", "8866", "[staff_id]"),
    ("警号是010203", "010203", "[staff_id]"),
    ("员工号NO.5566", "5566", "[staff_id]"),
    # more bank cards
    (f"卡号{CARD_19}", CARD_19, "[bank_card]"),
    (f"卡号 {CARD_16[:4]}-{CARD_16[4:8]}-{CARD_16[8:12]}-{CARD_16[12:]}", CARD_16[12:],
     "[bank_card]"),
    ("身份证 110105199003078679 (wrong check digit)", "110105199003078679", "[number]"),
]


@pytest.mark.parametrize(("text", "secret", "tag"), PII)
def test_planted_personal_data_is_replaced_by_its_tag(text: str, secret: str, tag: str):
    out = scrub_text(text)
    assert secret not in out
    assert tag in out


@pytest.mark.parametrize("text", [
    "我是一名退休教师，服务很好。", "我是第一次来，指示牌太少。", "门票价格偏高，380元。",
    "2026年3月来过两次，等了45分钟。", "本人对服务很满意", "微信支付很方便",
    "The doctor listened carefully. Waiting area is crowded.",
    # numbers in prose are not addresses, titles before ordinary words are not names
    "门票380元", "等了2小时", "3号窗口排队", "第5天", "10号线地铁", "去3号楼拍片",
    "门诊3号楼2层缴费", "住院部5楼", "通道3号窗口", "美食街5号店2楼", "中山路100号有药店",
    "2026-03-12来过", "评分 5 5 4 3 5 4 5 5 4 3 5 4 5",
    "医生很好", "护士态度", "医生周末不上班", "司机马上就到", "经理周到", "医生谢谢你",
    "医生和护士都很好", "服务顾问很专业", "导游讲解很精彩", "老师傅很专业", "司机师傅很好",
    "护士长很好", "主任医师看的", "工作人员态度很好", "保安全程陪同", "客服电话打不通",
    "工号没看清", "张医生很好",
])
def test_ordinary_text_is_left_alone(text: str):
    assert scrub_text(text) == text


def test_the_issue_examples_are_replaced_exactly():
    assert scrub_text("文三路123号5幢2单元301室") == "文三路[address]"
    assert scrub_text("医生李建国") == "医生[name]"
    assert scrub_text("工号A12345") == "工号[staff_id]"
    assert scrub_text("6222 0212 3456 7890 128") == "[bank_card]"
    assert scrub_text("医生李明很好，工号：12345") == "医生[name]很好，工号：[staff_id]"


def test_luhn_invalid_card_numbers_are_numbers_not_bank_cards():
    assert luhn_ok(CARD_16) and not luhn_ok(CARD_BAD)
    grouped = f"{CARD_BAD[:4]} {CARD_BAD[4:8]} {CARD_BAD[8:12]} {CARD_BAD[12:]}"
    # one run: the long-digit rule; in groups: the card-shaped-number rule
    assert scrub_text(f"卡号{CARD_BAD}") == "卡号[number]"
    assert scrub_text(f"卡号 {grouped}，") == "卡号 [number]，"
    assert scrub_text("卡号 6222021234567890123") == "卡号 [number]"
    # groups of digits that are not card-shaped (too long) are left alone, as before
    assert scrub_text("1234 5678 9012 3456 7890 1234") == "1234 5678 9012 3456 7890 1234"


def test_a_luhn_valid_resident_id_stays_an_id_and_phones_stay_phones():
    rid = "110105199003071108"
    assert resident_id_valid(rid) and luhn_ok(rid)
    assert scrub_text(f"身份证{rid}") == "身份证[id]"
    # 0086 + mobile in groups is 15 digits, card-shaped; it is a phone
    assert scrub_text("电话 0086 138 1234 5678") == "电话 [phone]"
    assert scrub_text("电话 13812345678 卡 " + CARD_19) == "电话 [phone] 卡 [bank_card]"


@settings(max_examples=300, deadline=None)
@given(body=st.text(alphabet="0123456789", min_size=11, max_size=17),
       sep=st.sampled_from(["", " ", "-"]),
       before=st.text(alphabet="满意服务很好，。卡号", max_size=6),
       after=st.text(alphabet="满意服务很好，。", max_size=6))
def test_generated_luhn_valid_cards_are_always_scrubbed(body, sep, before, after):
    number = luhn_complete("6" + body)
    grouped = sep.join(number[i:i + 4] for i in range(0, len(number), 4))
    out = scrub_text(f"{before}{grouped}{after}")
    # an ID number is never written in groups; in one run a valid one is tagged as an ID
    kind = "id" if sep == "" and resident_id_valid(number) else "bank_card"
    assert out == f"{before}[{kind}]{after}"


def test_the_demo_comments_without_personal_data_are_unchanged():
    clean = [c for cs in COMMENTS.values() for c in cs
             if not any(x in c for x in ("电话", "我叫", "我是", "邮箱", "微信", "车牌"))]
    assert clean and all(scrub_text(c) == c for c in clean)


def test_digits_inside_a_longer_run_are_not_a_phone_or_id():
    run = "9" + "13812345678" + "0" * 10
    out = scrub_text(f"订单 {run}")
    assert out == "订单 [number]"


def test_counts_are_reported_by_kind():
    from survey.export.anonymize import ScrubCounts

    counts = ScrubCounts()
    scrub_text("我叫李明，电话13812345678，邮箱 a@b.cn", counts)
    scrub_text("很好", counts)
    scrub_text("医生李建国，工号A12345，住文三路123号5幢2单元301室，卡6222 0212 3456 7890 128",
               counts)
    got = counts.as_dict()
    assert (got["texts"], got["texts_changed"], got["name"], got["phone"], got["email"],
            got["id"], got["address"], got["staff_id"], got["bank_card"],
            got["number"]) == (3, 2, 2, 1, 1, 0, 1, 1, 1, 0)


def test_every_tag_is_described_for_the_codebook():
    from survey.export.anonymize import TAG_KINDS, TAGS

    assert {"address", "staff_id", "bank_card", "name"} <= set(TAGS)
    assert set(TAG_KINDS) == set(TAGS)
    assert all(k["zh-Hans"] and k["en"] for k in TAG_KINDS.values())


@settings(max_examples=300, deadline=None)
@given(region=st.integers(110000, 659999), year=st.integers(1930, 2010),
       month=st.integers(1, 12), day=st.integers(1, 28), seq=st.integers(0, 999),
       before=st.text(alphabet="满意服务很好 ，。abc", max_size=8),
       after=st.text(alphabet="满意服务很好 ，。abc", max_size=8))
def test_generated_valid_resident_ids_are_always_scrubbed(region, year, month, day, seq,
                                                          before, after):
    number = with_check(f"{region}{year}{month:02d}{day:02d}{seq:03d}")
    assert resident_id_valid(number)
    out = scrub_text(f"{before}{number}{after}")
    assert number not in out and "[id]" in out


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 999_999))
def test_short_numbers_are_never_changed(n: int):
    assert scrub_text(f"花了{n}元") == f"花了{n}元"


@pytest.mark.parametrize("cell", ["=1+1", "+cmd", "-2+3", "@SUM(A1)", "\tx", "\rx", "＝1+1",
                                  "＋x", "－x", "＠x"])
def test_formula_like_text_cells_are_escaped(cell: str):
    assert escape_formula(cell) == "'" + cell


def test_plain_text_is_not_escaped():
    assert escape_formula("很好 = good") == "很好 = good"


def test_k_anonymity_plan_reaches_k_on_random_tables():
    rng = random.Random(3)
    names = ["wave", "city", "district", "site_kind", "age_band", "gender", "visit_type"]
    qis = quasi_identifiers(names)
    for _ in range(30):
        counts: Counter[tuple[str, ...]] = Counter()
        for _ in range(rng.randint(1, 400)):
            counts[(rng.choice(["2026Q1", "2026Q2"]), "hz", rng.choice("abcde"),
                    rng.choice(["clinic", "hospital"]),
                    rng.choice(["18_29", "30_44", "45_59", "60_69", "80_plus"]),
                    rng.choice(["male", "female"]), rng.choice(["a", "b", "c", ""]))] += 1
        plan = plan_k_anonymity(counts, qis, k=5, max_suppression=0.05)
        final: Counter[tuple[str, ...]] = Counter()
        for raw, n in counts.items():
            out = plan.mapping[raw]
            if out is not None:
                assert out[:2] == raw[:2]  # wave and city are never changed
                final[out] += n
        assert not final or min(final.values()) >= 5
        assert sum(final.values()) + plan.rows_dropped == sum(counts.values())


def test_a_tiny_sample_is_dropped_not_published():
    qis = quasi_identifiers(["wave", "age_band"])
    plan = plan_k_anonymity({("2026Q1", "30_44"): 3}, qis, k=5)
    assert plan.mapping[("2026Q1", "30_44")] is None and plan.rows_dropped == 3


def test_suppression_follows_when_generalisation_is_not_enough():
    qis = quasi_identifiers(["wave", "gender"])
    plan = plan_k_anonymity({("w", "male"): 20, ("w", "female"): 2, ("w", ""): 4}, qis, k=5,
                            max_suppression=0.25)
    assert plan.step == 0
    assert plan.mapping[("w", "female")] == plan.mapping[("w", "")] == ("w", SUPPRESSED)
    assert plan.mapping[("w", "male")] == ("w", "male")
    assert (plan.rows_suppressed, plan.cells_suppressed, plan.k_achieved) == (6, 6, 6)


def test_too_few_suppressed_rows_take_the_next_smallest_class_with_them():
    qis = quasi_identifiers(["wave", "gender"])
    plan = plan_k_anonymity({("w", "male"): 20, ("w", "female"): 2}, qis, k=5,
                            max_suppression=0.1)
    assert plan.mapping[("w", "male")] == plan.mapping[("w", "female")] == ("w", SUPPRESSED)
    assert plan.rows_suppressed == 22 and plan.k_achieved == 22


_PIECES = st.sampled_from(["我叫", "我是", "本人", "姓名", "微信", "wx", "qq", "QQ", "@", "wxid_",
                           "浙", "京", "A", "b", "Z", "x", "1", "38", "0571", "-", " ", "，",
                           "的", "王", "李", "明", "my name is ", "Li", ".", "com", "１２",
                           "号", "幢", "栋", "单元", "室", "楼", "座", "弄", "路", "住在", "医生",
                           "老师", "傅", "小", "欧阳", "很", ":", "工号", "警号", "NO.", "6222",
                           "0212 3456", "7890"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
@example("住在A座")  # a letter-only address part needs a digit somewhere
@example("A座B单元")
@example("老师傅李建国")
def test_text_without_a_trigger_matches_no_pattern(text: str):
    """The fast path of scrub_text (no trigger → unchanged) never skips a real match."""
    from survey.export.anonymize import FULLWIDTH_TO_ASCII, PATTERNS, TRIGGER

    probe = text.translate(FULLWIDTH_TO_ASCII)
    if TRIGGER.search(probe) is None:
        assert not any(p.search(probe) for _, p, _ in PATTERNS), text
