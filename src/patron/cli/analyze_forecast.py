"""``patron analyze forecast`` and ``spend``: sales forecast and
next-period spend from a file or the database.

Like ``patron analyze clv`` (whose readers, cleaning, progress and writers they share): the
transactions come from ``--transactions`` or, without it, the configured database; a table goes
to ``--output`` (.csv, .jsonl or .parquet); the metrics go to stdout as one JSON object.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from patron.cli import analyze_predict as shared
from patron.cli import common
from patron.cli.analyze_predict import (
    AmountCol,
    Columns,
    CustomerCol,
    DateCol,
    DateFormat,
    Header,
    Output,
    Sep,
    Transactions,
)

if TYPE_CHECKING:
    import pandas as pd

InputError = shared.InputError


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``patron analyze``."""
    app.command("forecast")(forecast)
    app.command("spend")(spend)


def _transactions(
    step: Any,
    *,
    output: Path,
    transactions: Path | None,
    columns: tuple[str, str, str],
    sep: str,
    header: bool,
    names: str | None,
    date_format: str | None,
) -> tuple[pd.DataFrame, int]:
    """Check the output path, read and clean the transactions (as ``analyze clv`` does)."""
    if output.suffix.lower() not in shared.OUTPUT_FORMATS:
        raise InputError(f"--output must end in {', '.join(shared.OUTPUT_FORMATS)}: {output}")
    column_names = [name.strip() for name in names.split(",")] if names else None
    if not header and not column_names:
        raise InputError("--no-header needs --columns to name the columns")
    step("Reading transactions")
    if transactions is None:
        raw = _one_currency(_load_from_database(*columns))
    else:
        raw = shared._read_transactions(transactions, sep=sep, header=header, names=column_names)
    frame, rejected = shared._clean(raw, *columns, date_format)
    frame.attrs.update(raw.attrs)
    if frame.empty:
        raise InputError(f"no usable transactions ({rejected} rows rejected)", common.EXIT_DATA)
    return frame, rejected


def _load_from_database(customer_col: str, date_col: str, amount_col: str) -> pd.DataFrame:
    """The database's purchases, under the column names the other options use."""
    from patron.insights.data import load_transactions_from_database

    frame = load_transactions_from_database(settings=common.settings())
    return frame.rename(
        columns={"customer_id": customer_col, "ordered_at": date_col, "amount": amount_col}
    )


def _one_currency(raw: pd.DataFrame) -> pd.DataFrame:
    """The database's orders in its most used currency: amounts in different currencies do not
    add up. The currency stays in ``raw.attrs`` for the report."""
    if "currency" not in raw.columns or raw.empty:
        return raw
    currency = str(raw["currency"].value_counts().idxmax())
    kept = raw[raw["currency"] == currency]
    if len(kept) < len(raw):
        common.stderr.print(
            f"[yellow]Note:[/] using the {len(kept)} orders in {currency}; "
            f"{len(raw) - len(kept)} in other currencies are left out",
            highlight=False,
        )
    kept.attrs["currency"] = currency
    return kept


def _currency(frame: pd.DataFrame) -> dict[str, str]:
    return {"currency": frame.attrs["currency"]} if "currency" in frame.attrs else {}


def _finish(report: dict[str, Any], rejected: int) -> None:
    common.print_json(report)
    if rejected:
        raise typer.Exit(common.EXIT_DATA)


def _handled(body: Any, **options: Any) -> None:
    with common.handled_errors():
        try:
            body(**options)
        except InputError as exc:
            common.fail(str(exc), exc.code)


# ----- forecast ------------------------------------------------------------------------------
def forecast(
    output: Output,
    transactions: Transactions = None,
    customer_col: CustomerCol = "customer_id",
    date_col: DateCol = "date",
    amount_col: AmountCol = "amount",
    horizon: Annotated[int, typer.Option(min=1, max=120, help="Months to forecast.")] = 6,
    season_length: Annotated[int, typer.Option(min=2, help="Months in a season.")] = 12,
    backtest_horizon: Annotated[
        int, typer.Option(min=1, help="Months ahead at each back-test origin.")
    ] = 3,
    through: Annotated[
        str | None,
        typer.Option(help="Last month of history (YYYY-MM-DD; default: the last date's month)."),
    ] = None,
    deals: Annotated[
        Path | None,
        typer.Option(
            help="Open deals file for the pipeline forecast (amount, probability 0-1, "
            "expected_close_on columns). Without --transactions the database's open deals."
        ),
    ] = None,
    sep: Sep = ",",
    header: Header = True,
    columns: Columns = None,
    date_format: DateFormat = None,
) -> None:
    """Forecast monthly revenue with 80% and 95% intervals, back-tested against seasonal naive."""
    _handled(
        _forecast, output=output, transactions=transactions,
        columns=(customer_col, date_col, amount_col), horizon=horizon,
        season_length=season_length, backtest_horizon=backtest_horizon, through=through,
        deals=deals, sep=sep, header=header, names=columns, date_format=date_format,
    )  # fmt: skip


