"""The export's codebook (JSON and Markdown) and the labelled SPSS/Stata files.

The codebook lists every variable (zh-Hans/en label, type, value labels, dimension, role),
the quasi-identifiers, what anonymization did (generalisation, suppression, free-text
replacements per kind, and the plain statement that free text is scrubbed — pattern-based
removal of the listed kinds of personal data — not anonymised), the missing-value codes
and the lines that declare the survey design in R (``survey::svydesign``) and Stata
(``svyset``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from survey.core.questionnaires import Questionnaire
from survey.core.responses.codes import NA_EXPORT
from survey.export.anonymize import AGE_WIDE, AGE_WIDER, SUPPRESSED, TAG_KINDS, TAGS, KPlan
from survey.export.columns import ExportRequest, Variable

FREE_TEXT_SCRUBBED = {
    "zh-Hans": "自由文本经过清洗，但并未匿名化：系统按模式匹配删除下列几类个人信息，"
               "并以 [类别] 标记替换；非常规的写法（如汉字数字、无称谓的姓名、无门牌的地址）"
               "可能漏检。请勿公开发布自由文本。",
    "en": "Free text is scrubbed, not anonymised: the kinds of personal data listed are removed "
          "by pattern matching and replaced with a [kind] tag; unusual forms (Chinese "
          "numerals, a name without a title, an address without house-number parts) can be "
          "missed. Do not publish the free text.",
}
"""What the codebook says about scrubbed free text (the kinds follow, from ``TAG_KINDS``)."""


def free_text_scrubbing() -> dict[str, Any]:
    """The statement and the kinds of personal data scrubbed, zh-Hans and English."""
    return {**FREE_TEXT_SCRUBBED,
            "kinds": [{"tag": f"[{tag}]", **TAG_KINDS[tag]} for tag in TAGS]}


SVYDESIGN = ('svydesign(ids = ~psu, strata = ~stratum, weights = ~final_weight, '
             'data = d, nest = TRUE)')
SVYSET = "svyset psu [pweight = final_weight], strata(stratum) singleunit(centered)"
"""After pooling single-PSU strata (see ``design.stata``), ``singleunit(centered)`` only
matters when exactly one stratum had a single PSU."""


def build(q: Questionnaire, cols: Sequence[Variable], plan: KPlan, scrub: Mapping[str, int],
          request: ExportRequest, rows: int, unknown: Mapping[str, int], *, n_strata: int,
          n_psu: int) -> dict[str, Any]:
    """The codebook as a JSON-ready dict."""
    qi = [v.name for v in cols if v.role == "quasi_identifier"]
    return {
        "questionnaire": {"id": q.id, "version": q.version, "title": q.title.as_dict()},
        "exported_on": datetime.now(UTC).date().isoformat(),
        "filters": {"city": request.city, "wave": request.wave},
        "rows": rows,
        "encoding": "UTF-8 with BOM" if request.bom else "UTF-8",
        "free_text": "scrubbed" if request.include_text else "omitted",
        "quasi_identifiers": qi,
        "anonymization": {
            **plan.report(),
            "suppressed_value": SUPPRESSED,
            "generalisations": {
                "age_band": {"1": AGE_WIDE, "2": AGE_WIDER, "3": SUPPRESSED},
                "other quasi-identifiers": SUPPRESSED},
            **({"free_text_scrubbing": free_text_scrubbing()} if request.include_text else {}),
            "free_text_replacements": dict(scrub),
            "values_not_in_codebook": dict(unknown),
            "ids": "rid is 64 random bits drawn for this export; rows are in a random order",
        },
        "missing_values": {
            "empty": "not answered, or not shown (show_if)",
            str(NA_EXPORT): "N/A: not applicable / did not experience (its own code, never 0)",
        },
        "design": {
            "strata": "stratum (district; random label per export)",
            "psu": "psu (site; random label per export, nested in stratum)",
            "weight": "final_weight",
            "n_strata": n_strata, "n_psu": n_psu,
            "single_psu_strata": "collapsed: strata with one PSU are pooled into one stratum "
                                 "(as the dashboard: SINGLE_PSU = collapse)",
            "r": "library(survey); d <- read.csv(\"FILE.csv\", fileEncoding = \"UTF-8-BOM\"); "
                 "n_psu <- ave(as.integer(factor(d$psu)), d$stratum, "
                 "FUN = function(x) length(unique(x))); "
                 "d$stratum[n_psu == 1] <- \"collapsed\"; "
                 "options(survey.lonely.psu = \"adjust\"); "
                 f"des <- {SVYDESIGN}; svymean(~overall, des, na.rm = TRUE)",
            "stata": "bysort stratum psu: gen byte first_ = _n == 1\n"
                     "bysort stratum: egen n_psu_ = total(first_)\n"
                     "replace stratum = \"collapsed\" if n_psu_ == 1\n"
                     f"{SVYSET}\nsvy: mean overall",
            "python": "python -m analysis mean FILE.csv --value overall --weight final_weight "
                      "--strata stratum --cluster psu --single-psu collapse",
        },
        "variables": [
            {"name": v.name, "label": v.label, "type": v.type, "role": v.role,
             "dimension": v.dimension, "item": v.item, "value_labels": v.value_labels}
            for v in cols
        ],
    }


def markdown(book: Mapping[str, Any]) -> str:
    """The codebook as Markdown (bilingual labels)."""
    q = book["questionnaire"]
    a = book["anonymization"]
    d = book["design"]
    lines = [
        f"# {q['title']['zh-Hans']} / {q['title']['en']} — codebook",
        "",
        f"Questionnaire `{q['id']}` version {q['version']}; exported {book['exported_on']}; "
        f"city {book['filters']['city'] or 'all'}; wave {book['filters']['wave'] or 'all'}; "
        f"{book['rows']} rows; {book['encoding']}; free text {book['free_text']}.",
        "",
        "## Survey design",
        "",
        f"{d['n_strata']} strata (districts) and {d['n_psu']} PSUs (sites), both as random "
        "labels drawn for this export. R:",
        "",
        "```r",
        *d["r"].split("; "),
        "```",
        "",
        "Stata:",
        "",
        "```stata",
        *d["stata"].split("\n"),
        "```",
        "",
        "## Anonymization",
        "",
        f"- Quasi-identifiers: {', '.join('`' + n + '`' for n in book['quasi_identifiers'])}.",
        f"- k-anonymity: every combination of the quasi-identifiers occurs at least "
        f"{a['k']} times (smallest class: {a['k_achieved']}).",
        f"- Generalisation step {a['generalisation_step']}: "
        + (", ".join(f"`{k}` level {v}" for k, v in a["generalised"].items()) or "none")
        + f"; {a['rows_generalised']} rows / {a['cells_generalised']} cells generalised.",
        f"- Suppression (`{a['suppressed_value']}`): {a['rows_suppressed']} rows / "
        f"{a['cells_suppressed']} cells; {a['rows_dropped']} rows dropped.",
        *_free_text_lines(book),
        f"- {a['ids']}.",
        "",
        "## Missing values",
        "",
        *[f"- `{k}`: {v}" for k, v in book["missing_values"].items()],
        "",
        "## Variables",
        "",
        "| name | label (zh-Hans) | label (en) | type | role | dimension | value labels |",
        "|---|---|---|---|---|---|---|",
    ]
    for v in book["variables"]:
        labels = "; ".join(f"{code} = {lab['zh-Hans']} / {lab['en']}"
                           for code, lab in v["value_labels"].items())
        cells = [f"`{v['name']}`", v["label"]["zh-Hans"], v["label"]["en"], v["type"],
                 v["role"], v["dimension"] or "", labels]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _free_text_lines(book: Mapping[str, Any]) -> list[str]:
    a = book["anonymization"]
    counts = ", ".join(f"{k} {v}" for k, v in a["free_text_replacements"].items())
    method = a.get("free_text_scrubbing")
    if method is None:
        return [f"- Free text: {book['free_text']}."]
    kinds = [f"  - `{k['tag']}`: {k['zh-Hans']} / {k['en']}" for k in method["kinds"]]
    return [f"- {method['en']}", f"  {method['zh-Hans']}",
            "  Kinds removed / 删除的个人信息类别:", *kinds, f"  Replacements: {counts}."]


def write_labelled(csv_path: Path, cols: Sequence[Variable], out: Path, fmt: str) -> None:
    """Write the CSV as SPSS ``.sav`` or Stata ``.dta`` with variable and value labels.

    Needs the optional ``formats`` extra (pyreadstat, pandas). Unlike the CSV this holds the
    table in memory (pyreadstat writes a whole data frame).
    """
    try:
        import pandas as pd
        import pyreadstat
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise RuntimeError(f"{fmt} output needs the 'formats' extra ({exc.name} missing): "
                           "pip install 'manyi[formats]'") from None
    dtypes = {v.name: str for v in cols if v.type == "string"}
    frame = pd.read_csv(csv_path, dtype=dtypes, keep_default_na=False,
                        na_values={v.name: [""] for v in cols if v.type != "string"},
                        encoding="utf-8-sig")
    for v in cols:
        if v.type != "string":
            frame[v.name] = pd.to_numeric(frame[v.name], errors="raise").astype("float64")
    value_labels: dict[str, dict[int | float, str]] = {
        v.name: {int(code): lab["en"][:80] for code, lab in v.value_labels.items()}
        for v in cols if v.type == "integer" and v.value_labels}
    if fmt == "sav":
        labels = [f"{v.label['zh-Hans']} / {v.label['en']}" for v in cols]
        pyreadstat.write_sav(frame, str(out), column_labels=labels,
                             variable_value_labels=value_labels)
    elif fmt == "dta":
        labels = [v.label["en"][:80] for v in cols]
        pyreadstat.write_dta(frame, str(out), column_labels=labels,
                             variable_value_labels=value_labels, version=15)
    else:
        raise ValueError(f"fmt must be 'sav' or 'dta', got {fmt!r}")
