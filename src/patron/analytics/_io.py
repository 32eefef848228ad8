"""Reading baskets and transactions from files, writing result tables (CSV, JSON Lines, Parquet)."""

from __future__ import annotations

import json
import math
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

TABLE_FORMATS = (".csv", ".jsonl", ".parquet")


class UnknownFormatError(ValueError):
    """A file extension this module cannot read or write."""


def table_format(path: Path, allowed: tuple[str, ...] = TABLE_FORMATS) -> str:
    """The format a file's extension names: one of ``allowed``."""
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise UnknownFormatError(
            f"{path.name}: unknown extension {suffix or '(none)'!r}; "
            f"use one of {', '.join(allowed)}"
        )
    return suffix


def read_basket_lines(path: Path, sep: str = ",") -> list[list[str]]:
    """One basket per line, items separated by ``sep`` (FIMI ``.dat`` files use a space).

    Items are kept exactly as written (no stripping: some published data sets have labels ending
    in a space); empty items, such as the one a trailing separator leaves, are dropped, and blank
    lines are skipped.
    """
    if not sep:
        raise ValueError("the item separator must not be empty")
    baskets = []
    with path.open(encoding="utf-8", newline="") as handle:
        for line in handle:
            text = line.rstrip("\r\n")
            if text:
                baskets.append([item for item in text.split(sep) if item])
    return baskets


def read_basket_long(path: Path, sep: str = ",") -> pd.DataFrame:
    """A table of (order, item) rows: CSV with a header (or Parquet); every value read as text."""
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path).astype(object)
    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    return frame.replace("", None)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV, JSON Lines or Parquet file, by extension."""
    suffix = table_format(path)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix == ".jsonl":
        return pd.read_json(path, lines=True)
    return pd.read_csv(path)


def _items(value: Any) -> list[str]:
    return sorted(str(item) for item in value)


def json_value(value: Any) -> Any:
    """A JSON-ready value: sets as sorted lists of strings, non-finite floats as null."""
    if isinstance(value, frozenset | set | tuple | list):
        return _items(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def write_table(frame: pd.DataFrame, path: Path, set_columns: tuple[Hashable, ...] = ()) -> None:
    """Write ``frame`` in the format ``path``'s extension names.

    ``set_columns`` hold collections of items: they become sorted arrays of strings (JSON arrays
    inside CSV cells). In JSON Lines an infinite or missing number is written as ``null``.
    """
    suffix = table_format(path)
    out = frame.copy()
    if suffix == ".jsonl":
        columns = [str(column) for column in out.columns]
        with path.open("w", encoding="utf-8") as handle:
            for row in out.itertuples(index=False, name=None):
                record = dict(zip(columns, map(json_value, row), strict=True))
                handle.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        return
    for column in set_columns:
        if suffix == ".csv":
            out[column] = [json.dumps(_items(v), ensure_ascii=False) for v in out[column]]
        else:
            out[column] = pd.Series([_items(v) for v in out[column]], index=out.index, dtype=object)
    if suffix == ".parquet":
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False)
