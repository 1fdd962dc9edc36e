"""survey.agency.screening on synthetic arrays with planted problems: each check finds exactly
what was planted, with the figure computed independently."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from scipy import stats

from survey.agency import screening
from survey.agency.screening import Settings
from survey.core.waves import CHINA_TZ, wave_bounds


def answers(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(1, 6, size=(n, k)).astype(float)


def test_speeders_are_below_the_factor_times_the_median():
    d = np.array([600.0] * 20 + [100.0, 150.0, 250.0])
    rows = np.arange(1, 24)
    r = screening.speeders(d, rows)
    assert r.detail["median_seconds"] == 600.0 and r.detail["min_seconds"] == 200.0
    assert r.flagged_rows == (21, 22) and r.figure == pytest.approx(2 / 23)
    loose = screening.speeders(d, rows, Settings(speeder_factor=0.5))
    assert loose.flagged_rows == (21, 22, 23)


def test_straightlining_needs_identical_answers_across_enough_items():
    a = answers(50, 12, seed=1)
    a[3] = 5.0
    a[8, :7] = 2.0
    a[8, 7:] = np.nan            # only 7 answered: not judged
    a[9, :] = 3.0
    a[9, 0] = np.nan             # 11 identical answers and one N/A: straight-lined
    r = screening.straightlining(a, np.arange(1, 51))
    assert r.flagged_rows == (4, 10) and r.figure == pytest.approx(2 / 50)


def test_exact_and_near_duplicates_flag_the_later_copy_within_a_questionnaire():
    a = answers(100, 20, seed=2)
    a[40] = a[5]                 # exact
    a[60] = a[7]
    a[60, 3] = 1 if a[7, 3] != 1 else 2    # 19/20 = 95 % identical: near
    a[70] = a[9]
    a[70, :2] = (a[9, :2] % 5) + 1          # 18/20 = 90 %: not near
    groups = np.array(["q"] * 100)
    r = screening.duplicates(a, a, groups, np.arange(1, 101))
    assert r.flagged_rows == (41, 61)
    assert (r.detail["exact"], r.detail["near"]) == (1, 1)
    assert r.figure == pytest.approx(0.02)
    other = groups.copy()
    other[40] = "other"          # a different questionnaire is never a duplicate
    assert screening.duplicates(a, a, other, np.arange(1, 101)).flagged_rows == (61,)


def test_icc_matches_an_anova_written_out_and_scipy_f():
    rng = np.random.default_rng(3)
    labels = np.repeat([f"i{k}" for k in range(8)], 25)
    effect = np.repeat(rng.normal(0, 6, 8), 25)
    scores = 70 + effect + rng.normal(0, 10, 200)
    icc, f_stat, p = screening.variance_between(scores, labels)
    groups = [scores[labels == g] for g in np.unique(labels)]
    ref = stats.f_oneway(*groups)
    assert f_stat == pytest.approx(ref.statistic) and p == pytest.approx(ref.pvalue)
    msw = sum(((g - g.mean()) ** 2).sum() for g in groups) / (200 - 8)
    msb = sum(25 * (g.mean() - scores.mean()) ** 2 for g in groups) / 7
    assert icc == pytest.approx((msb - msw) / (msb + 24 * msw))


def test_a_too_uniform_interviewer_is_an_outlier():
    rng = np.random.default_rng(4)
    labels = np.repeat([f"i{k}" for k in range(6)], 30)
    scores = rng.normal(70, 12, 180)
    scores[labels == "i4"] = 71 + rng.normal(0, 1, 30)    # fabricated: nearly identical
    r = screening.interviewer_effect(scores, labels, np.zeros(180, bool), np.arange(1, 181))
    assert [o["interviewer"] for o in r.detail["outliers"]] == ["i4"]
    assert r.detail["outliers"][0]["reasons"] == ["uniform"]
    assert r.flagged_rows == tuple(range(121, 151)) and not r.passed


def test_timestamps_outside_the_wave_night_bursts_and_overlaps():
    start, end = wave_bounds("2026Q3")

    def t(*args: int) -> float:
        return datetime(*args, tzinfo=CHINA_TZ).timestamp()

    begin = np.array([t(2026, 8, 1, 10), t(2026, 8, 1, 11), t(2026, 6, 30, 10),
                      t(2026, 8, 2, 23), t(2026, 8, 2, 23, 20), t(2026, 8, 2, 23, 40),
                      t(2026, 8, 3, 10), t(2026, 8, 3, 10, 5), t(2026, 8, 4, 23)])
    finish = begin + 600
    who = np.array(["a", "a", "a", "b", "b", "b", "c", "c", "d"])
    r = screening.timestamps(begin, finish, who, np.arange(1, 10), start.timestamp(),
                             end.timestamp())
    assert r.detail["outside_wave_rows"] == [3]
    assert r.detail["night_burst_rows"] == [4, 5, 6]     # a lone night interview is fine
    assert r.detail["overlap_rows"] == [7, 8]
    assert r.flagged_rows == (3, 4, 5, 6, 7, 8) and r.figure == pytest.approx(6 / 9)


def test_composition_reports_the_largest_margin_deviation():
    n = 200
    ages = np.array(["60_69"] * 120 + ["30_44"] * 80)
    gender = np.array(["male", "female"] * 100)
    districts = np.array([1] * 150 + [2] * 50)
    r = screening.composition(ages, gender, districts, {1: 500_000, 2: 500_000})
    age_dev = abs(120 / n - screening.NATIONAL_AGE_SHARES["60_69"])
    assert r.figure == pytest.approx(age_dev, abs=1e-9)
    assert r.detail["margins"]["district"]["max_deviation"] == pytest.approx(0.25)
    assert not r.passed and r.flagged_rows == ()
    chi2 = ((150 - 100) ** 2 + (50 - 100) ** 2) / 100
    assert r.detail["margins"]["district"]["chi2"] == pytest.approx(chi2)


def test_item_nonresponse_per_item_among_those_asked():
    asked = np.ones((10, 3), bool)
    asked[:5, 2] = False                     # item c asked of 5 rows only
    missing = np.zeros((10, 3), bool)
    missing[:3, 0] = True                    # a: 3/10
    missing[5:8, 2] = True                   # c: 3/5
    missing[9, :] = True                     # row 10 misses everything
    r = screening.item_nonresponse(asked, missing, ["a", "b", "c"], np.arange(1, 11))
    assert r.figure == pytest.approx(4 / 5)                  # c: rows 6, 7, 8, 10
    assert [i["item"] for i in r.detail["items"]] == ["a", "c"]
    assert r.flagged_rows == (10,)


# --------------------------------------------------------------------------- empty batches
# A batch whose every row was invalid is screened with zero rows (and a questionnaire may
# have no scale item: zero columns). Every check passes with figure 0 and flags nothing.

NONE_I = np.array([], dtype=np.int64)
NONE_F = np.array([], dtype=float)
NONE_S = np.array([], dtype=str)


def test_the_straightline_mask_of_no_row_or_no_scale_item_is_empty_or_false():
    assert screening.straightline_mask(np.zeros((0, 0))).shape == (0,)
    assert screening.straightline_mask(np.zeros((0, 12))).shape == (0,)
    assert screening.straightline_mask(np.zeros((3, 0))).tolist() == [False] * 3


@pytest.mark.parametrize("name", screening.CHECK_NAMES)
def test_each_check_passes_an_empty_batch_with_figure_zero(name):
    s = screening.DEFAULT_SETTINGS
    run = {
        "duplicates": lambda: screening.duplicates(np.zeros((0, 0)), np.zeros((0, 0)), NONE_S,
                                                   NONE_I),
        "speeders": lambda: screening.speeders(NONE_F, NONE_I),
        "straightlining": lambda: screening.straightlining(np.zeros((0, 0)), NONE_I),
        "interviewer_effect": lambda: screening.interviewer_effect(
            NONE_F, NONE_S, np.array([], dtype=bool), NONE_I),
        "timestamps": lambda: screening.timestamps(NONE_F, NONE_F, NONE_S, NONE_I, 0.0, 1e10),
        "composition": lambda: screening.composition(NONE_S, NONE_S, NONE_I, {1: 1000}),
        "item_nonresponse": lambda: screening.item_nonresponse(
            np.zeros((0, 2), bool), np.zeros((0, 2), bool), ["a", "b"], NONE_I),
    }[name]
    r = run()
    assert (r.name, r.figure, r.flagged_rows, r.passed) == (name, 0.0, (), True)
    assert r.threshold == {"duplicates": s.duplicates_threshold,
                           "speeders": s.speeders_threshold,
                           "straightlining": s.straightlining_threshold,
                           "interviewer_effect": s.icc_threshold,
                           "timestamps": s.timestamps_threshold,
                           "composition": s.composition_threshold,
                           "item_nonresponse": s.item_nonresponse_threshold}[name]
    detail = r.as_dict()["detail"]
    if name == "speeders":
        assert detail["median_seconds"] is None and detail["rows_with_duration"] == 0
    if name == "interviewer_effect":
        assert detail["outliers"] == [] and detail["f"] is None and detail["p"] is None
    if name == "composition":
        assert detail["judged"] is False and set(detail["margins"].values()) == {None}
    if name == "item_nonresponse":
        assert detail["items"] == [] and detail["worst_item"] is None   # nobody was asked


def test_screening_a_batch_without_rows_runs_every_check():
    data = screening.BatchData(
        rows=NONE_I, answers=np.zeros((0, 0)), vectors=np.zeros((0, 0)), groups=NONE_S,
        overall=NONE_F, durations=NONE_F, interviewers=NONE_S, started=NONE_F,
        submitted=NONE_F, wave_start=None, wave_end=None, asked=np.zeros((0, 0), bool),
        missing=np.zeros((0, 0), bool), item_names=[], age_band=NONE_S, gender=NONE_S,
        districts=NONE_I, district_population={})
    checks = screening.screen(data)
    assert [(c.name, c.figure, c.passed, c.flagged_rows) for c in checks] == [
        (name, 0.0, True, ()) for name in screening.CHECK_NAMES]
    assert checks[-1].detail["worst_item"] is None
