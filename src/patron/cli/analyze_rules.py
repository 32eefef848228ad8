"""``patron analyze itemsets | rules | segments``: basket and customer analyses on files or the
database. The heavy imports (pandas, scikit-learn, the analytics, rich's progress bars and
tables) happen inside the commands, so ``patron --help`` and every other command start fast."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.markup import escape

from patron.cli import common
from patron.cli.rules_report import progress_bars, rule_table, step

if TYPE_CHECKING:
    import pandas as pd
    from rich.progress import Progress
    from rich.table import Table

    from patron.analytics._rule_tables import Mined


class BasketFormat(StrEnum):
    lines = "lines"
    long = "long"


BasketsOption = Annotated[
    Path | None,
    typer.Option(
        "--baskets",
        help="Basket file; without it, the order lines in the database.",
        dir_okay=False,
    ),
]
FormatOption = Annotated[
    BasketFormat,
    typer.Option(
        "--format",
        help="lines: one basket per line, items separated by --sep; long: CSV, one (order, item) "
        "per row.",
    ),
]
SepOption = Annotated[str, typer.Option("--sep", help="Item (lines) or field (long) separator.")]
OrderColOption = Annotated[
    str | None, typer.Option("--order-col", help="Order column of a long file.")
]
ItemColOption = Annotated[
    str | None, typer.Option("--item-col", help="Item column of a long file.")
]
MinSupportOption = Annotated[
    str,
    typer.Option(
        "--min-support",
        help="A fraction of baskets (0 < S <= 1, e.g. 0.01) or a basket count (an integer >= 1).",
    ),
]
MaxLenOption = Annotated[
    int | None, typer.Option("--max-len", min=1, help="Longest itemset to consider.")
]
OutputOption = Annotated[
    Path,
    typer.Option("--output", "-o", help="Result file: .csv, .jsonl or .parquet.", dir_okay=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print a JSON summary on stdout.")]


def _fail(message: str, code: int) -> NoReturn:
    common.fail(escape(message), code)


def parse_min_support(text: str) -> float | int:
    """A fraction when the text has a '.', an exponent or a value below 1; else a count."""
    from patron.analytics._rule_params import parse_min_support as parse

    try:
        return parse(text)
    except ValueError as exc:
        _fail(str(exc), common.EXIT_USAGE)


def _check_output(output: Path) -> None:
    from patron.analytics._io import UnknownFormatError, table_format

    try:
        table_format(output)
    except UnknownFormatError as exc:
        _fail(str(exc), common.EXIT_USAGE)
    if not output.parent.is_dir():
        _fail(f"cannot write {output}: the folder {output.parent} does not exist", common.EXIT_IO)


def _progress() -> Progress:
    return progress_bars(common.stderr)


def _read(path: Path, what: str, reader: Callable[[], Any]) -> Any:
    try:
        return reader()
    except FileNotFoundError:
        _fail(f"{what} file not found: {path}", common.EXIT_IO)
    except UnicodeDecodeError:
        _fail(f"{what} file is not UTF-8 text: {path}", common.EXIT_IO)
    except OSError as exc:
        _fail(f"cannot read {what} file {path}: {exc.strerror or exc}", common.EXIT_IO)
    except ValueError as exc:  # malformed CSV / Parquet / JSON, unknown extension
        _fail(f"cannot read {what} file {path}: {exc}", common.EXIT_USAGE)


def _database_baskets() -> Any:
    """The database's order lines, read by the insights layer (which owns database access)."""
    try:
        from patron.insights.data import load_baskets_from_database
    except ImportError as exc:
        _fail(f"cannot read baskets from the database ({exc}); pass --baskets FILE", 1)
    with common.handled_errors():
        return load_baskets_from_database()


def _write(frame: pd.DataFrame, output: Path, set_columns: tuple[str, ...] = ()) -> None:
    from patron.analytics._io import write_table

    try:
        write_table(frame, output, set_columns)
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror or exc}", common.EXIT_IO)


def _load_baskets(baskets: Path | None, fmt: BasketFormat, sep: str) -> Any:
    from patron.analytics._io import read_basket_lines, read_basket_long

    if baskets is None:
        return _database_baskets()
    if fmt is BasketFormat.lines:
        return _read(baskets, "baskets", lambda: read_basket_lines(baskets, sep))
    return _read(baskets, "baskets", lambda: read_basket_long(baskets, sep))


