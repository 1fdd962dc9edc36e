"""Satisfaction indices.

Sources: Saaty (2008, Int. J. Services Sciences 1:1) drinks example; entropy example in
/work/shared/REFERENCES.md; Hoyt (1941) ANOVA identity for Cronbach's alpha
(α = 1 − MS_residual/MS_persons), an independent formula; Johnson (2000) relative weights
sum to R² and equal squared correlations for uncorrelated predictors; ACSI index convention
(Fornell et al. 1996): index = Σ w_i (x̄_i − 1)/9 × 100 for 1–10 items.
"""

from __future__ import annotations

import numpy as np
import pytest

import analysis

DRINKS = [
    [1, 9, 5, 2, 1, 1, 1 / 2],
    [1 / 9, 1, 1 / 3, 1 / 9, 1 / 9, 1 / 9, 1 / 9],
    [1 / 5, 3, 1, 1 / 3, 1 / 4, 1 / 3, 1 / 9],
    [1 / 2, 9, 3, 1, 1 / 2, 1, 1 / 3],
    [1, 9, 4, 2, 1, 2, 1 / 2],
    [1, 9, 3, 1, 1 / 2, 1, 1 / 3],
    [2, 9, 9, 3, 2, 3, 1],
]


def test_ahp_saaty_drinks_example():
    r = analysis.ahp_weights(DRINKS)
    assert r.weights == pytest.approx(
        [0.1775, 0.0191, 0.0418, 0.1164, 0.1896, 0.1288, 0.3268], abs=5e-5
    )
    assert r.lambda_max == pytest.approx(7.17663, abs=5e-6)
    assert r.consistency_index == pytest.approx(0.029438, abs=5e-7)
    assert r.consistency_ratio == pytest.approx(0.02230, abs=5e-6)


def test_ahp_random_index_is_a_parameter():
    r = analysis.ahp_weights(DRINKS, random_index=[0, 0, 0.52, 0.89, 1.11, 1.25, 1.35])
    assert r.consistency_ratio == pytest.approx(r.consistency_index / 1.35)


def test_ahp_consistent_matrix_has_lambda_n():
    w = np.array([0.5, 0.3, 0.2])
    r = analysis.ahp_weights(w[:, None] / w[None, :])
    assert r.weights == pytest.approx(w, rel=1e-12)
    assert r.consistency_index == pytest.approx(0.0, abs=1e-12)


def test_ahp_rejects_non_reciprocal_matrix():
    with pytest.raises(ValueError, match="reciprocal"):
        analysis.ahp_weights([[1, 2], [2, 1]])


def test_entropy_reference_example():
    r = analysis.entropy_weights([[80, 94, 99], [79, 92, 91], [70, 80, 77], [76, 80, 90]])
    assert r.entropy == pytest.approx([0.999045, 0.997939, 0.997138], abs=5e-7)
    assert r.weights == pytest.approx([0.16241, 0.35066, 0.48693], abs=5e-6)


def test_cronbach_alpha_equals_hoyt_anova():
    rng = np.random.default_rng(5)
    trait = rng.normal(size=(60, 1))
    x = trait + rng.normal(scale=0.8, size=(60, 4))
    n, k = x.shape
    grand = x.mean()
    ss_persons = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_items = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_residual = ((x - grand) ** 2).sum() - ss_persons - ss_items
    hoyt = 1 - (ss_residual / ((n - 1) * (k - 1))) / (ss_persons / (n - 1))
    assert analysis.cronbach_alpha(x) == pytest.approx(hoyt, rel=1e-12)


def test_importance_performance_relative_weights_sum_to_r_squared():
    rng = np.random.default_rng(7)
    x = rng.normal(70, 10, size=(300, 5)) + rng.normal(0, 5, size=(300, 1))
    y = x @ np.array([0.4, 0.1, 0.3, 0.0, 0.2]) + rng.normal(0, 5, 300)
    r = analysis.importance_performance(x, y, weights=rng.uniform(1, 2, 300))
    assert r.importance.sum() == pytest.approx(r.r_squared, rel=1e-10)
    assert 0 < r.r_squared < 1
    assert set(r.quadrant) <= {
        "concentrate here",
        "keep up the good work",
        "low priority",
        "possible overkill",
    }


