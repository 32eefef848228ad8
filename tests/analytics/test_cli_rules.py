"""``patron analyze itemsets | rules | segments`` through Typer's CliRunner."""

from __future__ import annotations

import json
import sys

import numpy as np
import pandas as pd
import pytest
import typer
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from patron.analytics.rules import AssociationRuleMiner, FrequentItemsetMiner
from tests.datasets import dataset_path

BASKETS = [
    ["bread", "milk"],
    ["bread", "diapers", "beer", "eggs"],
    ["milk", "diapers", "beer", "cola"],
    ["bread", "milk", "diapers", "beer"],
    ["bread", "milk", "diapers", "cola"],
]


def _app() -> typer.Typer:
    try:
        from patron.cli.main import app
    except ImportError:  # the root app is still being written: mount the group on a bare app
        from patron.cli import analyze_rules

        app = typer.Typer()
        group = typer.Typer()
        analyze_rules.register(group)
        app.add_typer(group, name="analyze")
    return app


@pytest.fixture(scope="module")
def invoke():
    app = _app()
    runner = CliRunner()

    def run(*args: str):
        with threadpool_limits(limits=1):  # see test_segmentation: shared cores and OpenMP
            return runner.invoke(app, ["analyze", *map(str, args)])

    return run


def _said(text: str) -> str:
    """Rich wraps long lines; compare with single spaces."""
    return " ".join(text.split())