def _mine(
    baskets: Any,
    columns: tuple[str | None, str | None],
    support: float | int,
    max_len: int | None,
    thresholds: tuple[float, float | None] | None,
    progress: Progress,
) -> Mined:
    from patron.analytics._baskets import encode_baskets
    from patron.analytics._rule_tables import mine

    order_col, item_col = columns
    if (order_col is None) != (item_col is None):
        _fail("give both --order-col and --item-col, or neither", common.EXIT_USAGE)
    names = list(getattr(baskets, "columns", []))
    if order_col is None and len(names) > 2:
        _fail(
            f"the baskets have columns {names}: name the order and item columns with "
            "--order-col and --item-col",
            common.EXIT_USAGE,
        )
    with step(progress, "Mining frequent itemsets"):
        try:
            encoded = encode_baskets(baskets, order_col=order_col, item_col=item_col)
            return mine(encoded, support, max_len, thresholds)
        except (ValueError, TypeError) as exc:
            _fail(str(exc), common.EXIT_USAGE)


def _write_mined(mined: Mined, output: Path) -> None:
    """CSV straight from the tables (no pandas); other formats through the library's frames."""
    from patron.analytics._io import table_format, write_mined_csv

    if table_format(output) == ".csv":
        try:
            write_mined_csv(mined, output)
        except OSError as exc:
            _fail(f"cannot write {output}: {exc.strerror or exc}", common.EXIT_IO)
        return
    from patron.analytics.rules import itemset_frame, rule_frame

    if mined.rules is None:
        _write(itemset_frame(mined.itemsets, mined.n_baskets), output, ("itemset",))
    else:
        _write(rule_frame(mined.itemsets, mined.rules), output, ("antecedents", "consequents"))


def _strongest(mined: Mined, n: int = 10) -> list[tuple[Any, Any, float, float, float]]:
    from patron.analytics._rule_tables import RULE_METRICS

    rules, itemsets = mined.rules, mined.itemsets
    if rules is None:
        return []
    support, confidence, lift = (
        rules.metrics[RULE_METRICS.index(name), :n].tolist()
        for name in ("support", "confidence", "lift")
    )
    sides = zip(rules.antecedents[:n].tolist(), rules.consequents[:n].tolist(), strict=True)
    return [
        (itemsets.items_of(a), itemsets.items_of(c), *metrics)
        for (a, c), *metrics in zip(sides, support, confidence, lift, strict=True)
    ]


def _frame_rows(frame: pd.DataFrame, n: int = 10) -> list[tuple[Any, Any, float, float, float]]:
    return [
        (row.antecedents, row.consequents, row.support, row.confidence, row.lift)
        for row in frame.head(n).itertuples(index=False)
    ]


def _itemsets(
    baskets: Path | None,
    fmt: BasketFormat,
    sep: str,
    columns: tuple[str | None, str | None],
    min_support: str,
    max_len: int | None,
    output: Path,
    json_output: bool,
    thresholds: dict[str, float | None] | None,
) -> None:
    """The body of ``itemsets`` and, with ``thresholds``, of ``rules``."""
    support = parse_min_support(min_support)
    _check_output(output)
    started = time.perf_counter()
    if baskets is None and thresholds is not None:
        _rules_in_database(support, thresholds, max_len, output, json_output, started)
        return
    limits = None
    if thresholds is not None:
        limits = (thresholds["min_confidence"] or 0.0, thresholds["min_lift"])
    with _progress() as progress:
        with step(progress, "Reading baskets"):
            data = _load_baskets(baskets, fmt, sep)
        mined = _mine(data, columns, support, max_len, limits, progress)
        with step(progress, f"Writing {output.name}"):
            _write_mined(mined, output)
    summary: dict[str, Any] = {
        "command": "itemsets" if thresholds is None else "rules",
        "baskets": mined.n_baskets,
        "items": mined.n_items,
        "min_support": support,
        "min_count": mined.min_count,
        "max_len": max_len,
        "itemsets": len(mined.itemsets),
    }
    if thresholds is not None and mined.rules is not None:
        summary |= thresholds | {"rules": len(mined.rules)}
    summary |= {"output": str(output), "seconds": round(time.perf_counter() - started, 3)}
    if json_output:
        common.print_json(summary)
        return
    from patron.cli.rules_report import summary_line

    n_rules = None if mined.rules is None else len(mined.rules)
    common.stdout.print(
        summary_line(
            mined.n_baskets,
            mined.n_items,
            support,
            mined.min_count,
            len(mined.itemsets),
            n_rules,
            str(output),
        ),
        highlight=False,
    )
    if mined.rules is not None and len(mined.rules):
        common.stdout.print(rule_table(_strongest(mined)))


