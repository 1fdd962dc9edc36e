"""Raking a city's responses to population margins (``manyi weights rake``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import create_engine, select, text

import analysis
from survey.core.db import get_session
from survey.core.models import City
from survey.dashboard.estimates import Filters, Scope, Settings, kpis_by_split
from survey.demo.data import load_demo
from tests.helpers import manyi

MARGINS = """\
district: population
age_band:
  young: {share: 0.30, codes: [14_17, 18_29, 30_44]}
  middle: {share: 0.40, codes: [45_59]}
  older: {share: 0.30, codes: [60_69, 70_79, 80_plus]}
gender: {male: 0.51, female: 0.49}
"""


@pytest.fixture
def loaded(app):  # type: ignore[no-untyped-def]
    with app.app_context():
        load_demo(get_session(), app.extensions["manyi.questionnaires"], cities=1,
                  responses=3000, seed=4, end_wave="2026Q4")
    return app


def _rake(app, db_url: str, tmp_path: Path, margins: str, *extra: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "margins.yaml"
    path.write_text(margins, encoding="utf-8")
    env = {**os.environ, "MANYI_DATABASE_URL": db_url, "MANYI_INSTANCE_DIR": str(tmp_path)}
    return manyi("weights", "rake", "--city", "hangzhou", "--questionnaire",
                 "healthcare", "--wave", "2026Q4", "--margins", str(path), *extra, env=env)


def _rows(db_url: str) -> dict[str, np.ndarray]:
    engine = create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT r.final_weight, r.design_weight, d.code, r.age_band, r.gender, "
            "r.overall_score, r.district_id, r.site_id FROM response r "
            "JOIN district d ON d.id = r.district_id WHERE r.questionnaire = 'healthcare' "
            "AND r.wave = '2026Q4' AND r.status = 'valid' ORDER BY r.id")).all()
        populations = dict(conn.execute(text("SELECT code, population FROM district")).all())
    engine.dispose()
    cols = list(zip(*rows, strict=True))
    out = {name: np.array(col, dtype=object) for name, col in zip(
        ("w", "design", "district", "age", "gender", "overall", "district_id", "site_id"),
        cols, strict=True)}
    out["populations"] = populations  # type: ignore[assignment]
    return out


def test_raked_weights_meet_every_margin(loaded, db_url, tmp_path):
    result = _rake(loaded, db_url, tmp_path, MARGINS)
    assert result.returncode == 0, result.stderr
    assert '"converged": true' in result.stdout
    r = _rows(db_url)
    w = r["w"].astype(float)
    total = sum(r["populations"].values())
    assert w.sum() == pytest.approx(total, rel=1e-9)
    for code, population in r["populations"].items():
        assert w[r["district"] == code].sum() == pytest.approx(population, rel=1e-8)
    older = np.isin(r["age"], ["60_69", "70_79", "80_plus"])
    assert w[older].sum() / total == pytest.approx(0.30, rel=1e-8)
    assert w[r["gender"] == "female"].sum() / total == pytest.approx(0.49, rel=1e-8)
    assert (r["design"].astype(float) == 1.0).all()  # design weights are kept


def test_the_dashboard_uses_the_raked_weights(loaded, db_url, tmp_path):
    before = _dashboard_index(loaded)
    assert _rake(loaded, db_url, tmp_path, MARGINS).returncode == 0
    after = _dashboard_index(loaded)
    r = _rows(db_url)
    expected = analysis.mean(r["overall"].astype(float), weights=r["w"].astype(float),
                             strata=r["district_id"].astype(int),
                             clusters=r["site_id"].astype(int),
                             single_psu=loaded.config["SINGLE_PSU"])
    assert after.estimate == pytest.approx(expected.estimate, rel=1e-9)
    assert after.standard_error == pytest.approx(expected.standard_error, rel=1e-9)
    assert after.estimate != pytest.approx(before.estimate, rel=1e-12)
    assert after.n_effective < after.n  # unequal weights cost precision, and it is shown


def _dashboard_index(app):  # type: ignore[no-untyped-def]
    """The city overview's index for healthcare in 2026Q4, as the dashboard computes it."""
    with app.app_context():
        session = get_session()
        city_id = session.scalar(select(City.id).where(City.code == "hangzhou"))
        settings = Settings(app.config["SINGLE_PSU"], app.config["MIN_CELL_SIZE"])
        kpi = kpis_by_split(session, settings, Scope(("healthcare",), ("2026Q4",), city_id),
                            Filters(), [])[()]
        return kpi.index.estimate


