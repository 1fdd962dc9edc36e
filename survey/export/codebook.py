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

from survey.core.i18n import N_
from survey.core.questionnaires import Questionnaire
from survey.core.responses.codes import NA_EXPORT
from survey.export.anonymize import AGE_WIDE, AGE_WIDER, SUPPRESSED, TAG_KINDS, TAGS, KPlan
from survey.export.columns import ExportRequest, Variable, bilingual
from survey.export.replicates import METHOD_NAMES, ReplicateFactors, VarianceUnits

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


LABELS_ARE_QUASI_IDENTIFIERS = N_(
    "The stratum and psu labels are quasi-identifiers: they show how respondents are grouped "
    "into districts and sites, which someone who knows the number of respondents per site "
    "can match. Counted as quasi-identifiers together with the others, %(small)s of the "
    "%(rows)s exported rows fall into groups smaller than %(k)s. Do not publish this file; "
    "for a public-use file, export the variant with replicate weights.")
PUBLIC_USE = N_(
    "Public-use file: no stratum or PSU labels. Variances come from %(method)s replicate "
    "weights rw_1 … rw_%(replicates)s over %(units)s masked variance units in %(strata)s "
    "pseudo-strata: sites merged within their district until every unit has at least "
    "%(minimum)s respondents in each wave, and districts left with fewer than two such units "
    "merged into a neighbouring district. Rows of one unit share one replicate-weight "
    "pattern, so the unit was counted as a quasi-identifier in the k-anonymity check.")
METHODS = {"jkn": N_("stratified jackknife (JKn)"),
           "bootstrap": N_("Rao–Wu rescaled bootstrap")}

PYTHON_REPLICATES = (
    "import numpy as np, pandas as pd; "
    "from analysis.replicates import ReplicateDesign, replicate_mean; "
    "d = pd.read_csv(\"FILE.csv\"); "
    "rw = d.filter(regex=r\"^rw_[0-9]+$\").to_numpy(); "
    "des = ReplicateDesign.from_matrix(rw, \"{kind}\", weights=d.final_weight, "
    "scale={scale}, rscales={rscales}, mse=False); "
    "ok = d.overall.notna().to_numpy(); "
    "replicate_mean(d.overall.fillna(0).to_numpy(), des, where=ok)")


def label_design(n_strata: int, n_psu: int, k: int, small: int) -> dict[str, Any]:
    """The codebook's ``design`` of the variant with stratum/PSU labels: the R, Stata and
    Python lines, and the statement that the labels are quasi-identifiers with ``small``,
    the exported rows in classes smaller than ``k`` when they are counted."""
    return {
        "variant": "labels",
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
        "labels_are_quasi_identifiers": {"k": k, "rows_in_small_classes": small},
    }


def _r_number(value: float) -> str:
    return repr(float(value))


def replicate_design(request: ExportRequest, units: VarianceUnits,
                     factors: ReplicateFactors) -> dict[str, Any]:
    """The codebook's ``design`` of the public-use variant: method, ``scale``, ``rscales``
    (one per column, in column order), ``mse``, ``df``, the variance units and the R and
    Python calls that analyse the file."""
    kind = METHOD_NAMES[factors.method]
    rscales = [float(x) for x in factors.rscales]
    if factors.method == "jkn":
        r_rscales = "c(" + ", ".join(_r_number(x) for x in rscales) + ")"
    else:
        r_rscales = "1"
    svrep = (f'svrepdesign(data = d, weights = ~final_weight, repweights = "rw_[0-9]+", '
             f'type = "{kind}", scale = {_r_number(factors.scale)}, rscales = rscales, '
             f'combined.weights = TRUE, mse = FALSE)')
    python_kind = "jkn" if factors.method == "jkn" else "bootstrap"
    return {
        "variant": "replicates",
        "weight": "final_weight",
        "replicate_weights": f"rw_1 … rw_{factors.replicates}",
        "method": kind,
        "replicates": factors.replicates,
        "scale": float(factors.scale),
        "rscales": rscales,
        "mse": factors.mse,
        "df": factors.df,
        "combined_weights": True,
        "variance_units": {
            "units": units.n_units, "pseudo_strata": units.n_strata,
            "sites": units.n_sites, "districts": units.n_districts,
            "districts_merged": units.districts_merged,
            "min_respondents_per_wave": request.min_variance_unit,
            "smallest_unit_per_wave": units.smallest,
        },
        "r": "library(survey); d <- read.csv(\"FILE.csv\", fileEncoding = \"UTF-8-BOM\"); "
             f"rscales <- {r_rscales}; des <- {svrep}; svymean(~overall, des, na.rm = TRUE)",
        "python": PYTHON_REPLICATES.format(
            kind=python_kind, scale=_r_number(factors.scale),
            rscales="np.array(" + repr(rscales) + ")" if factors.method == "jkn" else "1"),
    }


