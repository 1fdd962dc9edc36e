"""Free-text scrubbing, formula escaping and the k-anonymity plan (pure functions)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given, settings
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
])
def test_ordinary_text_is_left_alone(text: str):
    assert scrub_text(text) == text


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
    got = counts.as_dict()
    assert (got["texts"], got["texts_changed"], got["name"], got["phone"], got["email"],
            got["id"]) == (2, 1, 1, 1, 1, 0)


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
                           "的", "王", "李", "明", "my name is ", "Li", ".", "com", "１２"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=12).map("".join))
def test_text_without_a_trigger_matches_no_pattern(text: str):
    """The fast path of scrub_text (no trigger → unchanged) never skips a real match."""
    from survey.export.anonymize import FULLWIDTH_TO_ASCII, PATTERNS, TRIGGER

    probe = text.translate(FULLWIDTH_TO_ASCII)
    if TRIGGER.search(probe) is None:
        assert not any(p.search(probe) for _, p, _ in PATTERNS), text