def _forecast(
    *,
    output: Path,
    transactions: Path | None,
    columns: tuple[str, str, str],
    horizon: int,
    season_length: int,
    backtest_horizon: int,
    through: str | None,
    deals: Path | None,
    sep: str,
    header: bool,
    names: str | None,
    date_format: str | None,
) -> None:
    import pandas as pd

    from patron.analytics import forecast as models

    last = shared._parse_date(through, "--through") if through else None
    with shared._progress() as step:
        frame, rejected = _transactions(
            step, output=output, transactions=transactions, columns=columns, sep=sep,
            header=header, names=names, date_format=date_format,
        )  # fmt: skip
        _, date_col, amount_col = columns
        step("Summing revenue by month")
        series = models.monthly_revenue(frame, date_col=date_col, amount_col=amount_col, end=last)
        if len(series) < season_length + 2:
            raise InputError(
                f"{len(series)} months are too few: the back-test needs at least "
                f"{season_length + 2} (--season-length + 2)",
                common.EXIT_FAILURE,
            )
        step("Fitting the forecast")
        forecaster = models.RevenueForecaster(season_length=season_length)
        try:
            model = forecaster.fit(series)
        except ValueError as exc:
            raise InputError(f"cannot fit a forecast: {exc}", common.EXIT_FAILURE) from None
        ahead = model.predict(horizon)
        step("Back-testing against the seasonal naive forecast")
        backtest = models.rolling_origin_backtest(
            series, forecaster=forecaster, horizon=backtest_horizon
        )
        pipeline = _pipeline(step, deals, transactions is None, frame.attrs.get("currency"))

        step("Writing results")
        history = pd.DataFrame({"month": series.index.astype(str), "actual": series.to_numpy()})
        future = ahead.reset_index().assign(month=lambda f: f["month"].astype(str))
        table = pd.concat([history, future], ignore_index=True)
        table = table[["month", "actual", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]]
        shared._write(table, output)
    metrics = backtest.metrics()
    report: dict[str, Any] = {
        "model": model.model_,
        "aicc": shared._finite_or_none(model.aicc_),
        "params": model.params_,
        "n_months": len(series),
        "first_month": str(series.index[0]),
        "last_month": str(series.index[-1]),
        "horizon": horizon,
        "forecast": [
            {"month": str(month), **{key: float(value) for key, value in row.items()}}
            for month, row in ahead.iterrows()
        ],
        "backtest": {
            **{k: v for k, v in metrics.items() if k not in ("model", "seasonal_naive")},
            "model": {k: shared._finite_or_none(v) for k, v in metrics["model"].items()},
            "seasonal_naive": {
                k: shared._finite_or_none(v) for k, v in metrics["seasonal_naive"].items()
            },
        },
        **_currency(frame),
        "rows_rejected": rejected,
        "output": str(output),
    }
    if pipeline is not None:
        report["pipeline"] = pipeline
    _finish(report, rejected)


def _pipeline(
    step: Any, deals: Path | None, from_database: bool, currency: str | None
) -> list[dict[str, Any]] | None:
    """The pipeline forecast of a deals file, or of the database's open deals in database mode
    (those in the revenue's currency)."""
    from patron.analytics.forecast import pipeline_forecast

    if deals is None and not from_database:
        return None
    step("Weighing the open deals")
    if deals is not None:
        frame = shared._read_transactions(deals, sep=",", header=True, names=None)
    else:
        from patron.insights.forecast import load_open_deals_from_database

        frame = load_open_deals_from_database(settings=common.settings())
        if currency is not None:
            frame = frame[frame["currency"] == currency]
    try:
        table = pipeline_forecast(frame)
    except ValueError as exc:
        raise InputError(f"cannot read the deals: {exc}") from None
    return [
        {"month": row.month, "deals": int(row.deals), "amount": float(row.amount),
         "expected": float(row.expected)}
        for row in table.itertuples()
    ]  # fmt: skip


