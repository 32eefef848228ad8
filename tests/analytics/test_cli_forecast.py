"""``patron analyze forecast`` and ``spend`` through Typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from patron.analytics.forecast import RevenueForecaster, monthly_revenue, rolling_origin_backtest
from tests.datasets import dataset_path
from tests.factories import demo_sqlite, scalar

try:
    from patron.cli.main import app
except ImportError:  # the root app's other command groups are still being written
    from patron.cli import analyze

    app = typer.Typer()
    app.add_typer(analyze.app, name="analyze")

CDNOW_OPTIONS = [
    "--no-header",
    "--columns",
    "master_id,customer_id,date,cds,amount",
    "--sep",
    "whitespace",
    "--date-format",
    "%Y%m%d",
]
runner = CliRunner()


def run(command: str, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["analyze", command, *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def report_of(stdout: str) -> dict[str, object]:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    return json.loads(lines[0])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def sample() -> Path:
    return dataset_path("cdnow", "CDNOW_sample.txt")


@pytest.fixture
def monthly_csv(tmp_path: Path) -> Path:
    """Twenty months of orders by three customers, ISO dates."""
    rows = ["who,when,value"]
    for index in range(20):
        month = f"{2023 + index // 12}-{1 + index % 12:02d}"
        for customer in range(3):
            rows.append(f"c{customer},{month}-{10 + customer:02d},{100 + 7 * index + customer}")
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


COLUMNS = ["--customer-col", "who", "--date-col", "when", "--amount-col", "value"]


def test_forecast_of_cdnow_matches_the_library(sample: Path, tmp_path: Path) -> None:
    output = tmp_path / "forecast.csv"
    code, stdout, _ = run("forecast", "--transactions", str(sample), *CDNOW_OPTIONS,
                          "--horizon", "4", "--output", str(output))  # fmt: skip
    assert code == 0
    report = report_of(stdout)
    raw = pd.read_csv(sample, sep=r"\s+", header=None, names=["m", "c", "date", "n", "amount"])
    raw["date"] = pd.to_datetime(raw["date"].astype(str), format="%Y%m%d")
    series = monthly_revenue(raw, date_col="date", amount_col="amount")
    model = RevenueForecaster().fit(series)
    expected = model.predict(4)
    assert report["model"] == model.model_
    assert (report["first_month"], report["last_month"], report["n_months"]) == (
        "1997-01", "1998-06", 18,
    )  # fmt: skip
    assert [row["month"] for row in report["forecast"]] == ["1998-07", "1998-08", "1998-09",
                                                           "1998-10"]  # fmt: skip
    assert [row["hi_95"] for row in report["forecast"]] == pytest.approx(expected["hi_95"])
    metrics = rolling_origin_backtest(series, horizon=3).metrics()
    assert report["backtest"]["model"]["mase"] == pytest.approx(metrics["model"]["mase"])
    assert report["backtest"]["seasonal_naive"]["mape"] == pytest.approx(
        metrics["seasonal_naive"]["mape"]
    )
    assert "pipeline" not in report
    table = pd.read_csv(output)
    assert list(table.columns) == ["month", "actual", "forecast", "lo_80", "hi_80", "lo_95",
                                   "hi_95"]  # fmt: skip
    assert len(table) == 18 + 4
    assert table["actual"].iloc[:18].to_numpy() == pytest.approx(series.to_numpy())
    assert table["forecast"].iloc[:18].isna().all()


def test_forecast_writes_every_format_and_weighs_a_deals_file(
    monthly_csv: Path, tmp_path: Path
) -> None:
    deals = tmp_path / "deals.csv"
    deals.write_text(
        "amount,probability,expected_close_on\n1000,0.5,2024-09-03\n400,0.25,2024-09-20\n50,1,\n"
    )
    tables = []
    for suffix in (".csv", ".jsonl", ".parquet"):
        output = tmp_path / f"out{suffix}"
        code, stdout, stderr = run("forecast", "--transactions", str(monthly_csv), *COLUMNS,
                                   "--deals", str(deals), "-o", str(output))  # fmt: skip
        assert code == 0, stderr
        report = report_of(stdout)
        assert report["pipeline"] == [
            {"month": "2024-09", "deals": 2, "amount": 1400.0, "expected": 600.0},
            {"month": None, "deals": 1, "amount": 50.0, "expected": 50.0},
        ]
        reader = {".csv": pd.read_csv, ".parquet": pd.read_parquet}.get(
            suffix, lambda path: pd.read_json(path, lines=True)
        )
        tables.append(reader(output))
    assert tables[0]["month"].iloc[0] == "2023-01"
    assert tables[0]["actual"].iloc[0] == 100 + 101 + 102
    for other in tables[1:]:
        assert other["month"].astype(str).tolist() == tables[0]["month"].tolist()
        assert other["hi_95"].tolist() == pytest.approx(tables[0]["hi_95"].tolist(), nan_ok=True)


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--through", "2023-10-31"], 1, "10 months are too few"),
        (["--output", "out.xlsx"], 2, "--output must end in"),
        (["--customer-col", "nobody"], 2, "no column nobody"),
        (["--through", "someday"], 2, "--through is not a date"),
    ],
)
def test_forecast_usage_and_failure_exit_codes(
    monthly_csv: Path, tmp_path: Path, arguments: list[str], code: int, message: str
) -> None:
    options = {"--customer-col": "who", "--date-col": "when", "--amount-col": "value",
               "--output": str(tmp_path / "out.csv")}  # fmt: skip
    options |= dict(zip(arguments[::2], arguments[1::2], strict=True))
    flat = [part for pair in options.items() for part in pair]
    exit_code, stdout, stderr = run("forecast", "--transactions", str(monthly_csv), *flat)
    assert exit_code == code
    assert message in " ".join(stderr.split())
    assert stdout == ""


def test_spend_evaluates_both_models_and_predicts(sample: Path, tmp_path: Path) -> None:
    output = tmp_path / "spend.csv"
    code, stdout, stderr = run("spend", "--transactions", str(sample), *CDNOW_OPTIONS,
                               "--calibration-end", "1997-09-30", "--observation-end",
                               "1998-06-30", "--output", str(output))  # fmt: skip
    assert code == 0, stderr
    report = report_of(stdout)
    assert report["n_train"] + report["n_test"] == 2357
    assert report["period_days"] == 273
    for part in ("model", "baseline"):
        assert report[part]["mae"] > 0
        assert report[part]["r2"] < 1
    table = pd.read_csv(output, dtype={"customer_id": str})
    assert list(table.columns) == ["customer_id", "predicted_spend", "baseline_spend"]
    assert len(table) == 2357
    assert (table["predicted_spend"] >= 0).all()  # the Poisson model never goes negative
    assert table["predicted_spend"].sum() == pytest.approx(report["predicted_total"])


def test_forecast_on_the_database_includes_its_pipeline(tmp_path: Path) -> None:
    """Without --transactions the command reads the configured database (a real SQLite file)."""
    url = demo_sqlite(tmp_path)
    currency = scalar(
        url,
        "SELECT currency FROM \"order\" WHERE status NOT IN ('cancelled', 'refunded') "
        "GROUP BY currency ORDER BY COUNT(*) DESC LIMIT 1",
    )
    open_deals = scalar(
        url,
        "SELECT COUNT(*) FROM deal JOIN pipeline_stage s ON s.id = deal.stage_id "
        "WHERE deal.closed_at IS NULL AND NOT s.is_won AND NOT s.is_lost "
        "AND deal.currency = :currency",
        currency=currency,
    )
    output = tmp_path / "db.csv"
    options = ["--through", "2025-10-31", "--horizon", "2", "--output", str(output)]
    code, stdout, stderr = run("forecast", *options, env={"PATRON_DATABASE_URL": url})
    assert code == 0, stderr
    report = report_of(stdout)
    assert report["last_month"] == "2025-10"
    assert report["currency"] == currency
    assert report["n_months"] >= 14
    assert sum(row["deals"] for row in report["pipeline"]) == open_deals > 0
