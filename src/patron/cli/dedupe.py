"""``patron dedupe``: find customers that are likely the same person."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from patron.cli import common

app = typer.Typer(help="Find likely duplicate customers.", no_args_is_help=True)

PAIR_COLUMNS = ("left_id", "right_id", "left_external_id", "right_external_id", "score")

# The default threshold is patron.integration.dedup.DEFAULT_THRESHOLD; it is repeated here so
# that ``--help`` does not import pandas and rapidfuzz.
DEFAULT_THRESHOLD = 0.5


@app.command("scan")
@common.command
def scan(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", dir_okay=False, help="CSV file to write the candidate pairs to."
        ),
    ],
    threshold: Annotated[
        float,
        typer.Option(
            "--threshold",
            min=0.0,
            max=1.0,
            help="Lowest score (a match probability in [0, 1]) of a pair to write.",
        ),
    ] = DEFAULT_THRESHOLD,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print a summary as JSON on stdout.")
    ] = False,
    save: Annotated[
        bool,
        typer.Option(
            "--save", help="Also keep the pairs for review (the duplicates page and API)."
        ),
    ] = False,
) -> None:
    """Score likely duplicate customers and write the pairs, best first, as CSV."""
    from patron.integration.dedup import DuplicateFinder
    from patron.integration.dedup_data import load_customers_from_database

    customers = load_customers_from_database(settings=common.settings())
    finder = DuplicateFinder(threshold=threshold)
    pairs = finder.find(customers)
    left = customers.loc[pairs["left"]].reset_index(drop=True)
    right = customers.loc[pairs["right"]].reset_index(drop=True)
    table = left[["id", "external_id"]].rename(
        columns={"id": "left_id", "external_id": "left_external_id"}
    )
    table["right_id"] = right["id"]
    table["right_external_id"] = right["external_id"]
    table["score"] = pairs["score"].round(4)
    table[list(PAIR_COLUMNS)].to_csv(output, index=False)
    summary: dict[str, object] = {
        "customers": len(customers),
        "pairs": len(pairs),
        "output": str(output),
    }
    if save:
        from patron.db.engine import Database
        from patron.integration.duplicates import store_scan

        database = Database(common.settings().resolved_database_url)
        try:
            summary["saved"] = store_scan(database, threshold)["pairs"]
        finally:
            database.dispose()
    if json_output:
        common.print_json(summary)
    else:
        common.stderr.print(
            f"{len(pairs):,} candidate pairs among {len(customers):,} customers "
            f"written to {output}.",
            highlight=False,
        )


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="dedupe")