def build(q: Questionnaire, cols: Sequence[Variable], plan: KPlan, scrub: Mapping[str, int],
          request: ExportRequest, rows: int, unknown: Mapping[str, int],
          design: Mapping[str, Any]) -> dict[str, Any]:
    """The codebook as a JSON-ready dict; ``design`` from :func:`label_design` or
    :func:`replicate_design` (its statement is added here, in zh-Hans and English)."""
    qi = [v.name for v in cols if v.role == "quasi_identifier"]
    design = dict(design)
    if design["variant"] == "labels":
        note = design["labels_are_quasi_identifiers"]
        design["labels_are_quasi_identifiers"] = {
            **note, **bilingual(LABELS_ARE_QUASI_IDENTIFIERS, small=note[
                "rows_in_small_classes"], rows=rows, k=note["k"])}
    else:
        units = design["variance_units"]
        method = METHODS[request.replicate_method]
        design["statement"] = {
            lang: bilingual(PUBLIC_USE, method=bilingual(method)[lang],
                            replicates=design["replicates"], units=units["units"],
                            strata=units["pseudo_strata"],
                            minimum=units["min_respondents_per_wave"])[lang]
            for lang in ("zh-Hans", "en")}
    return {
        "questionnaire": {"id": q.id, "version": q.version, "title": q.title.as_dict()},
        "exported_on": datetime.now(UTC).date().isoformat(),
        "filters": {"city": request.city, "wave": request.wave},
        "rows": rows,
        "encoding": "UTF-8 with BOM" if request.bom else "UTF-8",
        "free_text": "scrubbed" if request.include_text else "omitted",
        "quasi_identifiers": qi,
        **({"implicit_quasi_identifiers": ["variance unit (the replicate-weight pattern "
                                           "rw_r / final_weight)"]}
           if design["variant"] == "replicates" else {}),
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
        "design": design,
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
        *_design_lines(d),
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


def _design_lines(d: Mapping[str, Any]) -> list[str]:
    if d["variant"] == "labels":
        note = d["labels_are_quasi_identifiers"]
        return [f"{d['n_strata']} strata (districts) and {d['n_psu']} PSUs (sites), both as "
                "random labels drawn for this export.", "",
                f"**{note['en']}**", "", f"**{note['zh-Hans']}**", "", "R:", "",
                "```r", *d["r"].split("; "), "```", "", "Stata:", "",
                "```stata", *d["stata"].split("\n"), "```"]
    units = d["variance_units"]
    return [d["statement"]["en"], "", d["statement"]["zh-Hans"], "",
            f"- Method: {d['method']}; {d['replicates']} replicates ({d['replicate_weights']}, "
            f"combined weights); scale {d['scale']!r}; mse {d['mse']}; df {d['df']}.",
            "- rscales (one per column, rw_1 first): "
            + (", ".join(repr(x) for x in d["rscales"])) + ".",
            f"- Variance units: {units['units']} in {units['pseudo_strata']} pseudo-strata, "
            f"from {units['sites']} sites in {units['districts']} districts "
            f"({units['districts_merged']} districts merged into a neighbour); at least "
            f"{units['min_respondents_per_wave']} respondents per wave (smallest "
            f"{units['smallest_unit_per_wave']}).",
            "", "R:", "", "```r", *d["r"].split("; "), "```", "", "Python:", "",
            "```python", *d["python"].split("; "), "```"]


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
        # Any: pyreadstat's stubs changed the labels' type between 1.3.4 and 1.3.8
        labels: Any = [f"{v.label['zh-Hans']} / {v.label['en']}" for v in cols]
        pyreadstat.write_sav(frame, str(out), column_labels=labels,
                             variable_value_labels=value_labels)
    elif fmt == "dta":
        labels = [v.label["en"][:80] for v in cols]
        pyreadstat.write_dta(frame, str(out), column_labels=labels,
                             variable_value_labels=value_labels, version=15)
    else:
        raise ValueError(f"fmt must be 'sav' or 'dta', got {fmt!r}")
