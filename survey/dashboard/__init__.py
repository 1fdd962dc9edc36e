"""Officials' dashboards: estimates from per-PSU sums in SQL (:mod:`.estimates`), Plotly
figures (:mod:`.charts`), tables and CSV (:mod:`.tables`), URL filters (:mod:`.filters`);
adapters: the pages (:mod:`.views`) and Plotly's JavaScript from our origin (:mod:`.assets`)."""

from __future__ import annotations

from flask import Flask

CHART_ENDPOINTS = ("dashboard.city_overview", "dashboard.questionnaire", "dashboard.all_cities")
"""The pages that draw Plotly charts: Plotly's JavaScript injects ``<style>`` elements, so
only these get ``style-src 'unsafe-inline'`` (survey.core.web; docs/decisions.md)."""


def init_app(app: Flask) -> None:
    from survey.dashboard import assets, views

    app.config.setdefault("CSP_INLINE_STYLE_ENDPOINTS", set()).update(CHART_ENDPOINTS)

    app.register_blueprint(views.bp)
    app.register_blueprint(assets.bp)