def _small_on_one_thread(rows: int) -> Any:
    """Gradient boosting on fewer than a million rows grows its trees on this thread alone:
    on shared cores, waking OpenMP threads for every split cost many times the work (the
    CDNOW churn run took 67 s on two busy cores, against a few seconds on one thread)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1 if rows < 1_000_000 else None, user_api="openmp")


# ----- spend ---------------------------------------------------------------------------------
def spend(
    output: Output,
    transactions: Transactions = None,
    customer_col: CustomerCol = "customer_id",
    date_col: DateCol = "date",
    amount_col: AmountCol = "amount",
    calibration_end: Annotated[
        str | None,
        typer.Option(help="End of the feature period (default: --period-days before the end)."),
    ] = None,
    observation_end: Annotated[
        str | None, typer.Option(help="End of the holdout period (default: the last date).")
    ] = None,
    period_days: Annotated[
        int, typer.Option(min=1, help="Holdout length when --calibration-end is not given.")
    ] = 91,
    sep: Sep = ",",
    header: Header = True,
    columns: Columns = None,
    date_format: DateFormat = None,
) -> None:
    """Predict next-period spend: the tutorial's linear regression against gradient boosting."""
    _handled(
        _spend, output=output, transactions=transactions,
        columns=(customer_col, date_col, amount_col), calibration_end=calibration_end,
        observation_end=observation_end, period_days=period_days, sep=sep, header=header,
        names=columns, date_format=date_format,
    )  # fmt: skip


def _spend(
    *,
    output: Path,
    transactions: Path | None,
    columns: tuple[str, str, str],
    calibration_end: str | None,
    observation_end: str | None,
    period_days: int,
    sep: str,
    header: bool,
    names: str | None,
    date_format: str | None,
) -> None:
    import pandas as pd

    from patron.analytics import spend as models

    cal_end = shared._parse_date(calibration_end, "--calibration-end") if calibration_end else None
    obs_end = shared._parse_date(observation_end, "--observation-end") if observation_end else None
    with shared._progress() as step:
        frame, rejected = _transactions(
            step, output=output, transactions=transactions, columns=columns, sep=sep,
            header=header, names=names, date_format=date_format,
        )  # fmt: skip
        customer_col, date_col, amount_col = columns
        obs_end = obs_end or frame[date_col].max().normalize()
        cal_end = cal_end or obs_end - pd.Timedelta(days=period_days)
        if obs_end <= cal_end:
            raise InputError("--observation-end must be after --calibration-end")
        kwargs = {"customer_col": customer_col, "date_col": date_col, "amount_col": amount_col}
        step("Evaluating both models on the holdout")
        try:
            evaluation = models.spend_backtest(
                frame, **kwargs, calibration_end=cal_end, observation_end=obs_end
            )
            step("Predicting the next period")
            x_train, y_train = models.spend_dataset(
                frame, **kwargs, calibration_end=cal_end, observation_end=obs_end
            )
            baseline = models.LinearSpendBaseline().fit(x_train, y_train)
            regressor = models.SpendRegressor().fit(x_train, y_train)
        except ValueError as exc:
            raise InputError(f"cannot fit the spend models: {exc}", common.EXIT_FAILURE) from None
        # Features at the observation end; the target window beyond it is empty.
        x_now, _ = models.spend_dataset(
            frame, **kwargs, calibration_end=obs_end,
            observation_end=obs_end + (obs_end - cal_end),
        )  # fmt: skip
        table = pd.DataFrame(
            {
                customer_col: x_now.index.to_numpy(),
                "predicted_spend": regressor.predict(x_now),
                "baseline_spend": baseline.predict(x_now),
            }
        )
        step("Writing results")
        shared._write(table, output)
    report = {
        **evaluation,
        "period_days": int((obs_end - cal_end).days),
        "n_customers": len(table),
        "predicted_total": float(table["predicted_spend"].sum()),
        **_currency(frame),
        "rows_rejected": rejected,
        "output": str(output),
    }
    _finish(report, rejected)
