"""``patron analyze``: segmentation, association rules and predictions on files or the database."""

from __future__ import annotations

import typer

from patron.cli import analyze_churn, analyze_forecast, analyze_predict, analyze_rules

app = typer.Typer(help="Run analyses on files or on the database.", no_args_is_help=True)

analyze_rules.register(app)
analyze_predict.register(app)
analyze_forecast.register(app)
analyze_churn.register(app)