def test_importance_performance_from_moments_equals_the_row_version():
    # the dashboard sends SQL sums (survey.dashboard.estimates.importance_performance)
    rng = np.random.default_rng(11)
    x = rng.normal(70, 10, size=(2000, 5)) + rng.normal(0, 5, size=(2000, 1))
    y = x @ np.array([0.4, 0.1, 0.3, 0.0, 0.2]) + rng.normal(0, 5, 2000)
    w = rng.uniform(0.5, 3, 2000)
    rows = analysis.importance_performance(x, y, weights=w)
    z = np.column_stack([x, y])
    moments = analysis.importance_performance_from_moments(
        float(w.sum()), w @ z, (z * w[:, None]).T @ z, 2000)
    for name in ("importance", "coefficients", "performance"):
        assert getattr(moments, name) == pytest.approx(getattr(rows, name), rel=1e-10), name
    assert moments.r_squared == pytest.approx(rows.r_squared, rel=1e-10)
    assert moments.quadrant == rows.quadrant
    with pytest.raises(ValueError, match="constant column"):
        analysis.importance_performance_from_moments(
            4.0, np.array([4.0, 8.0]), np.array([[4.0, 8.0], [8.0, 16.0]]), 4)


def test_relative_weights_of_uncorrelated_predictors_are_squared_correlations():
    x = np.array([[1.0, 1], [1, -1], [-1, 1], [-1, -1]] * 5)
    y = 2 * x[:, 0] + x[:, 1] + np.tile([0.3, -0.3, -0.3, 0.3, 0.1], 4)
    r = analysis.importance_performance(x, y)
    correlations = [np.corrcoef(x[:, j], y)[0, 1] ** 2 for j in range(2)]
    assert r.importance == pytest.approx(correlations, rel=1e-10)


def test_quadrants():
    x = np.random.default_rng(1).normal(size=(200, 2)) * [10, 10] + [80, 60]
    y = 3 * x[:, 1] + 0.1 * x[:, 0] + np.random.default_rng(2).normal(size=200)
    r = analysis.importance_performance(x, y)
    assert r.quadrant == ("possible overkill", "concentrate here")


def test_rescale_reverse_and_not_applicable():
    assert analysis.rescale([1, 2, 5, 99], scale_min=1, scale_max=5, not_applicable=[99]).tolist()[
        :3
    ] == [0.0, 25.0, 100.0]
    assert analysis.rescale([0, 10], scale_min=0, scale_max=10, reverse=True).tolist() == [
        100.0,
        0.0,
    ]
    with pytest.raises(ValueError, match="outside the scale"):
        analysis.rescale([6], scale_min=1, scale_max=5)


def test_weighted_index_skips_na_and_renormalises():
    scores = np.array([[100.0, 50.0, np.nan], [np.nan, np.nan, np.nan]])
    result = analysis.dimension_index(scores, [0.5, 0.25, 0.25])
    assert result[0] == pytest.approx((0.5 * 100 + 0.25 * 50) / 0.75)
    assert np.isnan(result[1])


def test_acsi_convention():
    rng = np.random.default_rng(3)
    items = rng.integers(1, 11, size=(100, 3)).astype(float)
    w = np.array([0.5, 0.3, 0.2])
    acsi = (w * (items.mean(axis=0) - 1)).sum() / 9 * 100
    per_respondent = analysis.overall_index(
        np.column_stack(
            [analysis.rescale(items[:, j], scale_min=1, scale_max=10) for j in range(3)]
        ),
        w,
    )
    assert analysis.mean(per_respondent).estimate == pytest.approx(acsi, rel=1e-12)


def test_satisfaction_rate_top_two_box_with_na():
    e = analysis.satisfaction_rate([5, 4, 3, np.nan, 1], scale_max=5)
    assert e.estimate == 0.5 and e.n == 4


def test_nps_equals_promoter_share_minus_detractor_share():
    answers = np.array([10, 9, 8, 7, 6, 0, 10, 3])
    w = np.array([1.0, 2, 1, 1, 1, 3, 1, 1])
    e = analysis.nps(answers, weights=w)
    promoters = w[answers >= 9].sum() / w.sum()
    detractors = w[answers <= 6].sum() / w.sum()
    assert e.estimate == pytest.approx(100 * (promoters - detractors), rel=1e-12)
