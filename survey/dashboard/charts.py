"""Plotly figures for the dashboard, built in Python and shipped as JSON.

The page embeds ``fig.to_json()`` in ``<script type="application/json">`` and
``static/dashboard.js`` draws it with ``Plotly.newPlot`` (CSP ``script-src 'self'``; Plotly's
JS is served by :mod:`survey.dashboard.assets`). Suppressed cells never reach a figure: callers
pass only published numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotly.graph_objects as go

ACCENT = "#b3261e"
BLUE = "#0b5cad"
GREY = "#5b6470"
MAX_LABEL = 14


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _layout(title: str, height: int, **extra: object) -> go.Layout:
    extra.setdefault("showlegend", False)
    return go.Layout(
        template="none", title={"text": title, "x": 0, "font": {"size": 15}},
        height=height, autosize=True, margin={"l": 10, "r": 10, "t": 40, "b": 40},
        font={"family": "system-ui, 'PingFang SC', 'Noto Sans CJK SC', sans-serif",
              "size": 12},
        hovermode="closest", **extra)


def _finite(values: Sequence[float]) -> list[float | None]:
    return [v if v is not None and math.isfinite(v) else None for v in values]


def _err(est: Sequence[float], low: Sequence[float], high: Sequence[float]
         ) -> tuple[list[float | None], list[float | None]]:
    plus = [h - e if math.isfinite(h) else None for e, h in zip(est, high, strict=True)]
    minus = [e - lo if math.isfinite(lo) else None for e, lo in zip(est, low, strict=True)]
    return plus, minus


def ci_points(title: str, labels: Sequence[str], est: Sequence[float], low: Sequence[float],
              high: Sequence[float], *, axis_title: str, benchmark: float | None = None,
              benchmark_label: str = "", colours: Sequence[str] | None = None) -> go.Figure:
    """Horizontal point estimates with 95% CI error bars, best at the top (league tables,
    dimension scores, cities side by side); an optional vertical benchmark line."""
    plus, minus = _err(est, low, high)
    full = list(labels)
    fig = go.Figure(layout=_layout(title, 80 + 30 * max(len(labels), 1)))
    fig.add_trace(go.Scatter(
        x=_finite(est), y=[_short(x) for x in full], mode="markers",
        marker={"size": 9, "color": list(colours) if colours else BLUE},
        error_x={"type": "data", "array": plus, "arrayminus": minus, "color": GREY,
                 "thickness": 1.5, "width": 4},
        customdata=full, hovertemplate="%{customdata}: %{x:.1f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    fig.update_xaxes(title={"text": axis_title}, automargin=True, zeroline=False)
    if benchmark is not None and math.isfinite(benchmark):
        fig.add_vline(x=benchmark, line={"color": ACCENT, "dash": "dash", "width": 1.5})
        fig.add_annotation(x=benchmark, y=1.0, yref="paper", yanchor="bottom",
                           text=benchmark_label, showarrow=False,
                           font={"color": ACCENT, "size": 11})
    return fig


def trend(title: str, waves: Sequence[str], est: Sequence[float], low: Sequence[float],
          high: Sequence[float], *, axis_title: str, band_label: str) -> go.Figure:
    """The index over waves with its 95% CI as a shaded band."""
    fig = go.Figure(layout=_layout(title, 320))
    x = list(waves)
    fig.add_trace(go.Scatter(x=x, y=_finite(high), mode="lines", line={"width": 0},
                             hoverinfo="skip", name=band_label))
    fig.add_trace(go.Scatter(x=x, y=_finite(low), mode="lines", line={"width": 0},
                             fill="tonexty", fillcolor="rgba(11,92,173,0.18)",
                             hoverinfo="skip", name=band_label))
    fig.add_trace(go.Scatter(x=x, y=_finite(est), mode="lines+markers",
                             line={"color": BLUE, "width": 2}, marker={"size": 7},
                             hovertemplate="%{x}: %{y:.1f}<extra></extra>"))
    fig.update_xaxes(type="category", automargin=True)
    fig.update_yaxes(title={"text": axis_title}, automargin=True)
    return fig


def importance_performance(title: str, labels: Sequence[str], importance: Sequence[float],
                           performance: Sequence[float], quadrants: Sequence[str], *,
                           x_title: str, y_title: str,
                           corner_labels: tuple[str, str, str, str]) -> go.Figure:
    """Derived importance (x) × performance (y); dashed lines at the means split the plane
    into the four quadrants, labelled in the corners (concentrate here, keep up the good
    work, low priority, possible overkill)."""
    fig = go.Figure(layout=_layout(title, 380))
    fig.add_trace(go.Scatter(
        x=list(importance), y=list(performance), mode="markers+text",
        text=[_short(x) for x in labels], textposition="top center",
        customdata=[f"{lab} — {q}" for lab, q in zip(labels, quadrants, strict=True)],
        marker={"size": 10, "color": BLUE},
        hovertemplate="%{customdata}<br>%{x:.3f} × %{y:.1f}<extra></extra>"))
    if importance:
        mx = sum(importance) / len(importance)
        my = sum(performance) / len(performance)
        fig.add_vline(x=mx, line={"color": GREY, "dash": "dot", "width": 1})
        fig.add_hline(y=my, line={"color": GREY, "dash": "dot", "width": 1})
    concentrate, keep, low, overkill = corner_labels
    for text, x, y, xa, ya in ((concentrate, 1, 0, "right", "bottom"),
                               (keep, 1, 1, "right", "top"),
                               (low, 0, 0, "left", "bottom"),
                               (overkill, 0, 1, "left", "top")):
        fig.add_annotation(x=x, y=y, xref="paper", yref="paper", xanchor=xa, yanchor=ya,
                           text=text, showarrow=False, font={"color": GREY, "size": 11})
    fig.update_xaxes(title={"text": x_title}, automargin=True, zeroline=False)
    fig.update_yaxes(title={"text": y_title}, automargin=True, zeroline=False)
    return fig


def bars(title: str, labels: Sequence[str], values: Sequence[float], *,
         axis_title: str) -> go.Figure:
    """Horizontal bars, one per unit in the given order (complaint rates, composites)."""
    full = list(labels)
    fig = go.Figure(layout=_layout(title, 80 + 30 * max(len(labels), 1)))
    fig.add_trace(go.Bar(x=_finite(values), y=[_short(x) for x in full], orientation="h",
                         marker={"color": BLUE}, customdata=full,
                         hovertemplate="%{customdata}: %{x:.2f}<extra></extra>"))
    fig.update_yaxes(autorange="reversed", automargin=True, type="category")
    fig.update_xaxes(title={"text": axis_title}, automargin=True, rangemode="tozero")
    return fig


def to_json(fig: go.Figure) -> str:
    """Figure JSON safe inside ``<script type="application/json">`` (no ``</script>``)."""
    return fig.to_json().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
