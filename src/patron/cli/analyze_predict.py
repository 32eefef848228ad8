"""``patron analyze clv``: BG/NBD + Gamma-Gamma lifetime value from a file or the database.

The command reads transactions, builds the per-customer summary up to ``--calibration-end``, fits
both models, writes one row per customer and prints the fitted parameters as one JSON object on
stdout. Heavy imports (pandas, scipy, the models) happen inside the command so ``--help`` is fast.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from patron.cli import common

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd

OUTPUT_FORMATS = (".csv", ".jsonl", ".parquet")
PARQUET_SUFFIXES = (".parquet", ".pq")
SEPARATORS = {"whitespace": r"\s+", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


class TimeUnitChoice(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class InputError(Exception):
    """Input the command cannot use; carries the exit code."""

    def __init__(self, message: str, code: int = common.EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``patron analyze``."""
    app.command("clv")(clv)


# Options the transaction commands share (clv, churn, forecast, spend).
Output = Annotated[
    Path, typer.Option("--output", "-o", help="Where to write: .csv, .jsonl or .parquet.")
]
Transactions = Annotated[
    Path | None,
    typer.Option(help="Transactions file (CSV, text or Parquet). Omit to read the database."),
]
CustomerCol = Annotated[str, typer.Option(help="Customer id column.")]
DateCol = Annotated[str, typer.Option(help="Transaction date column.")]
AmountCol = Annotated[str, typer.Option(help="Transaction value column.")]
Sep = Annotated[
    str, typer.Option(help="Text field separator: a character, or whitespace, tab, comma, ...")
]
Header = Annotated[
    bool, typer.Option("--header/--no-header", help="Whether the text file has a header.")
]
Columns = Annotated[
    str | None, typer.Option(help="Comma-separated column names (needed with --no-header).")
]
DateFormat = Annotated[
    str | None, typer.Option(help="strptime format of the dates, e.g. %Y%m%d; default ISO.")
]


def clv(
    output: Output,
    transactions: Transactions = None,
    customer_col: CustomerCol = "customer_id",
    date_col: DateCol = "date",
    amount_col: AmountCol = "amount",
    calibration_end: Annotated[
        str | None,
        typer.Option(help="Last day the models learn from (YYYY-MM-DD); default: last date."),
    ] = None,
    observation_end: Annotated[
        str | None,
        typer.Option(help="End of a holdout period after --calibration-end, to validate against."),
    ] = None,
    time_unit: Annotated[
        TimeUnitChoice, typer.Option(help="Unit of recency, T and alpha.")
    ] = TimeUnitChoice.week,
    horizon: Annotated[
        int, typer.Option(min=1, help="CLV horizon, in --period units (12 months by default).")
    ] = 12,
    period: Annotated[
        TimeUnitChoice, typer.Option(help="Discounting period: the unit of --horizon.")
    ] = TimeUnitChoice.month,
    discount_rate: Annotated[
        float, typer.Option(min=0.0, help="Discount rate per period (0.01 = 1% a month).")
    ] = 0.01,
    sep: Annotated[
        str,
        typer.Option(help="Text field separator: a character, or whitespace, tab, comma, ..."),
    ] = ",",
    header: Annotated[
        bool, typer.Option("--header/--no-header", help="Whether the text file has a header.")
    ] = True,
    columns: Annotated[
        str | None,
        typer.Option(help="Comma-separated column names (needed with --no-header)."),
    ] = None,
    date_format: Annotated[
        str | None, typer.Option(help="strptime format of the dates, e.g. %Y%m%d; default ISO.")
    ] = None,
    penalizer: Annotated[float, typer.Option(min=0.0, help="L2 penalty of both fits.")] = 0.0,
) -> None:
    """Fit BG/NBD and Gamma-Gamma models and score each customer's lifetime value."""
    with common.handled_errors():
        try:
            _run(
                output=output,
                transactions=transactions,
                customer_col=customer_col,
                date_col=date_col,
                amount_col=amount_col,
                calibration_end=calibration_end,
                observation_end=observation_end,
                time_unit=time_unit,
                horizon=horizon,
                period=period,
                discount_rate=discount_rate,
                sep=sep,
                header=header,
                columns=columns,
                date_format=date_format,
                penalizer=penalizer,
            )
        except InputError as exc:
            common.fail(str(exc), exc.code)


