"""``patron analyze``: segmentation, association rules and predictions on files or the database;
each command's module is imported when it runs."""

from __future__ import annotations

import typer

from patron.cli.lazy import lazy_group

COMMANDS = {
    "itemsets": "patron.cli.analyze_rules",
    "rules": "patron.cli.analyze_rules",
    "segments": "patron.cli.analyze_rules",
    "clv": "patron.cli.analyze_predict",
    "forecast": "patron.cli.analyze_forecast",
    "spend": "patron.cli.analyze_forecast",
    "churn": "patron.cli.analyze_churn",
}

app = typer.Typer(
    cls=lazy_group(COMMANDS),
    help="Run analyses on files or on the database.",
    no_args_is_help=True,
)
