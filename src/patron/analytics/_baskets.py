"""Baskets in any of the accepted shapes → one sparse basket-by-item matrix and its item labels."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

Baskets = pd.DataFrame | sp.spmatrix | sp.sparray | Iterable[Iterable[Hashable]]


def _factorize(values: Any) -> tuple[NDArray[np.int64], list[Hashable]]:
    """Codes and labels, labels sorted when they can be (so codes follow the labels' order)."""
    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # labels of mixed types that cannot be compared
        codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), list(np.asarray(uniques, dtype=object).tolist())


def _from_pairs(
    order_codes: NDArray[np.int64], item_values: Any, n_baskets: int
) -> tuple[sp.csr_matrix, list[Hashable]]:
    item_codes, items = _factorize(item_values)
    present = item_codes >= 0  # a missing item is no item
    rows, cols = order_codes[present], item_codes[present]
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(n_baskets, len(items))
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1  # an item bought twice in one basket counts once
    return matrix, items


def _from_long(frame: pd.DataFrame, order_col: Hashable, item_col: Hashable) -> Any:
    for column in (order_col, item_col):
        if column not in frame.columns:
            raise ValueError(f"the baskets have no column {column!r}")
    orders = frame[order_col]
    if orders.isna().any():
        raise ValueError(f"column {order_col!r} has missing order ids")
    order_codes, order_labels = pd.factorize(orders)
    return _from_pairs(np.asarray(order_codes, dtype=np.int64), frame[item_col], len(order_labels))


def _from_one_hot(frame: pd.DataFrame) -> tuple[sp.csr_matrix, list[Hashable]]:
    if frame.shape[1] and all(isinstance(d, pd.SparseDtype) for d in frame.dtypes):
        matrix = sp.csr_matrix(frame.sparse.to_coo())
    else:
        matrix = sp.csr_matrix(frame.to_numpy(dtype=bool))
    matrix = sp.csr_matrix(matrix, dtype=np.int32)
    matrix.eliminate_zeros()
    matrix.data[:] = 1
    return matrix, list(frame.columns)


def _is_one_hot(frame: pd.DataFrame) -> bool:
    def boolean(dtype: Any) -> bool:
        if isinstance(dtype, pd.SparseDtype):
            dtype = dtype.subtype
        return pd.api.types.is_bool_dtype(dtype)

    return frame.shape[1] > 0 and all(boolean(d) for d in frame.dtypes)


def basket_matrix(
    baskets: Baskets,
    *,
    order_col: Hashable | None = None,
    item_col: Hashable | None = None,
) -> tuple[sp.csr_matrix, list[Hashable]]:
    """A binary CSR matrix (one row per basket, one column per item) and the item labels.

    Accepted shapes:

    * a long DataFrame, one row per (order, item): the columns ``order_col`` and ``item_col``,
      or, when they are not given, its only two columns in that order;
    * a one-hot DataFrame of booleans (dense or pandas-sparse), as mlxtend takes: columns are items;
    * a scipy sparse matrix, baskets by items: items are the column numbers;
    * an iterable of baskets, each an iterable of hashable items.

    A missing item (None/NaN) is ignored, an item repeated in a basket counts once; a basket with
    no items still counts as a basket. Item labels are sorted when they are comparable.
    """
    if isinstance(baskets, pd.DataFrame):
        if order_col is not None or item_col is not None:
            if order_col is None or item_col is None:
                raise ValueError("give both order_col and item_col, or neither")
            return _from_long(baskets, order_col, item_col)
        if _is_one_hot(baskets):
            return _from_one_hot(baskets)
        if baskets.shape[1] == 2:
            return _from_long(baskets, baskets.columns[0], baskets.columns[1])
        raise ValueError(
            "a baskets DataFrame needs order_col and item_col (or exactly two columns, "
            f"order then item); got columns {list(baskets.columns)}"
        )
    if sp.issparse(baskets):
        matrix = sp.csr_matrix(baskets, dtype=np.int32)
        matrix.eliminate_zeros()
        matrix.data[:] = 1
        return matrix, list(range(matrix.shape[1]))
    if isinstance(baskets, str | bytes) or not isinstance(baskets, Iterable):
        raise TypeError(
            "baskets must be a DataFrame, a sparse matrix or an iterable of item lists, "
            f"not {type(baskets).__name__}"
        )
    rows: list[list[Hashable]] = []
    for basket in baskets:
        if isinstance(basket, str | bytes) or not isinstance(basket, Iterable):
            raise TypeError(f"each basket must be an iterable of items, got {basket!r}")
        rows.append(list(basket))
    lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter(chain.from_iterable(rows), dtype=object, count=int(lengths.sum()))
    order_codes = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    return _from_pairs(order_codes, flat, len(rows))
