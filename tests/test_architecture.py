"""The layout rules of docs/architecture.md, checked on the real tree: the import-linter
contract holds and covers every feature, the contract catches a broken rule, `analysis`
imports only numpy/scipy, and every feature plugs in through ``init_app``."""

from __future__ import annotations

import configparser
import importlib
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

import survey
from survey.app import FEATURES

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
ADAPTER_MARKERS = ("Blueprint(", "@click.command", "@click.group")


def _contracts() -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / ".importlinter")
    return {name.removeprefix("importlinter:contract:"): dict(parser[name])
            for name in parser.sections() if name.startswith("importlinter:contract:")}


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _feature_packages() -> list[str]:
    """Every package directly under survey/ except the core."""
    return sorted(m.name for m in pkgutil.iter_modules(survey.__path__, "survey.")
                  if m.ispkg and m.name != "survey.core")


def _adapter_modules(package: str) -> list[str]:
    """Modules of ``package`` that define a blueprint or a click command."""
    folder = ROOT / package.replace(".", "/")
    return sorted(f"{package}.{p.stem}" for p in folder.glob("*.py")
                  if p.stem != "__init__" and any(m in p.read_text() for m in ADAPTER_MARKERS))


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=root, capture_output=True,
                          text=True, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
                          timeout=120)


def test_the_import_contract_holds():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_feature_is_registered_and_has_an_adapter_contract():
    features = _feature_packages()
    assert sorted(f.__name__ for f in FEATURES) == features
    contracts = _contracts()
    layer = next(line for line in _lines(contracts["layers"]["layers"])
                 if "survey.respond" in line)
    assert sorted(x.strip() for x in layer.split(":")) == features
    for feature in features:
        adapters = _adapter_modules(feature)
        assert adapters, f"{feature} has no views or commands"
        [contract] = [c for name, c in contracts.items()
                      if name == f"{feature.removeprefix('survey.')}-adapters"]
        assert sorted(_lines(contract["forbidden_modules"])) == adapters
        sources = set(_lines(contract["source_modules"]))
        assert sources == {"survey.core", *features} - {feature}


def test_every_feature_plugs_in_through_init_app(app):
    for feature in FEATURES:
        assert callable(feature.init_app), feature.__name__
    assert {"respond", "auth", "admin", "dashboard", "assets", "export", "api", "agency",
            "agency_api"} <= set(app.blueprints)
    assert {"users", "demo", "agency", "export", "weights"} <= set(app.cli.commands)


def test_analysis_imports_only_numpy_scipy_and_the_standard_library():
    graph = grimp.build_graph("analysis", include_external_packages=True, cache_dir=None)
    external = {m for m in graph.modules if not m.startswith("analysis")}
    imported = {ext for ext in external
                if any(graph.direct_import_exists(importer=m, imported=ext)
                       for m in graph.find_descendants("analysis") | {"analysis"})}
    allowed = {"numpy", "scipy"} | set(sys.stdlib_module_names)
    assert imported and imported <= allowed, imported - allowed


def test_no_module_imports_another_in_a_cycle():
    """Module by module (not only between sibling packages), function-level imports too."""
    graph = grimp.build_graph("survey", "analysis", cache_dir=None)
    modules = sorted(graph.modules)
    index, low, on_stack, stack, cycles = {}, {}, set(), [], []
    counter = [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.find_modules_directly_imported_by(node)):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in modules:
        if module not in index:
            visit(module)
    assert not cycles, cycles


def _tree_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    copy.mkdir()
    for name in ("survey", "analysis"):
        shutil.copytree(ROOT / name, copy / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.mo", "templates",
                                                      "translations"))
    shutil.copy(ROOT / ".importlinter", copy / ".importlinter")
    return copy


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("survey/core/audit.py", "from survey.dashboard import estimates", "features > core"),
    ("survey/export/service.py", "from survey.agency import views", "agency: views"),
    # places → responses.ingest → waves already; this closes a loop
    ("survey/core/waves.py", "from survey.core import places", "no import cycles"),
    ("analysis/estimators.py", "import flask", "analysis imports only"),
])
def test_a_broken_rule_fails_the_contract(tmp_path, module, line, contract):
    tree = _tree_copy(tmp_path)
    target = tree / module
    target.write_text(target.read_text() + f"\n\ndef _planted() -> None:\n    {line}\n")
    result = _lint(tree)
    assert result.returncode != 0
    broken = [ln for ln in result.stdout.splitlines() if ln.endswith("BROKEN")]
    assert any(contract in ln for ln in broken), result.stdout


def test_every_module_imports():
    """No stale names after a move: every module of both packages imports."""
    for package in (survey, importlib.import_module("analysis")):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith(".__main__"):
                importlib.import_module(info.name)


def test_make_test_runs_the_static_checks_before_the_suite():
    """`make test` stops on ruff, lint-imports or mypy before pytest runs (a dry run)."""
    plan = subprocess.run(["make", "-n", "-W", "pyproject.toml", "test"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60).stdout.splitlines()
    steps = [next(i for i, line in enumerate(plan) if tool in line)
             for tool in ("ruff check", "lint-imports", "mypy", "pytest")]
    assert steps == sorted(steps), plan
