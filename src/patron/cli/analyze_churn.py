"""``patron analyze churn``: churn risk by gradient boosting beside the recency baseline, from a
transactions file or the database.

Both read the same way as ``patron analyze clv``; the computation is the ``churn`` run's own
(:func:`patron.insights.scores.churn_scores`). Without ``--transactions`` it is a stored analysis
run on the database whose risks land on the customers. One row per customer goes to
``--output``; the evaluation (model and baseline) is printed as JSON on stdout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from patron.cli import common
from patron.cli.analyze_predict import AmountCol, CustomerCol, DateCol, Output, Transactions


def register(app: typer.Typer) -> None:
    """Add this module's command to ``patron analyze``."""
    app.command("churn")(churn)


def churn(
    output: Output,
    transactions: Transactions = None,
    customer_col: CustomerCol = "customer_id",
    date_col: DateCol = "date",
    amount_col: AmountCol = "amount",
    as_of: Annotated[
        str | None, typer.Option(help="Score as of this day (YYYY-MM-DD); default: last date.")
    ] = None,
    horizon_days: Annotated[
        int, typer.Option(min=7, max=730, help="Churned: no purchase in this many days.")
    ] = 90,
    threshold: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="Risk from which a customer counts as lost.")
    ] = 0.5,
    random_state: Annotated[int, typer.Option(min=0, help="Seed of the classifier.")] = 0,
    sep: Annotated[str, typer.Option(help="Text field separator.")] = ",",
    date_format: Annotated[
        str | None, typer.Option(help="strptime format of the dates, e.g. %Y%m%d; default ISO.")
    ] = None,
) -> None:
    """Score each customer's churn risk; report ROC AUC, precision, recall and calibration."""
    from patron.cli import analyze_predict as shared

    parameters: dict[str, Any] = {"horizon_days": horizon_days, "threshold": threshold,
                                  "random_state": random_state}  # fmt: skip
    with common.handled_errors():
        try:
            if output.suffix.lower() not in shared.OUTPUT_FORMATS:
                raise shared.InputError(f"--output must end in .csv, .jsonl or .parquet: {output}")
            if as_of is not None:
                parameters["as_of"] = f"{shared._parse_date(as_of, '--as-of'):%Y-%m-%d}"
            if transactions is None:
                from patron.cli.analysis_runs import run_in_database

                run_id, outcome = run_in_database("churn", parameters)
                extra: dict[str, Any] = {"run_id": str(run_id)}
            else:
                outcome = _from_file(transactions, customer_col, date_col, amount_col, sep,
                                     date_format, parameters)  # fmt: skip
                extra = {}
            shared._write(outcome.table.rename_axis(customer_col).reset_index(), output)
        except shared.InputError as exc:
            common.fail(str(exc), exc.code)
    common.print_json({**outcome.metrics, **extra, "output": str(output)})


def _from_file(
    path: Path, customer_col: str, date_col: str, amount_col: str, sep: str,
    date_format: str | None, parameters: dict[str, Any],
) -> Any:  # fmt: skip
    from pydantic import ValidationError

    from patron.cli import analyze_predict as shared
    from patron.insights.schemas import ChurnParameters
    from patron.insights.scores import churn_scores, json_safe

    raw = shared._read_transactions(path, sep=sep, header=True, names=None)
    frame, rejected = shared._clean(raw, customer_col, date_col, amount_col, date_format)
    if frame.empty:
        raise shared.InputError(f"no usable transactions ({rejected} rows rejected)",
                                common.EXIT_DATA)  # fmt: skip
    frame = frame.rename(
        columns={customer_col: "customer_id", date_col: "ordered_at", amount_col: "amount"}
    )
    frame["ordered_at"] = frame["ordered_at"].dt.tz_localize("UTC")
    try:
        params = ChurnParameters.model_validate(parameters)
    except ValidationError as exc:
        raise shared.InputError(f"invalid option: {exc.errors()[0]['msg']}") from None
    try:
        outcome = churn_scores(frame, params, lambda value, message: None)
    except ValueError as exc:
        raise shared.InputError(str(exc), common.EXIT_FAILURE) from None
    outcome.metrics = json_safe(outcome.metrics)
    return outcome