@pytest.mark.parametrize("margins, message", [
    ("gender: {male: 0.5}\n", "gender: the sample has values not in the margins: female"),
    ("gender: {male: 0.5, female: 0.4, other: 0.1}\n", "no respondent in level(s) other"),
    ("colour: {red: 1}\n", "colour: unknown variable"),
    ("gender: {male: -1, female: 1}\n", "gender.male: must be positive"),
    ("gender: [male\n", "cannot read margins"),
])
def test_bad_margins_give_one_clear_line_and_change_nothing(loaded, db_url, tmp_path,
                                                            margins, message):
    before = _rows(db_url)["w"]
    result = _rake(loaded, db_url, tmp_path, margins)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert (_rows(db_url)["w"] == before).all()


def _margins_met(r: dict[str, np.ndarray]) -> None:
    w = r["w"].astype(float)
    total = sum(r["populations"].values())
    assert w.sum() == pytest.approx(total, rel=1e-9)
    for code, population in r["populations"].items():
        assert w[r["district"] == code].sum() == pytest.approx(population, rel=1e-8)
    for codes, share in ((["14_17", "18_29", "30_44"], 0.30), (["45_59"], 0.40),
                         (["60_69", "70_79", "80_plus"], 0.30)):
        assert w[np.isin(r["age"], codes)].sum() / total == pytest.approx(share, rel=1e-8)
    assert w[r["gender"] == "female"].sum() / total == pytest.approx(0.49, rel=1e-8)
    assert w[r["gender"] == "male"].sum() / total == pytest.approx(0.51, rel=1e-8)


def test_trim_is_bounded_raking_that_keeps_every_margin(loaded, db_url, tmp_path):
    assert _rake(loaded, db_url, tmp_path, MARGINS).returncode == 0
    free = _rows(db_url)["w"].astype(float)
    free_ratio = free / free.mean()  # design weights are all 1: ratio = w / mean weight
    assert free_ratio.min() < 0.45 and free_ratio.max() > 3.5  # the bounds below bind
    result = _rake(loaded, db_url, tmp_path, MARGINS, "--trim", "0.45,3.5")
    assert result.returncode == 0, result.stderr
    assert '"converged": true' in result.stdout
    r = _rows(db_url)
    _margins_met(r)  # trimming after raking broke these; bounded raking keeps them
    w = r["w"].astype(float)
    scaled_design = r["design"].astype(float) * w.sum() / r["design"].astype(float).sum()
    ratio = w / scaled_design
    assert ratio.min() > 0.45 and ratio.max() < 3.5


@pytest.mark.parametrize("trim, message", [
    ("0.6,1.5", "--trim (0.6, 1.5) are infeasible: margin 'age_band' level 'middle' "
                "needs weight ratio = 2.729"),
    ("1.2,3", "--trim must satisfy 0 ≤ lower < 1 < upper"),
])
def test_infeasible_trim_gives_a_clear_error_and_changes_nothing(loaded, db_url, tmp_path,
                                                                 trim, message):
    assert _rake(loaded, db_url, tmp_path, MARGINS).returncode == 0
    before = _rows(db_url)["w"]
    result = _rake(loaded, db_url, tmp_path, MARGINS, "--trim", trim)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
    assert (_rows(db_url)["w"] == before).all()
