"""What an export contains: the request (:class:`ExportRequest`) and its columns
(:class:`Variable`, :func:`variables`), shared by the export and its codebook."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from survey.core.i18n import N_, translate
from survey.core.questionnaires import Questionnaire
from survey.core.responses.codes import NA_EXPORT, QI_COLUMNS, layout, qi_names

FORMATS = ("csv", "sav", "dta")
K = 5
"""Every combination of quasi-identifiers is shared by at least K exported rows."""
DESIGNS = ("labels", "replicates")
"""``labels``: ``stratum``/``psu`` random labels (named researchers); ``replicates``: the
public-use file, replicate weights ``rw_1 … rw_R`` over masked variance units instead."""
REPLICATE_METHODS = ("jkn", "bootstrap")
MIN_VARIANCE_UNIT = 10
"""Default smallest variance unit: respondents per wave (config
``EXPORT_MIN_VARIANCE_UNIT``; at least K)."""
BOOTSTRAP_REPLICATES = 200
"""Default number of bootstrap replicates."""
MAX_REPLICATES = 1000


@dataclass(frozen=True)
class ExportRequest:
    """What to export. ``city``/``wave`` = ``None`` means all."""

    questionnaire: str
    city: str | None = None
    wave: str | None = None
    bom: bool = False
    include_text: bool = True
    format: str = "csv"
    k: int = K
    max_suppression: float = 0.02
    design: str = "labels"
    replicate_method: str = "jkn"
    replicates: int | None = None  # bootstrap only; default BOOTSTRAP_REPLICATES
    min_variance_unit: int = MIN_VARIANCE_UNIT

    def filters(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "questionnaire": self.questionnaire, "city": self.city, "wave": self.wave,
            "text": self.include_text, "format": self.format, "bom": self.bom,
            "design": self.design}
        if self.design == "replicates":
            out.update(replicate_method=self.replicate_method,
                       replicates=self.bootstrap_replicates,
                       min_variance_unit=self.min_variance_unit)
        return out

    @property
    def bootstrap_replicates(self) -> int | None:
        """The bootstrap's number of replicates (``None`` for other methods)."""
        if self.replicate_method != "bootstrap":
            return None
        return BOOTSTRAP_REPLICATES if self.replicates is None else self.replicates


@dataclass(frozen=True)
class Variable:
    """One column of the export, as the codebook describes it."""

    name: str
    label: dict[str, str]
    type: str  # "string" | "integer" | "float"
    role: str  # id | design | quasi_identifier | item | score | outcome | text
    value_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    dimension: str | None = None
    item: str | None = None


def _t(zh: str, en: str) -> dict[str, str]:
    return {"zh-Hans": zh, "en": en}


def bilingual(msgid: str, **params: object) -> dict[str, str]:
    """``msgid`` (English, marked with ``N_``) in zh-Hans and English, from the catalogue
    (``translations/zh_Hans/LC_MESSAGES/export.po``)."""
    return {lang: translate(msgid, lang, **params) for lang in ("zh-Hans", "en")}


RW_LABEL = N_("Replicate weight %(r)s (final weight × factor of replicate %(r)s)")


def variables(q: Questionnaire, include_text: bool = True,
              replicates: int = 0) -> list[Variable]:
    """Every column of ``q``'s export, in order: with ``replicates`` > 0 (the public-use
    variant) ``rw_1 … rw_<replicates>`` follow ``final_weight`` and there is no
    ``stratum``/``psu``."""
    out = [Variable("rid", _t("本次导出的随机行号（每次导出重新生成）",
                              "Random row id, new in every export"), "string", "id")]
    if not replicates:
        out += [
            Variable("stratum", _t("分层（区县）随机编码，每次导出重新生成",
                                   "Stratum (district), random code per export"),
                     "string", "design"),
            Variable("psu", _t("初级抽样单元（服务点）随机编码，每次导出重新生成",
                               "Primary sampling unit (site), random code per export"),
                     "string", "design")]
    out.append(Variable("final_weight", _t("最终权重", "Final weight"), "float", "design"))
    out += [Variable(f"rw_{r}", bilingual(RW_LABEL, r=r), "float", "replicate_weight")
            for r in range(1, replicates + 1)]
    out += [
        Variable("wave", _t("调查期（季度）", "Wave (quarter)"), "string", "quasi_identifier"),
        Variable("city", _t("城市代码", "City code"), "string", "quasi_identifier"),
        Variable("district", _t("区县代码（可能被泛化为 *）",
                                "District code (may be generalised to *)"),
                 "string", "quasi_identifier"),
        Variable("site_kind", _t("服务点类型", "Site kind"), "string", "quasi_identifier"),
    ]
    lay = layout(q)
    for name in qi_names(q)[len(QI_COLUMNS) - 2:]:
        item = q.item(name)
        labels = {o.value: o.label.as_dict() for o in item.options or []}
        out.append(Variable(name, item.text.as_dict(), "string", "quasi_identifier", labels,
                            item=name))
    texts = []
    for item in (q.item(i) for i in [c.item for c in lay.items] + list(lay.text_items)):
        if item.type in ("scale", "nps"):
            scale = q.scale_for(item)
            assert scale is not None
            labels = {str(scale.min + i): lab.as_dict() for i, lab in enumerate(scale.labels)}
            if scale.na:
                labels[str(NA_EXPORT)] = (scale.na_label.as_dict() if scale.na_label
                                          else _t("不适用", "Not applicable"))
            out.append(Variable(item.id, item.text.as_dict(), "integer", "item", labels,
                                item.dimension, item.id))
        elif item.type == "single":
            labels = {str(i): o.label.as_dict() for i, o in enumerate(item.options or [], 1)}
            out.append(Variable(item.id, item.text.as_dict(), "integer", "item", labels,
                                item=item.id))
        elif item.type == "multi":
            for o in item.options or []:
                label = {lang: f"{item.text.get(lang)} — {o.label.get(lang)}"
                         for lang in ("zh-Hans", "en")}
                out.append(Variable(f"{item.id}__{o.value}", label, "integer", "item",
                                    {"0": _t("未选", "Not chosen"), "1": _t("选择", "Chosen")},
                                    item=item.id))
        elif item.type == "text":
            texts.append(Variable(item.id, {
                "zh-Hans": item.text.zh_hans + "（已去除个人信息）",
                "en": item.text.en + " (personal data removed)"}, "string", "text",
                item=item.id))
    for dim in q.dimensions:
        out.append(Variable(f"score_{dim.id}", {
            "zh-Hans": f"{dim.title.zh_hans}得分（0–100）",
            "en": f"{dim.title.en} score (0–100)"}, "float", "score", dimension=dim.id))
    out.append(Variable("overall", _t("总体满意度指数（0–100）",
                                      "Overall satisfaction index (0–100)"), "float", "outcome"))
    out.append(Variable("satisfied", _t("满意（前两档）", "Satisfied (top two boxes)"), "integer",
                        "outcome", {"0": _t("否", "No"), "1": _t("是", "Yes")}))
    if include_text:
        out.extend(texts)
    return out


