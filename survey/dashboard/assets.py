"""Plotly's JavaScript, served from our own origin (never a CDN), cached for a year.

The file comes from the installed ``plotly`` package; its version is in the URL so a new
version is a new URL and the long cache is safe.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

import plotly
from flask import Blueprint, Response, abort, send_file

bp = Blueprint("assets", __name__, url_prefix="/assets")

PLOTLY_FILENAME = f"plotly-{plotly.__version__}.min.js"
ONE_YEAR = 365 * 24 * 3600


def plotly_js_path() -> Traversable:
    return files("plotly") / "package_data" / "plotly.min.js"


@bp.route("/<name>")
def asset(name: str) -> Response:
    if name != PLOTLY_FILENAME:
        abort(404)
    response = send_file(str(plotly_js_path()), mimetype="text/javascript",
                         max_age=ONE_YEAR, conditional=True)
    response.headers["Cache-Control"] = f"public, max-age={ONE_YEAR}, immutable"
    return response
