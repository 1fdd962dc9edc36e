"""Shared fixtures: the California API samples shipped with R ``survey`` (tests/data/api)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

API_DIR = Path(__file__).resolve().parents[1] / "data" / "api"


class ApiTable:
    """Columns of an API CSV: ``num(name)`` as floats (NA → NaN), ``text(name)`` as strings."""

    def __init__(self, path: Path) -> None:
        with path.open(encoding="utf-8", newline="") as handle:
            self.rows = list(csv.DictReader(handle))

    def num(self, name: str) -> np.ndarray:
        return np.array([np.nan if r[name] == "NA" else float(r[name]) for r in self.rows])

    def text(self, name: str) -> np.ndarray:
        return np.array([r[name] for r in self.rows])


@pytest.fixture(scope="session")
def apistrat() -> ApiTable:
    return ApiTable(API_DIR / "apistrat.csv")


@pytest.fixture(scope="session")
def apiclus1() -> ApiTable:
    return ApiTable(API_DIR / "apiclus1.csv")


@pytest.fixture(scope="session")
def apisrs() -> ApiTable:
    return ApiTable(API_DIR / "apisrs.csv")
