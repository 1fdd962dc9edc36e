"""Reading questionnaire YAML files: YAML 1.2-style safe loading, pydantic validation, the
cross-field checks, and one-line :class:`QuestionnaireError` messages naming file, path and
reason, e.g.::

    questionnaires/tourism.yaml: sections[2].items[0].dimension: unknown dimension 'prices'
    (known: transport, accommodation, ...)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    ValidationError,
)

from survey.config import QUESTIONNAIRE_DIR, REPO_ROOT
from survey.core.questionnaires.checks import Problem, check
from survey.core.questionnaires.schema import Questionnaire


class FileError(ValueError):
    """A file of ours (questionnaire, evaluation rules) is invalid: ``str(error)`` is one
    line, ``<file>: <path>: <reason>``; ``file`` as displayed (relative to the repository
    root when inside it), ``path`` inside the file (``""`` for the whole file)."""

    def __init__(self, file: str | Path, path: str, reason: str) -> None:
        self.file = display_path(file)
        self.path = path
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.reason}"


class QuestionnaireError(FileError):
    """A questionnaire file is invalid.

    ``str(error)`` is one line: ``<file>: <path>: <reason>``, e.g.
    ``questionnaires/tourism.yaml: sections[2].items[0].dimension: unknown dimension 'x'``.

    Attributes
    ----------
    file : the file as displayed (relative to the repository root when inside it).
    path : location inside the file (``sections[2].items[0].dimension``, ``line 7`` for YAML
        syntax errors, ``""`` for the whole file).
    reason : what is wrong.
    """


def display_path(file: str | Path) -> str:
    """``file`` relative to the repository root when inside it, else as given."""
    path = Path(file)
    try:
        return path.resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(file)


# libyaml's parser when PyYAML has it (ten times faster: start-up of every command and
# worker reads all questionnaires); resolution and construction stay the Python ones below.
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """YAML 1.2-style scalars (``yes``/``no``/``on`` stay strings, ``14_17`` is not 1417)
    and duplicate keys are errors."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":int", ":float"))]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+)$"
    ),
    list("-+.0123456789"),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set[object] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def safe_load_yaml(text: str) -> Any:
    """YAML read the 1.2 way, as questionnaire files are (``14_17`` stays a string,
    ``yes``/``no`` stay strings, duplicate keys are errors); raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader


def format_loc(loc: tuple[int | str, ...]) -> str:
    """A pydantic error location as the path in the file: ``sections[2].items[0].id``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def pydantic_reason(error: Mapping[str, Any]) -> str:
    """One pydantic error as a reason a person can act on (also used for the evaluation
    rule files)."""
    kind = error["type"]
    msg = str(error["msg"])
    if kind == "extra_forbidden":
        return f"unknown key '{error['loc'][-1]}'"
    if kind == "missing":
        return f"missing required key '{error['loc'][-1]}'"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "literal_error":
        names = [part for part in error["loc"] if isinstance(part, str)]
        field = names[-1] if names else "value"
        noun = f"{field} value" if isinstance(error["loc"][-1], int) else field
        known = str((error.get("ctx") or {}).get("expected", "")).replace("'", "")
        known = known.replace(" or ", ", ")
        return f"unknown {noun} {error.get('input')!r} (known: {known})"
    if kind == "union_tag_invalid":
        ctx = error.get("ctx") or {}
        known = str(ctx.get("expected_tags", "")).replace("'", "")
        key = str(ctx.get("discriminator", "tag")).strip("'")
        return f"unknown {key} {ctx.get('tag')!r} (known: {known})"
    if kind == "union_tag_not_found":
        ctx = error.get("ctx") or {}
        key = str(ctx.get("discriminator", "type")).strip("'")
        return f"missing required key '{key}'"
    if kind == "string_pattern_mismatch":
        return f"invalid identifier {error.get('input')!r} (use lower-case letters, digits and _)"
    return msg


def first_error(exc: ValidationError) -> tuple[tuple[int | str, ...], str]:
    """The location and reason of pydantic's first error, the reason saying how many more
    there are."""
    errors = exc.errors()
    reason = pydantic_reason(errors[0])
    if len(errors) > 1:
        reason += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return tuple(errors[0]["loc"]), reason


def parse_questionnaire(data: object, source: str | Path = "<memory>") -> Questionnaire:
    """Validate already-parsed YAML/JSON ``data``; errors name ``source``.

    Raises
    ------
    QuestionnaireError
        On the first problem found (the reason says how many more pydantic found).
    """
    if not isinstance(data, Mapping):
        raise QuestionnaireError(source, "", "expected a mapping at the top level")
    try:
        q = Questionnaire.model_validate(data)
    except ValidationError as exc:
        loc, reason = first_error(exc)
        raise QuestionnaireError(source, format_loc(loc), reason) from None
    try:
        check(q)
    except Problem as problem:
        raise QuestionnaireError(source, problem.path, problem.reason) from None
    return q


def load_questionnaire(path: str | Path) -> Questionnaire:
    """Read and validate one questionnaire YAML file.

    Raises
    ------
    QuestionnaireError
        Unreadable file, bad YAML syntax (path ``line N``), or any schema problem.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionnaireError(path, "", f"cannot read file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise QuestionnaireError(path, where, f"invalid YAML: {problem}") from None
    return parse_questionnaire(data, path)


def load_questionnaires(directory: str | Path = QUESTIONNAIRE_DIR) -> dict[str, Questionnaire]:
    """Load every ``*.yaml`` / ``*.yml`` file of ``directory``, keyed by questionnaire id.

    Raises
    ------
    QuestionnaireError
        For the first bad file, or when two files declare the same ``id``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise QuestionnaireError(directory, "", "not a directory")
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    loaded: dict[str, Questionnaire] = {}
    origin: dict[str, Path] = {}
    for file in files:
        q = load_questionnaire(file)
        if q.id in loaded:
            other = display_path(origin[q.id])
            raise QuestionnaireError(
                file, "id", f"duplicate questionnaire id '{q.id}' (also in {other})"
            )
        loaded[q.id] = q
        origin[q.id] = file
    return loaded