def _run(
    *,
    output: Path,
    transactions: Path | None,
    customer_col: str,
    date_col: str,
    amount_col: str,
    calibration_end: str | None,
    observation_end: str | None,
    time_unit: TimeUnitChoice,
    horizon: int,
    period: TimeUnitChoice,
    discount_rate: float,
    sep: str,
    header: bool,
    columns: str | None,
    date_format: str | None,
    penalizer: float,
) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.exceptions import ConvergenceWarning

    from patron.analytics import clv as models

    if output.suffix.lower() not in OUTPUT_FORMATS:
        raise InputError(f"--output must end in {', '.join(OUTPUT_FORMATS)}: {output}")
    names = [name.strip() for name in columns.split(",")] if columns else None
    if not header and not names:
        raise InputError("--no-header needs --columns to name the columns")
    cal_end = _parse_date(calibration_end, "--calibration-end") if calibration_end else None
    obs_end = _parse_date(observation_end, "--observation-end") if observation_end else None
    if transactions is None:
        _clv_in_database(output, customer_col, cal_end, obs_end, time_unit, horizon, period,
                         discount_rate, penalizer)  # fmt: skip
        return

    with _progress() as step:
        step("Reading transactions")
        raw = _read_transactions(transactions, sep=sep, header=header, names=names)
        frame, rejected = _clean(raw, customer_col, date_col, amount_col, date_format)
        if frame.empty:
            raise InputError(f"no usable transactions ({rejected} rows rejected)", common.EXIT_DATA)
        cal_end = cal_end or frame[date_col].max()
        if obs_end is not None and obs_end <= cal_end:
            raise InputError("--observation-end must be after --calibration-end")

        step("Summarising customers")
        summary = models.calibration_holdout_split(
            frame,
            customer_col=customer_col,
            date_col=date_col,
            amount_col=amount_col,
            calibration_end=cal_end,
            observation_end=obs_end,
            time_unit=time_unit.value,
        )
        if summary.empty:
            raise InputError(f"no customer made a first purchase by {cal_end:%Y-%m-%d}")
        x, t_x, t_cal = summary["frequency"], summary["recency"], summary["T"]
        spend = summary["monetary_value"].clip(lower=0.0)

        # The models warn (ConvergenceWarning) when the optimiser stops early; the command
        # reports that in its JSON and on stderr instead of letting Python print the warning.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            step("Fitting BG/NBD")
            transaction_model = models.BetaGeoModel(penalizer=penalizer).fit(x, t_x, t_cal)
            step("Fitting Gamma-Gamma")
            # Repeat buyers whose repeat purchases are worth nothing cannot enter the spend fit.
            usable = (x > 0) & (spend > 0)
            try:
                spend_model = models.GammaGammaModel(penalizer=penalizer).fit(
                    x[usable], spend[usable]
                )
            except ValueError as exc:
                raise InputError(
                    f"cannot fit the spend model: {exc}", common.EXIT_FAILURE
                ) from None
        for name, model in (("BG/NBD", transaction_model), ("Gamma-Gamma", spend_model)):
            if not model.converged_:
                common.stderr.print(
                    f"[yellow]Warning:[/] the {name} fit did not converge; "
                    "its parameters may be unreliable",
                    highlight=False,
                )
        correlation = models.frequency_monetary_correlation(x[usable], spend[usable])

        step("Scoring customers")
        period_length = models.TIME_UNIT_DAYS[period.value] / models.TIME_UNIT_DAYS[time_unit.value]
        result = pd.DataFrame(
            {
                customer_col: summary.index.to_numpy(),
                "frequency": x.to_numpy(),
                "recency": t_x.to_numpy(),
                "T": t_cal.to_numpy(),
                "monetary": summary["monetary_value"].to_numpy(),
                "p_alive": np.asarray(
                    transaction_model.conditional_probability_alive(x, t_x, t_cal)
                ),
                "expected_purchases": np.asarray(
                    transaction_model.conditional_expected_purchases(
                        horizon * period_length, x, t_x, t_cal
                    )
                ),
                "clv": np.asarray(
                    models.customer_lifetime_value(
                        transaction_model,
                        spend_model,
                        x,
                        t_x,
                        t_cal,
                        spend,
                        horizon=horizon,
                        period=period.value,
                        time_unit=time_unit.value,
                        discount_rate=discount_rate,
                    )
                ),
            }
        )
        report: dict[str, Any] = {
            **transaction_model.params_,
            **spend_model.params_,
            "log_likelihood": transaction_model.log_likelihood_,
            "gamma_gamma_log_likelihood": spend_model.log_likelihood_,
            "n_customers": len(summary),
            "n_repeat_buyers": int((x > 0).sum()),
            "n_excluded_from_spend_model": int(((x > 0) & ~usable).sum()),
            "frequency_monetary_correlation": _finite_or_none(correlation.correlation),
            "frequency_monetary_warning": correlation.warning,
            "converged": transaction_model.converged_ and spend_model.converged_,
            "time_unit": time_unit.value,
            "calibration_end": f"{cal_end:%Y-%m-%d}",
            "horizon": horizon,
            "period": period.value,
            "discount_rate": discount_rate,
            "total_clv": float(result["clv"].sum()),
            "rows_rejected": rejected,
        }
        if obs_end is not None:
            expected = np.asarray(
                transaction_model.conditional_expected_purchases(
                    summary["duration_holdout"], x, t_x, t_cal
                )
            )
            result["frequency_holdout"] = summary["frequency_holdout"].to_numpy()
            result["expected_holdout"] = expected
            report["observation_end"] = f"{obs_end:%Y-%m-%d}"
            report["holdout_actual"] = int(summary["frequency_holdout"].sum())
            report["holdout_expected"] = float(expected.sum())

        step("Writing results")
        _write(result, output)
        report["output"] = str(output)

    common.print_json(report)
    if rejected:
        raise typer.Exit(common.EXIT_DATA)


