"""Questionnaire definitions: the YAML format (:mod:`.schema`), its cross-field checks
(:mod:`.checks`) and the loader (:mod:`.loader`).

A questionnaire is one YAML file under ``questionnaires/`` (the format is described in
``docs/questionnaires.md``). :func:`load_questionnaire` parses and validates it once, at
start-up; every problem is a one-line :class:`QuestionnaireError` naming the file, the path
inside it and what is wrong.
"""

from survey.core.questionnaires.loader import (
    QuestionnaireError,
    load_questionnaire,
    load_questionnaires,
    parse_questionnaire,
    safe_load_yaml,
)
from survey.core.questionnaires.schema import (
    DEFAULT_NA_LABEL,
    DOMAINS,
    ITEM_TYPES,
    LANGUAGES,
    NA,
    NA_CODE,
    SITE_KINDS,
    TEXT_MAX_LENGTH,
    UNDER_14,
    AhpMatrix,
    Dimension,
    IndexSpec,
    Item,
    LocalizedText,
    NotApplicable,
    Option,
    Questionnaire,
    SatisfactionRate,
    Scale,
    Section,
    ShowIf,
    answer_codes,
)

__all__ = [
    "DOMAINS",
    "ITEM_TYPES",
    "LANGUAGES",
    "NA",
    "NA_CODE",
    "SITE_KINDS",
    "DEFAULT_NA_LABEL",
    "TEXT_MAX_LENGTH",
    "UNDER_14",
    "AhpMatrix",
    "Dimension",
    "IndexSpec",
    "Item",
    "LocalizedText",
    "NotApplicable",
    "Option",
    "Questionnaire",
    "QuestionnaireError",
    "SatisfactionRate",
    "Scale",
    "Section",
    "ShowIf",
    "answer_codes",
    "load_questionnaire",
    "load_questionnaires",
    "parse_questionnaire",
    "safe_load_yaml",
]
