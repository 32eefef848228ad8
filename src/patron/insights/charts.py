"""The segment figures as the pages show them: each segment's profile against the whole
population, and plotly figures as plain dicts (drawn in the browser by plotly.js)."""

from __future__ import annotations

import math
from typing import Any

from patron.insights.models import AnalysisRun

TIMES = "\u00d7"  # the multiplication sign, as in "2 times the average"
MEASURES = (  # column, legend, colour, how a mean reads in the tooltip
    ("recency", "Days since last purchase", "#b54708", "{:,.0f} days"),
    ("frequency", "Purchases", "#2f5bea", "{:,.1f} purchases"),
    ("monetary", "Spend", "#067647", "{:,.2f} spent"),
)
LAYOUT: dict[str, Any] = {
    "barmode": "group",
    "height": 340,
    "margin": {"l": 60, "r": 10, "t": 10, "b": 40},
    "legend": {"orientation": "h", "y": 1.12},
    "paper_bgcolor": "rgba(0,0,0,0)",
    "plot_bgcolor": "rgba(0,0,0,0)",
    "font": {"family": "system-ui, sans-serif", "size": 12},
}
GRID = "#e4e7ec"


def number(value: Any) -> float:
    """A finite float (JSON has no NaN): a missing or undefined value counts as 0."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return 0.0
    return result if math.isfinite(result) else 0.0


def segment_rows(run: AnalysisRun | None) -> list[dict[str, Any]]:
    """The run's segments, each with ``ratio_<measure>``: its mean over the population's mean
    (the population mean is the size-weighted mean of the segment means)."""
    if run is None:
        return []
    rows = [dict(row) for row in run.results.get("segments", [])]
    total = sum(int(row["size"]) for row in rows)
    for measure, *_ in MEASURES:
        key = f"mean_{measure}"
        population = sum(number(row[key]) * row["size"] for row in rows) / total if total else 0.0
        for row in rows:
            row[f"ratio_{measure}"] = number(row[key]) / population if population > 0 else 1.0
    return rows


def segment_charts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Two figures: the RFM profile (grouped bars of each segment's means against the average
    customer, with a line at 1) and each segment's share of the customers and of the revenue."""
    names = [str(row["name"]) for row in rows]
    profile = {
        "data": [
            {
                "type": "bar",
                "name": label,
                "x": names,
                "y": [round(row[f"ratio_{measure}"], 4) for row in rows],
                "text": [fmt.format(number(row[f"mean_{measure}"])) for row in rows],
                "textposition": "none",
                "hovertemplate": f"%{{x}}: %{{text}}<br>%{{y:.2f}}{TIMES} the average"
                "<extra></extra>",
                "marker": {"color": color},
            }
            for measure, label, color, fmt in MEASURES
        ],
        "layout": {
            **LAYOUT,
            "yaxis": {
                "title": {"text": "Against the average customer"},
                "ticksuffix": TIMES,
                "rangemode": "tozero",
                "gridcolor": GRID,
            },
            "shapes": [{
                "type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 1, "y1": 1,
                "line": {"color": "#5d6778", "width": 1, "dash": "dot"},
            }],
        },
    }  # fmt: skip
    shares = {
        "data": [
            {
                "type": "bar",
                "name": label,
                "x": names,
                "y": [round(number(row[key]) * 100, 2) for row in rows],
                "hovertemplate": f"%{{x}}: %{{y:.1f}} %<extra>{label}</extra>",
                "marker": {"color": color},
            }
            for key, label, color in (
                ("share_of_customers", "Share of customers", "#98a2b3"),
                ("share_of_revenue", "Share of revenue", "#2f5bea"),
            )
        ],
        "layout": {
            **LAYOUT,
            "yaxis": {"ticksuffix": " %", "rangemode": "tozero", "gridcolor": GRID},
        },
    }
    return {"profile": profile, "shares": shares}
