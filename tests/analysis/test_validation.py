"""Every public estimator validates its input and names the argument in a ValueError."""

from __future__ import annotations

import numpy as np
import pytest

import analysis


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"weights": [1.0, 2.0]}, "weights"),
        ({"weights": [1.0, -1.0, 2.0]}, "weights"),
        ({"weights": [0.0, 0.0, 0.0]}, "weights"),
        ({"weights": [1.0, np.nan, 1.0]}, "weights"),
        ({"strata": [1, 2]}, "strata"),
        ({"clusters": [1, 2, 3, 4]}, "clusters"),
        ({"by": ["a"]}, "by"),
        ({"confidence_level": 1.0}, "confidence_level"),
        ({"confidence_level": 0.0}, "confidence_level"),
        ({"confidence_level": 95}, "confidence_level"),
        ({"single_psu": "skip"}, "single_psu"),
        ({"fpc": [1.0, -2.0, 1.0]}, "fpc"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, name):
    with pytest.raises(ValueError, match=name):
        analysis.mean([1.0, 2.0, 3.0], **kwargs)


def test_nan_in_y_is_rejected():
    with pytest.raises(ValueError, match="`y`"):
        analysis.mean([1.0, np.nan, 3.0])


def test_nan_outside_where_is_allowed():
    e = analysis.mean([1.0, np.nan, 3.0], where=np.array([True, False, True]))
    assert e.estimate == 2.0 and e.n == 2


def test_all_zero_weight_domain_is_rejected():
    with pytest.raises(ValueError, match="weights"):
        analysis.mean([1.0, 2.0, 3.0], weights=[0.0, 1.0, 1.0], by=["a", "b", "b"])


def test_total_and_proportion_validate_too():
    with pytest.raises(ValueError, match="weights"):
        analysis.total([1.0, 2.0], weights=[1.0])
    with pytest.raises(ValueError, match="confidence_level"):
        analysis.proportion([1, 0], 1, confidence_level=-0.5)


def test_confidence_level_changes_interval_width():
    narrow = analysis.mean([1.0, 4, 2, 8, 5], confidence_level=0.5)
    wide = analysis.mean([1.0, 4, 2, 8, 5], confidence_level=0.99)
    assert wide.ci_high - wide.ci_low > narrow.ci_high - narrow.ci_low
    assert narrow.confidence_level == 0.5


def test_results_are_frozen():
    e = analysis.mean([1.0, 2.0])
    with pytest.raises(AttributeError):
        e.estimate = 3.0  # type: ignore[misc]


def test_analysis_imports_no_web_or_database_code():
    import subprocess
    import sys

    code = (
        "import sys, analysis, analysis.cli; "
        "bad = [m for m in ('flask', 'sqlalchemy', 'survey', 'pandas') if m in sys.modules]; "
        "print(bad); sys.exit(bool(bad))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_proportion_rejects_nan_but_allows_it_outside_where():
    with pytest.raises(ValueError, match="`y`"):
        analysis.proportion([1.0, np.nan, 0.0], 1.0)
    e = analysis.proportion([1.0, np.nan, 0.0], 1.0, where=np.array([True, False, True]))
    assert e.estimate == 0.5


@pytest.mark.parametrize(
    "module",
    ["design", "estimators", "weighting", "indices", "bootstrap", "results", "quantiles",
     "replicates", "units", "calibration"],
)
def test_docstring_examples_hold(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"analysis.{module}"))
    assert result.failed == 0
