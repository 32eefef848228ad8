"""``patron analyze clv`` through Typer's CliRunner: files in, one row per customer out."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from tests.datasets import dataset_path
from tests.factories import demo_sqlite, scalar

try:
    from patron.cli.main import app
except ImportError:  # the root app's other command groups are still being written
    from patron.cli import analyze

    app = typer.Typer()
    app.add_typer(analyze.app, name="analyze")

OUTPUT_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary",
    "p_alive",
    "expected_purchases",
    "clv",
]
CDNOW_OPTIONS = [
    "--no-header",
    "--columns",
    "master_id,customer_id,date,cds,amount",
    "--sep",
    "whitespace",
    "--date-format",
    "%Y%m%d",
    "--calibration-end",
    "1997-09-30",
]

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["analyze", "clv", *args])
    return result.exit_code, result.stdout, result.stderr


def single_json_line(stdout: str) -> dict[str, object]:
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    return json.loads(lines[0])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def sample() -> Path:
    return dataset_path("cdnow", "CDNOW_sample.txt")


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    """A few customers in a CSV with a header and ISO dates."""
    path = tmp_path / "orders.csv"
    rows = ["who,when,value"]
    for customer in range(1, 9):
        for week in range(0, customer * 3, 3):
            value = 5 + (customer * 37 + week * 11) % 23
            rows.append(f"c{customer},2024-01-{1 + week:02d},{value}.50")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_cdnow_sample_reproduces_the_papers(sample: Path, tmp_path: Path) -> None:
    output = tmp_path / "clv.csv"
    code, stdout, _ = run(
        "--transactions",
        str(sample),
        *CDNOW_OPTIONS,
        "--observation-end",
        "1998-06-30",
        "--output",
        str(output),
    )
    assert code == 0
    report = single_json_line(stdout)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    published |= {"p": 6.25, "q": 3.74, "gamma": 15.44}
    for name, value in published.items():
        assert report[name] == pytest.approx(value, rel=0.01), name
    assert report["log_likelihood"] == pytest.approx(-9582.4, abs=0.1)
    assert report["n_customers"] == 2357
    assert report["n_repeat_buyers"] == 946
    assert report["frequency_monetary_correlation"] == pytest.approx(0.1139, abs=1e-4)
    assert report["frequency_monetary_warning"] is None
    assert report["holdout_actual"] == 1882
    assert report["holdout_expected"] == pytest.approx(1653.41, abs=0.05)
    assert report["rows_rejected"] == 0

    result = pd.read_csv(output, dtype={"customer_id": str})
    assert list(result.columns) == [*OUTPUT_COLUMNS, "frequency_holdout", "expected_holdout"]
    assert len(result) == 2357
    first = result.iloc[0]
    assert first["customer_id"] == "0001"  # ids kept as written, leading zeros included
    assert (first["frequency"], first["monetary"]) == (2, pytest.approx(22.345))
    assert first["recency"] == pytest.approx(213 / 7)
    assert first["p_alive"] == pytest.approx(0.7266, abs=1e-4)
    assert result["clv"].sum() == pytest.approx(report["total_clv"])
    assert (result["clv"] >= 0).all()
    assert ((result["p_alive"] > 0) & (result["p_alive"] <= 1)).all()


def test_csv_jsonl_and_parquet_give_the_same_rows(small_csv: Path, tmp_path: Path) -> None:
    options = ["--customer-col", "who", "--date-col", "when", "--amount-col", "value"]
    options += ["--calibration-end", "2024-01-20", "--time-unit", "day"]
    frames = []
    for suffix in (".csv", ".jsonl", ".parquet"):
        output = tmp_path / f"out{suffix}"
        code, stdout, _ = run("--transactions", str(small_csv), *options, "-o", str(output))
        assert code == 0, stdout
        reader = {".csv": pd.read_csv, ".parquet": pd.read_parquet}.get(
            suffix, lambda path: pd.read_json(path, lines=True)
        )
        frames.append(reader(output))
    assert list(frames[0].columns) == ["who", *OUTPUT_COLUMNS[1:]]
    assert frames[0]["who"].tolist() == [f"c{i}" for i in range(1, 9)]
    assert frames[0]["frequency"].tolist() == [0, 1, 2, 3, 4, 5, 6, 6]  # c8's 8th is on 01-22
    assert frames[0].notna().all().all()
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other, check_dtype=False)


def test_parquet_input(small_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(small_csv).assign(when=lambda f: pd.to_datetime(f["when"]))
    frame.to_parquet(tmp_path / "orders.parquet")
    options = ["--customer-col", "who", "--date-col", "when", "--amount-col", "value"]
    outputs = []
    for source in (small_csv, tmp_path / "orders.parquet"):
        output = tmp_path / f"from-{source.suffix[1:]}.csv"
        code, stdout, _ = run("--transactions", str(source), *options, "-o", str(output))
        assert code == 0
        outputs.append((single_json_line(stdout)["r"], pd.read_csv(output)))
    assert outputs[0][0] == outputs[1][0]
    pd.testing.assert_frame_equal(outputs[0][1], outputs[1][1])


def test_rejected_rows_are_counted_and_exit_65(small_csv: Path, tmp_path: Path) -> None:
    with small_csv.open("a") as handle:
        handle.write("c1,not-a-date,3.00\nc2,2024-01-05,free\n,2024-01-05,1.00\n")
    output = tmp_path / "out.csv"
    code, stdout, stderr = run(
        "--transactions",
        str(small_csv),
        "--customer-col",
        "who",
        "--date-col",
        "when",
        "--amount-col",
        "value",
        "-o",
        str(output),
    )
    assert code == 65
    assert single_json_line(stdout)["rows_rejected"] == 3
    assert "rejected 3 of" in stderr
    assert len(pd.read_csv(output)) == 8


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--customer-col", "nobody"], 2, "no column nobody"),
        (["--calibration-end", "someday"], 2, "--calibration-end is not a date"),
        (["--observation-end", "2023-01-01"], 2, "must be after --calibration-end"),
        (["--no-header"], 2, "--no-header needs --columns"),
        (["--output", "out.xlsx"], 2, "--output must end in .csv, .jsonl, .parquet"),
        (["--horizon", "0"], 2, "Invalid value"),
        (["--calibration-end", "2020-01-01"], 2, "no customer made a first purchase"),
    ],
)
def test_bad_options_are_usage_errors(
    small_csv: Path, tmp_path: Path, arguments: list[str], code: int, message: str
) -> None:
    base = {"--customer-col": "who", "--date-col": "when", "--amount-col": "value"}
    base |= {"--output": str(tmp_path / "out.csv")}
    for key, value in zip(arguments[::2], arguments[1::2], strict=False):
        base[key] = value
    flat = [part for pair in base.items() for part in pair]
    flat += [arg for arg in arguments if arg == "--no-header"]
    exit_code, stdout, stderr = run("--transactions", str(small_csv), *flat)
    assert exit_code == code
    assert message in " ".join(stderr.split())
    assert "Traceback" not in stderr
    assert stdout == ""


def test_io_errors_exit_74(small_csv: Path, tmp_path: Path) -> None:
    options = ["--customer-col", "who", "--date-col", "when", "--amount-col", "value"]
    code, _, stderr = run("--transactions", str(tmp_path / "missing.csv"), "-o", "x.csv")
    assert code == 74
    assert "no such file" in stderr
    unwritable = tmp_path / "no-such-dir" / "out.csv"
    code, _, stderr = run("--transactions", str(small_csv), *options, "-o", str(unwritable))
    assert code == 74
    assert "Traceback" not in stderr
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    code, _, stderr = run("--transactions", str(broken), "-o", str(tmp_path / "o.csv"))
    assert code == 74
    assert "cannot read" in stderr


def test_database_mode_reads_the_purchases_in_the_database(tmp_path: Path) -> None:
    """Without --transactions the command reads the configured database (a real SQLite file)."""
    url = demo_sqlite(tmp_path)
    buyers = scalar(
        url,
        'SELECT COUNT(DISTINCT customer_id) FROM "order" '
        "WHERE status NOT IN ('cancelled', 'refunded') AND ordered_at < '2026-05-01'",
    )
    output = tmp_path / "db.csv"
    result = runner.invoke(
        app,
        ["analyze", "clv", "--calibration-end", "2026-04-30", "--output", str(output)],
        env={"PATRON_DATABASE_URL": url},
    )
    assert result.exit_code == 0, result.stderr
    assert single_json_line(result.stdout)["n_customers"] == buyers > 0
    frame = pd.read_csv(output)
    assert list(frame.columns) == OUTPUT_COLUMNS
    assert len(frame) == buyers


def test_database_mode_reports_an_unreachable_database(tmp_path: Path) -> None:
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/none"
    result = runner.invoke(
        app,
        ["analyze", "clv", "--calibration-end", "2026-04-30", "-o", str(tmp_path / "x.csv")],
        env={"PATRON_DATABASE_URL": unreachable},
    )
    assert result.exit_code == 69
    assert "Cannot reach the database" in " ".join(result.stderr.split())
    assert result.stdout == ""