def itemsets(
    min_support: MinSupportOption,
    output: OutputOption,
    baskets: BasketsOption = None,
    fmt: FormatOption = BasketFormat.lines,
    sep: SepOption = ",",
    order_col: OrderColOption = None,
    item_col: ItemColOption = None,
    max_len: MaxLenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Frequent itemsets of the baskets (Eclat; the same itemsets as mlxtend's fpgrowth)."""
    _itemsets(
        baskets, fmt, sep, (order_col, item_col), min_support, max_len, output, json_output, None
    )


def rules(
    min_support: MinSupportOption,
    output: OutputOption,
    baskets: BasketsOption = None,
    fmt: FormatOption = BasketFormat.lines,
    sep: SepOption = ",",
    order_col: OrderColOption = None,
    item_col: ItemColOption = None,
    min_confidence: Annotated[
        float, typer.Option("--min-confidence", min=0.0, max=1.0, help="Lowest confidence kept.")
    ] = 0.0,
    min_lift: Annotated[
        float | None, typer.Option("--min-lift", min=0.0, help="Lowest lift kept.")
    ] = None,
    max_len: MaxLenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Association rules A → C with support, confidence, lift, leverage and conviction."""
    thresholds: dict[str, float | None] = {
        "min_confidence": min_confidence,
        "min_lift": min_lift,
    }
    _itemsets(
        baskets,
        fmt,
        sep,
        (order_col, item_col),
        min_support,
        max_len,
        output,
        json_output,
        thresholds,
    )


def _rules_in_database(
    support: float | int, thresholds: dict[str, float | None], max_len: int | None,
    output: Path, json_output: bool, started: float,
) -> None:  # fmt: skip
    """A rules run on the database's order lines, stored (recommendations use it), then written
    and summarised as from a file."""
    from patron.analytics.rules import min_support_count
    from patron.cli.analysis_runs import run_in_database

    parameters = {"min_support": support, "min_confidence": thresholds["min_confidence"] or 0.0,
                  "min_lift": thresholds["min_lift"], "max_len": max_len}  # fmt: skip
    run_id, outcome = run_in_database("rules", parameters)
    with _progress() as progress, step(progress, f"Writing {output.name}"):
        _write(outcome.rules, output, ("antecedents", "consequents"))
    summary: dict[str, Any] = {
        "command": "rules", "baskets": outcome.n_baskets, "items": outcome.n_items,
        "min_support": support, "min_count": min_support_count(support, outcome.n_baskets),
        "max_len": max_len, "itemsets": outcome.n_itemsets, **thresholds,
        "rules": len(outcome.rules), "output": str(output),
        "seconds": round(time.perf_counter() - started, 3), "run_id": str(run_id),
    }  # fmt: skip
    if json_output:
        common.print_json(summary)
        return
    common.stdout.print(
        f"{outcome.n_baskets:,} baskets, {outcome.n_items:,} items, min support {support}: "
        f"{outcome.n_itemsets:,} frequent itemsets, {len(outcome.rules):,} rules → "
        f"{escape(str(output))}; stored as analysis run {run_id}",
        highlight=False,
    )
    if len(outcome.rules):
        common.stdout.print(rule_table(_frame_rows(outcome.rules)))


def _parse_k(text: str) -> int | None:
    if text.strip().lower() == "auto":
        return None
    try:
        k = int(text)
    except ValueError:
        _fail(f"--k must be an integer >= 2 or 'auto', got {text!r}", common.EXIT_USAGE)
    if k < 2:
        _fail(f"--k must be an integer >= 2 or 'auto', got {text!r}", common.EXIT_USAGE)
    return k


def _parse_as_of(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        _fail(f"--as-of must be a date like 2024-12-31, got {text!r}", common.EXIT_USAGE)


def _segment_table(summary: pd.DataFrame) -> Table:
    from rich.table import Table

    table = Table(
        "segment",
        "name",
        "customers",
        "share",
        "revenue share",
        "recency (days)",
        "frequency",
        "monetary",
        title="Segments",
    )
    for row in summary.itertuples(index=False):
        table.add_row(
            str(row.segment),
            escape(str(row.name)),
            f"{row.size:,}",
            f"{row.share_of_customers:.1%}",
            f"{row.share_of_revenue:.1%}",
            f"{row.mean_recency:.1f}",
            f"{row.mean_frequency:.2f}",
            f"{row.mean_monetary:,.2f}",
        )
    return table


def segments(
    output: OutputOption,
    transactions: Annotated[
        Path | None,
        typer.Option(
            "--transactions",
            help="Transactions file (.csv, .parquet or .jsonl); without it, the database's orders.",
            dir_okay=False,
        ),
    ] = None,
    customer_col: Annotated[str, typer.Option("--customer-col")] = "customer_id",
    date_col: Annotated[str, typer.Option("--date-col")] = "ordered_at",
    amount_col: Annotated[str, typer.Option("--amount-col")] = "amount",
    order_col: Annotated[
        str | None,
        typer.Option(
            "--order-col",
            help="Order column; default order_id when present, else purchase days are counted.",
        ),
    ] = None,
    k: Annotated[str, typer.Option("--k", help="Number of segments, or 'auto'.")] = "auto",
    random_state: Annotated[int, typer.Option("--random-state")] = 0,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Count recency to this day (YYYY-MM-DD).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """RFM segments: k-means on recency, frequency and monetary value, each segment named."""
    import pandas as pd

    from patron.analytics._io import read_table
    from patron.analytics.rfm import rfm
    from patron.analytics.segmentation import RFMSegmenter

    clusters = _parse_k(k)
    day = _parse_as_of(as_of)
    _check_output(output)
    started = time.perf_counter()
    if transactions is None:
        run_id, (result, summary, k_found, silhouette) = _segments_in_database(
            clusters, random_state, day
        )
        with _progress() as progress, step(progress, f"Writing {output.name}"):
            _write(result, output)
        _segments_report(summary, result, k_found, silhouette, output, started, json_output, run_id)
        return
    with _progress() as progress:
        with step(progress, "Reading transactions"):
            frame = _read(transactions, "transactions", lambda: read_table(transactions))
        if order_col is None and "order_id" in frame.columns:
            order_col = "order_id"
        with step(progress, "Segmenting customers"):
            try:
                table = rfm(
                    frame,
                    day,
                    customer_col=customer_col,
                    order_col=order_col,
                    date_col=date_col,
                    amount_col=amount_col,
                )
                segmenter = RFMSegmenter(k=clusters, random_state=random_state).fit(table)
            except (ValueError, TypeError) as exc:
                _fail(str(exc), common.EXIT_USAGE)
        result = pd.DataFrame(
            {
                "customer": table.index.to_numpy(),
                "recency": table["recency"].to_numpy(),
                "frequency": table["frequency"].to_numpy(),
                "monetary": table["monetary_total"].to_numpy(),
                "segment": segmenter.labels_,
                "segment_name": [segmenter.segment_names_[s] for s in segmenter.labels_],
            }
        )
        with step(progress, f"Writing {output.name}"):
            _write(result, output)
    _segments_report(
        segmenter.segments_, result, segmenter.k_, segmenter.silhouette_, output, started,
        json_output,
    )  # fmt: skip


def _segments_in_database(
    k: int | None, random_state: int, as_of: dt.date | None
) -> tuple[str, tuple[pd.DataFrame, pd.DataFrame, int, float]]:
    """A segmentation run on the database, stored and applied; its id, and its rows as the file
    has them."""
    import uuid

    import pandas as pd

    from patron.cli.analysis_runs import run_in_database

    parameters: dict[str, Any] = {"k": "auto" if k is None else k, "random_state": random_state}
    if as_of is not None:
        parameters["as_of"] = as_of.isoformat()
    run_id, outcome = run_in_database("segmentation", parameters)
    table, names = (
        outcome.table,
        dict(zip(outcome.segments["segment"], outcome.segments["name"], strict=True)),
    )
    result = pd.DataFrame(
        {
            "customer": [str(uuid.UUID(str(c))) for c in table.index],
            "recency": table["recency"].to_numpy(),
            "frequency": table["frequency"].to_numpy(),
            "monetary": table["monetary_total"].to_numpy(),
            "segment": outcome.labels,
            "segment_name": [names[s] for s in outcome.labels],
        }
    )
    return str(run_id), (result, outcome.segments, len(outcome.segments), outcome.silhouette)


def _segments_report(
    summary: pd.DataFrame, result: pd.DataFrame, k: int, silhouette: float, output: Path,
    started: float, json_output: bool, run_id: str | None = None,
) -> None:  # fmt: skip
    from patron.analytics._io import json_value

    if json_output:
        common.stderr.print(_segment_table(summary))
        common.print_json(
            {
                "command": "segments",
                "customers": len(result),
                "k": k,
                "silhouette": None if math.isnan(silhouette) else round(silhouette, 6),
                "segments": [
                    {key: json_value(value) for key, value in record.items()}
                    for record in summary.to_dict(orient="records")
                ],
                "output": str(output),
                "seconds": round(time.perf_counter() - started, 3),
                **({"run_id": run_id} if run_id else {}),
            }
        )
        return
    common.stdout.print(_segment_table(summary))
    common.stdout.print(f"{len(result):,} customers → {escape(str(output))}", highlight=False)
    if run_id:
        common.stdout.print(f"Stored and applied as analysis run {run_id}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``patron analyze``."""
    app.command("itemsets")(itemsets)
    app.command("rules")(rules)
    app.command("segments")(segments)
