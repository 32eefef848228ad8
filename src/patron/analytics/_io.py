"""Reading baskets and transactions from files, writing result tables (CSV, JSON Lines, Parquet).

pandas is imported by the functions that take or make a DataFrame, not by this module: reading a
basket file and writing mined itemsets or rules to CSV (:func:`write_mined_csv`) run without it.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from patron.analytics import _basket_lines
from patron.analytics._baskets import EncodedBaskets
from patron.analytics._plain import csv_field as _csv_field
from patron.analytics._plain import write_rows as _write_rows

if TYPE_CHECKING:
    import pandas as pd

    from patron.analytics._rule_tables import Mined

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


def read_basket_lines(path: Path, sep: str = ",") -> EncodedBaskets:
    """One basket per line, items separated by ``sep`` (FIMI ``.dat`` files use a space).

    Items are kept exactly as written (no stripping: some published data sets have labels ending
    in a space); empty items, such as the one a trailing separator leaves, are dropped, and blank
    lines are skipped; a line of separators only is an empty basket. The baskets come back
    encoded (see :mod:`patron.analytics._basket_lines`), as a sequence of item lists.
    """
    return _basket_lines.read(path, sep)


def read_basket_long(path: Path, sep: str = ",") -> pd.DataFrame:
    """A table of (order, item) rows: CSV with a header (or Parquet); every value read as text."""
    import pandas as pd

    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path).astype(object)
    frame = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False, na_filter=False)
    return frame.replace("", None)


def read_table(path: Path) -> pd.DataFrame:
    """A CSV, JSON Lines or Parquet file, by extension."""
    import pandas as pd

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
    pandas = sys.modules.get("pandas")  # a Timestamp means pandas is loaded
    if pandas is not None and isinstance(value, pandas.Timestamp):
        return value.isoformat()
    return value


def _once_per_object(values: Iterable[Any], convert: Callable[[Any], Any]) -> list[Any]:
    """``convert(value)`` for each value, computed once per distinct object: a rule table holds
    one frozenset object per itemset, however many rules share it."""
    import pandas as pd

    objects = np.fromiter(values, dtype=object)
    # The objects are alive (in ``objects``) until the end, so their ids are not reused.
    codes, _ = pd.factorize(np.fromiter(map(id, objects), dtype=np.int64, count=len(objects)))
    first = np.empty(int(codes.max()) + 1 if len(codes) else 0, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    converted = np.fromiter(map(convert, objects[first]), dtype=object, count=len(first))
    return converted[codes].tolist()


def _json_text(items: Any) -> str:
    return json.dumps(_items(items), ensure_ascii=False)


def _csv_text(items: Any) -> str:
    return _csv_field(_json_text(items))


def _float_texts(numbers: NDArray[np.float64]) -> list[str]:
    """``repr`` of each number (as the ``csv`` module writes floats), empty for NaN; formatted
    once per distinct value (by bit pattern, so ``-0.0`` stays apart): a rule table repeats its
    supports many times."""
    bits, inverse = np.unique(numbers.view(np.int64), return_inverse=True)
    texts = np.array(
        ["" if v != v else repr(v) for v in bits.view(np.float64).tolist()], dtype=object
    )
    return texts[inverse.reshape(-1)].tolist()


def _write_csv(frame: pd.DataFrame, path: Path, set_columns: tuple[Hashable, ...]) -> None:
    """As ``frame.to_csv(path, index=False)`` writes it, which is Python's ``csv`` module over
    the values (floats by ``repr``, a missing one empty), only faster for numeric columns."""
    import pandas as pd

    plain = frame.columns.is_unique and frame.shape[1] > 0
    plain = plain and not isinstance(frame.columns, pd.MultiIndex)
    columns: list[list[str]] = []
    for name in frame.columns if plain else ():
        values = frame[name]
        if name in set_columns:
            columns.append(_once_per_object(values, _csv_text))
        elif isinstance(values.dtype, np.dtype) and values.dtype.kind in "iub":
            columns.append(list(map(str, values.to_numpy().tolist())))
        elif values.dtype == np.float64:
            columns.append(_float_texts(values.to_numpy()))
        else:
            plain = False
            break
    if not plain:  # text, dates, categories, odd headers: pandas knows how to write them
        frame = frame.copy()
        for column in set_columns:
            frame[column] = _once_per_object(frame[column], _json_text)
        frame.to_csv(path, index=False)
        return
    _write_rows(path, [str(name) for name in frame.columns], columns)


def write_mined_csv(mined: Mined, path: Path) -> None:
    """The rules of ``mined`` (or its itemsets, when it has no rules) to CSV, as
    :func:`write_table` writes the estimators' DataFrames, without making them: each itemset's
    text is made once, however many rules hold it."""
    from patron.analytics._rule_tables import RULE_METRICS

    texts = np.array(mined.itemsets.texts(_csv_field), dtype=object)
    if mined.rules is None:
        count = mined.itemsets.count
        columns = [
            texts.tolist(),
            _float_texts(count / float(mined.n_baskets)),
            list(map(str, count.tolist())),
        ]
        _write_rows(path, ["itemset", "support", "count"], columns)
        return
    rules = mined.rules
    columns = [texts[rules.antecedents].tolist(), texts[rules.consequents].tolist()]
    columns += [_float_texts(values) for values in rules.metrics]
    _write_rows(path, ["antecedents", "consequents", *RULE_METRICS], columns)


def write_table(frame: pd.DataFrame, path: Path, set_columns: tuple[Hashable, ...] = ()) -> None:
    """Write ``frame`` in the format ``path``'s extension names.

    ``set_columns`` hold collections of items: they become sorted arrays of strings (JSON arrays
    inside CSV cells). In JSON Lines an infinite or missing number is written as ``null``.
    """
    suffix = table_format(path)
    if suffix == ".csv":
        _write_csv(frame, path, set_columns)
        return
    if suffix == ".jsonl":
        columns = [str(column) for column in frame.columns]
        with path.open("w", encoding="utf-8") as handle:
            for row in frame.itertuples(index=False, name=None):
                record = dict(zip(columns, map(json_value, row), strict=True))
                handle.write(json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
        return
    import pandas as pd

    out = frame.copy()
    for column in set_columns:
        out[column] = pd.Series(
            _once_per_object(out[column], _items), index=out.index, dtype=object
        )
    out.to_parquet(path, index=False)