@pytest.fixture
def lines_file(tmp_path):
    path = tmp_path / "baskets.csv"
    path.write_text("\n".join(",".join(b) for b in BASKETS) + "\n", encoding="utf-8")
    return path


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_rules_to_jsonl_match_the_library(invoke, lines_file, tmp_path):
    out = tmp_path / "rules.jsonl"
    result = invoke("rules", "--baskets", lines_file, "--min-support", "0.4", "-o", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # stdout holds the JSON summary and nothing else
    expected = AssociationRuleMiner(min_support=0.4).fit(BASKETS).rules_
    assert summary["command"] == "rules"
    assert summary["baskets"] == 5
    assert summary["items"] == 6
    assert summary["min_count"] == 2
    assert summary["rules"] == len(expected) == 40  # 8 pairs give 2 rules each, 4 triples 6
    records = _read_jsonl(out)
    assert len(records) == len(expected)
    assert list(records[0]) == [
        "antecedents", "consequents", "antecedent_support", "consequent_support", "support",
        "confidence", "lift", "leverage", "conviction",
    ]  # fmt: skip
    for record, (_, row) in zip(records, expected.iterrows(), strict=True):
        assert record["antecedents"] == sorted(row["antecedents"])
        assert record["consequents"] == sorted(row["consequents"])
        assert record["lift"] == row["lift"]
        assert record["conviction"] == (None if row["conviction"] == np.inf else row["conviction"])
    assert any(record["conviction"] is None for record in records)  # beer → diapers: certain


def test_rules_thresholds_and_human_output(invoke, lines_file, tmp_path):
    out = tmp_path / "rules.csv"
    result = invoke(
        "rules", "--baskets", lines_file, "--min-support", "2", "--min-confidence", "0.7",
        "--min-lift", "1.1", "--max-len", "2", "-o", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "5 baskets, 6 items" in _said(result.stdout)
    assert "Strongest rules" in result.stdout
    frame = pd.read_csv(out)
    expected = AssociationRuleMiner(2, min_confidence=0.7, min_lift=1.1, max_len=2).fit(BASKETS)
    assert len(frame) == len(expected.rules_) > 0
    assert frame["antecedents"].map(json.loads).tolist() == [
        sorted(s) for s in expected.rules_["antecedents"]
    ]
    np.testing.assert_allclose(frame["confidence"], expected.rules_["confidence"], rtol=1e-15)


def test_itemsets_from_a_long_file_to_parquet(invoke, tmp_path):
    long = tmp_path / "lines.csv"
    rows = [(f"A{n:03d}", item, 1) for n, basket in enumerate(BASKETS) for item in basket]
    pd.DataFrame(rows, columns=["order_ref", "sku", "qty"]).to_csv(long, index=False)
    out = tmp_path / "itemsets.parquet"
    result = invoke(
        "itemsets", "--baskets", long, "--format", "long", "--order-col", "order_ref",
        "--item-col", "sku", "--min-support", "0.6", "-o", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["itemsets"] == 8
    frame = pd.read_parquet(out)
    expected = FrequentItemsetMiner(min_support=0.6).fit(BASKETS).itemsets_
    assert [list(s) for s in frame["itemset"]] == [sorted(s) for s in expected["itemset"]]
    assert frame["support"].tolist() == expected["support"].tolist()
    assert frame["count"].tolist() == [4, 4, 4, 3, 3, 3, 3, 3]
    assert frame["itemset"].map(list).tolist()[3:5] == [["beer"], ["beer", "diapers"]]


def test_fimi_dat_file_with_space_separator(invoke, tmp_path):
    dat = tmp_path / "retail.dat"
    dat.write_text("1 2 3 \n2 3 \n3 4 \n\n1 3 \n", encoding="utf-8")  # trailing spaces, blank line
    out = tmp_path / "itemsets.jsonl"
    result = invoke("itemsets", "--baskets", dat, "--sep", " ", "--min-support", "2", "-o", out)
    assert result.exit_code == 0, result.output
    records = _read_jsonl(out)
    assert [(r["itemset"], r["count"]) for r in records] == [
        (["3"], 4), (["1"], 2), (["2"], 2), (["1", "3"], 2), (["2", "3"], 2),
    ]  # fmt: skip
    assert records[0]["support"] == 1.0  # 4 baskets: the blank line is not one


def test_groceries_rules_summary(invoke, tmp_path):
    path = dataset_path("groceries", "groceries.csv")
    out = tmp_path / "rules.jsonl"
    result = invoke(
        "rules", "--baskets", path, "--min-support", "0.01", "--min-confidence", "0.5",
        "-o", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["baskets"], summary["items"]) == (9835, 169)
    assert (summary["itemsets"], summary["rules"]) == (333, 15)  # arules' published figures
    assert len(_read_jsonl(out)) == 15


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--min-support", "0"], 2, "--min-support as a fraction must be in (0, 1]"),
        (["--min-support", "2.5"], 2, "--min-support as a fraction must be in (0, 1]"),
        (["--min-support", "-3"], 2, "--min-support as a fraction must be in (0, 1]"),
        (["--min-support", "lots"], 2, "--min-support must be a number"),
        (["--min-support", "0.1", "-o", "{tmp}/out.xlsx"], 2, "unknown extension '.xlsx'"),
        (["--min-support", "0.1", "-o", "{tmp}/missing/out.csv"], 74, "does not exist"),
        (["--min-support", "0.1", "--baskets", "{tmp}/nope.csv"], 74, "file not found"),
        (["--min-support", "0.1", "--format", "long", "--baskets", "{tmp}/3.csv"], 2, "--item-col"),
        (
            [
                "--min-support",
                "1",
                "--format",
                "long",
                "--baskets",
                "{tmp}/3.csv",
                "--order-col",
                "o",
                "--item-col",
                "sku",
            ],
            2,
            "the baskets have no column 'sku'",
        ),
        (["--min-support", "0.1", "--order-col", "x"], 2, "both --order-col and --item-col"),
    ],
)
def test_bad_input_gives_a_message_and_an_exit_code(
    invoke, lines_file, tmp_path, args, code, message
):
    defaults = {"--baskets": str(lines_file), "-o": str(tmp_path / "out.csv")}
    (tmp_path / "3.csv").write_text("o,i,qty\n1,a,1\n", encoding="utf-8")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    for option, value in defaults.items():
        if option not in args:
            args += [option, value]
    result = invoke("itemsets", *args)
    assert result.exit_code == code, result.output
    assert message in _said(result.stderr)
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_missing_database_loader_exits_1(invoke, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "patron.insights.data", None)  # import fails
    result = invoke("itemsets", "--min-support", "0.4", "-o", tmp_path / "i.csv")
    assert result.exit_code == 1
    assert "pass --baskets FILE" in _said(result.stderr)


@pytest.fixture
def transactions_file(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for customer in range(60):
        recent = customer < 30
        for order in range(1 if customer % 3 else 6):
            day = rng.integers(0, 20) if recent else rng.integers(200, 300)
            rows.append((f"cust-{customer:02d}", f"o{customer}-{order}", day, rng.uniform(10, 90)))
    frame = pd.DataFrame(rows, columns=["client", "ref", "days_ago", "paid"])
    frame["when"] = pd.Timestamp("2024-12-31") - pd.to_timedelta(frame.pop("days_ago"), unit="D")
    path = tmp_path / "transactions.csv"
    frame.to_csv(path, index=False)
    return path


def test_segments_from_a_transactions_file(invoke, transactions_file, tmp_path):
    out = tmp_path / "segments.jsonl"
    result = invoke(
        "segments", "--transactions", transactions_file, "--customer-col", "client",
        "--date-col", "when", "--amount-col", "paid", "--order-col", "ref", "--k", "3",
        "--random-state", "4", "--as-of", "2024-12-31", "-o", out, "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["command"] == "segments"
    assert summary["customers"] == 60
    assert summary["k"] == 3
    assert [s["segment"] for s in summary["segments"]] == [0, 1, 2]
    assert sum(s["size"] for s in summary["segments"]) == 60
    assert "Segments" in result.stderr  # the table goes to stderr when stdout is JSON
    records = _read_jsonl(out)
    assert len(records) == 60
    assert list(records[0]) == [
        "customer", "recency", "frequency", "monetary", "segment", "segment_name",
    ]  # fmt: skip
    names = {s["segment"]: s["name"] for s in summary["segments"]}
    assert all(r["segment_name"] == names[r["segment"]] for r in records)
    first = next(r for r in records if r["customer"] == "cust-00")
    assert first["frequency"] == 6


def test_segments_auto_k_from_parquet_prints_a_table(invoke, transactions_file, tmp_path):
    parquet = tmp_path / "transactions.parquet"
    frame = pd.read_csv(transactions_file, parse_dates=["when"])
    frame.rename(columns={"client": "customer_id", "ref": "order_id", "when": "ordered_at",
                          "paid": "amount"}).to_parquet(parquet)  # fmt: skip
    out = tmp_path / "segments.csv"
    result = invoke("segments", "--transactions", parquet, "-o", out)
    assert result.exit_code == 0, result.output
    assert "Segments" in result.stdout
    assert "60 customers" in _said(result.stdout)
    written = pd.read_csv(out)
    assert len(written) == 60
    assert written["frequency"].max() == 6  # order_id was picked up without --order-col


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--k", "1"], 2, "--k must be an integer >= 2 or 'auto'"),
        (["--k", "some"], 2, "--k must be an integer >= 2 or 'auto'"),
        (["--as-of", "31/12/2024"], 2, "--as-of must be a date"),
        (["--customer-col", "nobody"], 2, "no column(s) ['nobody']"),
        (["-o", "{tmp}/s.txt"], 2, "unknown extension '.txt'"),
    ],
)
def test_segments_bad_input(invoke, transactions_file, tmp_path, args, code, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "s.csv")]
    base = ["--transactions", str(transactions_file), "--date-col", "when", "--amount-col", "paid"]
    if "--customer-col" not in args:
        base += ["--customer-col", "client"]
    result = invoke("segments", *base, *args)
    assert result.exit_code == code, result.output
    assert message in _said(result.stderr)
    assert "Traceback" not in result.output
