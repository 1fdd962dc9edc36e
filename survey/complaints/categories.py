"""Complaint categories (docs/complaints.md): code → ``{"zh-Hans": …, "en": …}`` (the
shape :func:`survey.core.i18n.localized` and the ``tr`` template filter read).

The first three are the disputes of the Tourism Complaint Handling Measures
(旅游投诉处理办法, art. 8); the others are the usual subjects of tourist hotlines.
"""

from __future__ import annotations

CATEGORIES: dict[str, dict[str, str]] = {
    "contract": {"zh-Hans": "合同未履行或履行不符", "en": "Contract not performed as agreed"},
    "injury_loss": {"zh-Hans": "经营者造成人身伤害或财产损失",
                    "en": "Personal injury or property loss caused by the operator"},
    "force_majeure": {"zh-Hans": "不可抗力或意外事故引发的纠纷",
                      "en": "Dispute after force majeure or an accident"},
    "price": {"zh-Hans": "价格", "en": "Prices"},
    "safety": {"zh-Hans": "安全", "en": "Safety"},
    "hygiene": {"zh-Hans": "卫生", "en": "Hygiene"},
    "staff": {"zh-Hans": "服务人员态度", "en": "Staff attitude"},
    "other": {"zh-Hans": "其他", "en": "Other"},
}


def category_code(value: str) -> str | None:
    """The code of a category given as its code or its Chinese or English label (hotline
    exports write labels); ``None`` when it is none of them."""
    value = value.strip()
    if value in CATEGORIES:
        return value
    for code, labels in CATEGORIES.items():
        if value in (labels["zh-Hans"], labels["en"]) or value.lower() == labels["en"].lower():
            return code
    return None
