"""Officials' dashboards: estimates from per-PSU sums in SQL (:mod:`.estimates`), Plotly
figures (:mod:`.charts`), tables and CSV (:mod:`.tables`), URL filters (:mod:`.filters`);
adapters: the pages (:mod:`.views`) and Plotly's JavaScript from our origin (:mod:`.assets`)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from survey.dashboard import assets, views

    app.register_blueprint(views.bp)
    app.register_blueprint(assets.bp)