@contextmanager
def _progress() -> Iterator[Any]:
    """A spinner on stderr naming the current step (nothing when stderr is not a terminal)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=common.stderr,
        transient=True,
    ) as progress:
        task = progress.add_task("Starting", total=None)

        def step(description: str) -> None:
            progress.update(task, description=description)

        yield step


def _parse_date(value: str, option: str) -> pd.Timestamp:
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise InputError(f"{option} is not a date (YYYY-MM-DD): {value!r}")
    return stamp.normalize()


def _clv_in_database(
    output: Path, customer_col: str, cal_end: pd.Timestamp | None, obs_end: pd.Timestamp | None,
    time_unit: TimeUnitChoice, horizon: int, period: TimeUnitChoice, discount_rate: float,
    penalizer: float,
) -> None:  # fmt: skip
    """A clv run on the database's purchases, stored and applied (the scores land on the
    customers), then written and reported as from a file.

    With ``--observation-end`` the scores are as of that day, and the run's holdout check fits
    to ``--calibration-end`` and compares with the purchases made up to ``--observation-end``.
    """
    from patron.cli.analysis_runs import run_in_database

    parameters: dict[str, Any] = {
        "time_unit": time_unit.value, "horizon": horizon, "period": period.value,
        "discount_rate": discount_rate, "penalizer": penalizer,
    }  # fmt: skip
    if obs_end is not None:
        if cal_end is None or obs_end <= cal_end:
            raise InputError("--observation-end needs an earlier --calibration-end")
        parameters["calibration_end"] = f"{obs_end:%Y-%m-%d}"
        parameters["holdout_days"] = (obs_end - cal_end).days
    elif cal_end is not None:
        parameters["calibration_end"] = f"{cal_end:%Y-%m-%d}"
    run_id, outcome = run_in_database("clv", parameters)
    result = outcome.table.rename_axis(customer_col).reset_index()
    _write(result, output)
    metrics = outcome.metrics
    holdout = metrics.get("holdout", {})
    report: dict[str, Any] = {
        **{key: metrics[key] for key in ("r", "alpha", "a", "b", "p", "q", "gamma")},
        "log_likelihood": metrics["log_likelihood"],
        "gamma_gamma_log_likelihood": metrics["gamma_gamma_log_likelihood"],
        "n_customers": metrics["n_customers"],
        "n_repeat_buyers": metrics["n_repeat_buyers"],
        "frequency_monetary_correlation": _finite_or_none(
            metrics["frequency_monetary_correlation"]
        ),
        "frequency_monetary_warning": metrics["frequency_monetary_warning"],
        "converged": metrics["converged"],
        "time_unit": time_unit.value,
        "calibration_end": metrics["calibration_end"],
        "horizon": horizon,
        "period": period.value,
        "discount_rate": discount_rate,
        "total_clv": float(result["clv"].sum()),
        "run_id": str(run_id),
        "output": str(output),
    }
    if "actual_purchases" in holdout:
        report |= {"holdout_calibration_end": holdout["calibration_end"],
                   "holdout_actual": holdout["actual_purchases"],
                   "holdout_expected": holdout["expected_purchases"]}  # fmt: skip
    common.print_json(report)


def _read_transactions(
    path: Path, *, sep: str, header: bool, names: list[str] | None
) -> pd.DataFrame:
    import pandas as pd

    if not path.is_file():
        raise InputError(f"cannot read {path}: no such file", common.EXIT_IO)
    try:
        if path.suffix.lower() in PARQUET_SUFFIXES:
            frame = pd.read_parquet(path)
            if names:
                if len(names) != frame.shape[1]:
                    raise InputError(
                        f"--columns names {len(names)} columns, {path} has {frame.shape[1]}"
                    )
                frame.columns = names
            return frame
        separator = SEPARATORS.get(sep, sep)
        if separator == "":
            raise InputError("--sep must not be empty")
        return pd.read_csv(
            path,
            sep=separator,
            header=0 if header else None,
            names=names,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except InputError:
        raise
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot parse {path}: {exc}", common.EXIT_IO) from None
    except OSError:
        raise
    except Exception as exc:  # pyarrow raises its own types for a corrupt Parquet file
        raise InputError(f"cannot read {path}: {exc}", common.EXIT_IO) from None


def _clean(
    raw: pd.DataFrame,
    customer_col: str,
    date_col: str,
    amount_col: str,
    date_format: str | None,
) -> tuple[pd.DataFrame, int]:
    """Keep rows with a customer, a date and a numeric amount; count the others."""
    import pandas as pd

    missing = [col for col in (customer_col, date_col, amount_col) if col not in raw.columns]
    if missing:
        found = ", ".join(map(str, raw.columns))
        raise InputError(f"no column {', '.join(missing)} in the input (found: {found})")
    customer = raw[customer_col]
    if pd.api.types.is_string_dtype(customer) or customer.dtype == object:
        customer = customer.astype("string").str.strip().replace("", pd.NA)
    dates = raw[date_col]
    if pd.api.types.is_datetime64_any_dtype(dates):
        if isinstance(dates.dtype, pd.DatetimeTZDtype):
            dates = dates.dt.tz_convert("UTC").dt.tz_localize(None)
    else:
        text = dates.astype("string").str.strip()
        if date_format:
            dates = pd.to_datetime(text, format=date_format, errors="coerce")
        else:
            dates = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=True)
            dates = dates.dt.tz_localize(None)
    amounts = pd.to_numeric(raw[amount_col], errors="coerce")
    good = customer.notna() & dates.notna() & amounts.notna()
    frame = pd.DataFrame(
        {customer_col: customer[good], date_col: dates[good], amount_col: amounts[good]}
    )
    rejected = int((~good).sum())
    if rejected:
        first = int(good.to_numpy().argmin())
        common.stderr.print(
            f"[yellow]Warning:[/] rejected {rejected} of {len(raw)} rows without a customer, "
            f"a readable date or a numeric amount (first: data row {first + 1})",
            highlight=False,
        )
    return frame, rejected


def _write(result: pd.DataFrame, output: Path) -> None:
    suffix = output.suffix.lower()
    if suffix == ".csv":
        result.to_csv(output, index=False)
    elif suffix == ".jsonl":
        result.to_json(output, orient="records", lines=True)
    else:
        result.to_parquet(output, index=False)


def _finite_or_none(value: float) -> float | None:
    return value if value == value and abs(value) != float("inf") else None
