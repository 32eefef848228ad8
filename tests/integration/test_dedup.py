"""Duplicate detection: quality on FEBRL, the pair contract, and ``patron dedupe scan``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from patron.integration.dedup import (
    DEFAULT_THRESHOLD,
    FIELDS,
    DuplicateFinder,
    estimate_weights,
    precision_recall_f1,
    read_febrl,
    true_pairs,
)
from tests.datasets import dataset_path

PEOPLE = pd.DataFrame(
    {
        "name": [
            "Jane Smith",
            "Robert Brown",
            "jane  smith",
            "Alice Walker",
            "Bob Brown",
            "Zoe Quinn",
        ],
        "email": [
            "jane.smith@example.com",
            "rbrown@example.org",
            "Jane.Smith@example.com",
            "alice@example.net",
            "rbrown@example.org",
            None,
        ],
        "phone": ["+61 2 9555 0101", "02 9555 0199", "(02) 9555-0101", None, "0295550199", None],
        "city": ["Sydney", "Perth", "sydney", "Hobart", "Perth", "Darwin"],
        "postal_code": ["2000", "6000", "2000", "7000", "6000", None],
    },
    index=["a", "b", "c", "d", "e", "f"],
)


@pytest.mark.parametrize("number", [1, 2])
def test_febrl_f1_at_default_threshold(number: int) -> None:
    frame, entities = read_febrl(dataset_path("febrl", f"dataset{number}.csv"))
    assert "rec_id" not in frame.columns
    found = DuplicateFinder().find(frame)
    assert (found["score"] >= DEFAULT_THRESHOLD).all()
    measured = precision_recall_f1(
        zip(found["left"], found["right"], strict=True), true_pairs(entities)
    )
    assert measured["f1"] >= 0.95, measured


def test_finds_planted_pairs_and_explains_them_by_field() -> None:
    finder = DuplicateFinder()
    found = finder.find(PEOPLE)
    assert set(zip(found["left"], found["right"], strict=True)) == {("a", "c"), ("b", "e")}
    explanation = finder.explain(found.iloc[0])
    assert list(explanation) == list(FIELDS)
    assert explanation["email"]["similarity"] == 1.0
    assert explanation["email"]["weight"] > 0
    # A field neither record has gives no evidence either way.
    assert explanation["date_of_birth"] == {"similarity": None, "weight": 0.0}


def test_pairs_are_unique_ordered_and_never_self() -> None:
    finder = DuplicateFinder(threshold=0.0)
    scored = finder.find(PEOPLE)
    assert len(scored) > 2
    assert (scored["left"] != scored["right"]).all()
    positions = {label: i for i, label in enumerate(PEOPLE.index)}
    assert all(
        positions[a] < positions[b] for a, b in zip(scored["left"], scored["right"], strict=True)
    )
    assert not scored.duplicated(["left", "right"]).any()
    assert scored["score"].between(0.0, 1.0).all()
    assert scored["score"].is_monotonic_decreasing


def test_symmetric_and_deterministic() -> None:
    finder = DuplicateFinder(threshold=0.0)
    first = finder.find(PEOPLE)
    pd.testing.assert_frame_equal(first, finder.find(PEOPLE))
    second = finder.find(PEOPLE.iloc[::-1])

    def by_pair(found: pd.DataFrame) -> dict[frozenset[str], float]:
        pairs = zip(found["left"], found["right"], strict=True)
        return {frozenset(pair): value for pair, value in zip(pairs, found["score"], strict=True)}

    key, other = by_pair(first), by_pair(second)
    assert key.keys() == other.keys()
    for pair, value in key.items():
        assert other[pair] == pytest.approx(value, abs=1e-12)


def test_swapped_names_and_day_month_still_match() -> None:
    people = pd.DataFrame(
        {
            "given_name": ["maria", "garcia", "tom"],
            "surname": ["garcia", "maria", "lee"],
            "date_of_birth": ["19800312", "19801203", "19550101"],
            "postal_code": ["4000", "4000", "4000"],
        }
    )
    found = DuplicateFinder().find(people)
    assert list(zip(found["left"], found["right"], strict=True)) == [(0, 1)]
    explanation = DuplicateFinder().explain(found.iloc[0])
    assert explanation["surname"]["similarity"] == 1.0
    assert explanation["date_of_birth"]["similarity"] == 0.95


def test_threshold_is_validated() -> None:
    with pytest.raises(ValueError, match="threshold"):
        DuplicateFinder(threshold=1.5).find(PEOPLE)
    with pytest.raises(ValueError, match="method"):
        DuplicateFinder(method="magic").find(PEOPLE)


def test_estimated_weights_are_monotone() -> None:
    similarities = pd.DataFrame({"surname": [1.0, 1.0, 0.95, 0.2, 0.1, np.nan, 0.8]})
    weights, prior = estimate_weights(
        similarities, np.array([True, True, True, False, False, False, True])
    )
    exact, close, similar, different = weights["surname"]
    assert exact >= close >= similar >= different
    assert different < 0 < exact
    assert prior == pytest.approx(np.log2(4 / 3), abs=0.01)


# --- the command line, on a real SQLite database -------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    from patron.customers.schemas import CustomerCreate
    from patron.customers.service import customers
    from patron.db.engine import Database
    from patron.db.migrate import upgrade
    from patron.security.permissions import Principal

    url = f"sqlite:///{tmp_path / 'dedupe.db'}"
    database = Database(url)
    upgrade(database.engine)
    records = [
        ("c-1", "Jane Smith", "jane.smith@example.com", "+61 2 9555 0101", "1980-03-12"),
        ("c-2", "Robert Brown", "rbrown@example.org", "02 9555 0199", None),
        ("c-3", "Jane Smyth", "jane.smith@example.com", "(02) 9555-0101", "1980-03-12"),
        ("c-4", "Alice Walker", "alice@example.net", None, "1975-01-01"),
        ("c-5", "Bob Brown", "rbrown@example.org", "0295550199", None),
        ("c-6", "Zoe Quinn", "zoe@example.com", None, None),
    ]
    with database.unit_of_work() as session:
        for external_id, name, email, phone, born in records:
            customers.create(
                session,
                Principal.system(),
                CustomerCreate(
                    name=name,
                    email=email,
                    phone=phone,
                    external_id=external_id,
                    custom_fields={"date_of_birth": born} if born else {},
                ),
            )
    database.dispose()
    return url


def test_cli_scan_writes_the_planted_pairs(database_url: str, tmp_path: Path) -> None:
    from patron.cli.main import app

    output = tmp_path / "pairs.csv"
    result = CliRunner().invoke(
        app,
        ["dedupe", "scan", "--output", str(output)],
        env={"PATRON_DATABASE_URL": database_url},
    )
    assert result.exit_code == 0, result.stderr
    with output.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == [
            "left_id",
            "right_id",
            "left_external_id",
            "right_external_id",
            "score",
        ]
        rows = list(reader)
    found = {frozenset((row["left_external_id"], row["right_external_id"])) for row in rows}
    assert found == {frozenset(("c-1", "c-3")), frozenset(("c-2", "c-5"))}
    for row in rows:
        assert row["left_id"] != row["right_id"]
        assert len(row["left_id"]) == 36
        assert 0.5 <= float(row["score"]) <= 1.0


@pytest.mark.parametrize("threshold", ["-0.1", "1.5"])
def test_cli_threshold_outside_unit_interval_is_usage_error(
    database_url: str, tmp_path: Path, threshold: str
) -> None:
    from patron.cli.main import app

    output = tmp_path / "pairs.csv"
    result = CliRunner().invoke(
        app,
        ["dedupe", "scan", "--threshold", threshold, "--output", str(output)],
        env={"PATRON_DATABASE_URL": database_url},
    )
    assert result.exit_code == 2
    assert not output.exists()
