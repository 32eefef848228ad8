"""Baskets in any of the accepted shapes → one encoded basket table and its item labels.

pandas and scipy are imported only for inputs of theirs (they are loaded already then) or for
labels other than text, so that the command line reading a basket file pays for neither.
"""

from __future__ import annotations

import sys
from collections.abc import Hashable, Iterable, Iterator, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any, TypeAlias, overload

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd
    import scipy.sparse as sp


class EncodedBaskets(Sequence[list[Hashable]]):
    """Baskets as compressed sparse rows: basket ``b`` holds the items ``items[c]`` for the codes
    ``c`` in ``indices[indptr[b]:indptr[b + 1]]``, ascending and without repeats.

    It is also a read-only sequence of item lists, so it stands wherever a list of baskets does.
    """

    __slots__ = ("indices", "indptr", "items")

    def __init__(
        self, indptr: NDArray[np.int64], indices: NDArray[np.int32], items: list[Hashable]
    ) -> None:
        self.indptr = indptr
        self.indices = indices
        self.items = items

    @property
    def n_items(self) -> int:
        return len(self.items)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @overload
    def __getitem__(self, index: int) -> list[Hashable]: ...
    @overload
    def __getitem__(self, index: slice) -> list[list[Hashable]]: ...
    def __getitem__(self, index: int | slice) -> list[Hashable] | list[list[Hashable]]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        position = range(len(self))[index]  # negative indices, IndexError
        codes = self.indices[self.indptr[position] : self.indptr[position + 1]]
        return [self.items[code] for code in codes.tolist()]

    def __iter__(self) -> Iterator[list[Hashable]]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"EncodedBaskets({len(self):,} baskets, {self.n_items:,} items)"


Baskets: TypeAlias = (
    "pd.DataFrame | sp.spmatrix | sp.sparray | EncodedBaskets | Iterable[Iterable[Hashable]]"
)
"""The shapes :func:`encode_baskets` accepts."""


def factorize_text(values: list[str]) -> tuple[NDArray[np.int64], list[str]]:
    """Codes and labels of strings, labels sorted (so codes follow the labels' order), with one
    hash table over the strings and a sort of the distinct ones: no pandas."""
    first: dict[str, int] = {}
    codes = np.fromiter(
        (first.setdefault(value, len(first)) for value in values), dtype=np.int64, count=len(values)
    )
    labels = list(first)
    order = sorted(range(len(labels)), key=labels.__getitem__)
    new_code = np.empty(len(labels), dtype=np.int64)
    new_code[order] = np.arange(len(labels))
    return new_code[codes], [labels[i] for i in order]


def factorize(values: Any) -> tuple[NDArray[np.int64], list[Hashable]]:
    """Codes and labels, labels sorted when they can be (so codes follow the labels' order);
    a missing value (None, NaN) gets the code ``-1``."""
    import pandas as pd

    try:
        codes, uniques = pd.factorize(values, sort=True)
    except TypeError:  # labels of mixed types that cannot be compared
        codes, uniques = pd.factorize(values, sort=False)
    return np.asarray(codes, dtype=np.int64), list(np.asarray(uniques, dtype=object).tolist())


def from_codes(
    rows: NDArray[np.integer], codes: NDArray[np.integer], n_baskets: int, items: list[Hashable]
) -> EncodedBaskets:
    """The table of the (basket, item code) pairs; code ``-1`` (a missing item) is skipped and
    a repeated pair counts once."""
    n_items = len(items)
    present = codes >= 0
    if not present.all():
        rows, codes = rows[present], codes[present]
    del present
    if n_items == 0 or len(codes) == 0:
        return EncodedBaskets(
            np.zeros(n_baskets + 1, dtype=np.int64), np.zeros(0, dtype=np.int32), items
        )
    key = rows.astype(np.int64)
    key *= n_items
    key += codes
    key.sort(kind="stable")  # timsort: the pairs mostly come basket by basket, nearly sorted
    if len(key) > 1:
        new = key[1:] != key[:-1]
        if not new.all():
            key = key[np.concatenate(([True], new))]
        del new
    indptr = np.searchsorted(key, np.arange(n_baskets + 1, dtype=np.int64) * n_items)
    np.remainder(key, n_items, out=key)
    return EncodedBaskets(indptr.astype(np.int64), key.astype(np.int32), items)


def _from_long(frame: pd.DataFrame, order_col: Hashable, item_col: Hashable) -> EncodedBaskets:
    import pandas as pd

    for column in (order_col, item_col):
        if column not in frame.columns:
            raise ValueError(f"the baskets have no column {column!r}")
    orders = frame[order_col]
    if orders.isna().any():
        raise ValueError(f"column {order_col!r} has missing order ids")
    order_codes, order_labels = pd.factorize(orders)
    item_codes, items = factorize(frame[item_col])
    rows = np.asarray(order_codes, dtype=np.int64)
    return from_codes(rows, item_codes, len(order_labels), items)


def _from_one_hot(frame: pd.DataFrame) -> EncodedBaskets:
    import pandas as pd

    items = list(frame.columns)
    if frame.shape[1] and all(isinstance(d, pd.SparseDtype) for d in frame.dtypes):
        coo = frame.sparse.to_coo()
        nonzero = coo.data != 0
        rows, codes = coo.row[nonzero], coo.col[nonzero]
    else:
        rows, codes = np.nonzero(frame.to_numpy(dtype=bool))
    return from_codes(rows.astype(np.int64), codes.astype(np.int64), frame.shape[0], items)


def _from_sparse(matrix: Any) -> EncodedBaskets:
    coo = matrix.tocoo()
    nonzero = coo.data != 0
    items: list[Hashable] = list(range(coo.shape[1]))
    rows = coo.row[nonzero].astype(np.int64)
    return from_codes(rows, coo.col[nonzero].astype(np.int64), coo.shape[0], items)


def _is_one_hot(frame: pd.DataFrame) -> bool:
    import pandas as pd

    def boolean(dtype: Any) -> bool:
        if isinstance(dtype, pd.SparseDtype):
            dtype = dtype.subtype
        return pd.api.types.is_bool_dtype(dtype)

    return frame.shape[1] > 0 and all(boolean(d) for d in frame.dtypes)


def _is_sparse_matrix(value: Any) -> bool:
    sparse = sys.modules.get("scipy.sparse")  # a scipy matrix means scipy is loaded
    return sparse is not None and bool(sparse.issparse(value))


def _from_iterable(baskets: Iterable[Iterable[Hashable]]) -> EncodedBaskets:
    rows: list[list[Hashable]] = []
    for basket in baskets:
        if type(basket) is not list:  # the common case needs no check
            if isinstance(basket, str | bytes) or not isinstance(basket, Iterable):
                raise TypeError(f"each basket must be an iterable of items, got {basket!r}")
            basket = list(basket)
        rows.append(basket)
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    flat = np.fromiter(chain.from_iterable(rows), dtype=object, count=int(lengths.sum()))
    codes, items = factorize(flat)
    order_codes = np.repeat(np.arange(len(rows), dtype=np.int64), lengths)
    return from_codes(order_codes, codes, len(rows), items)


def encode_baskets(
    baskets: Baskets,
    *,
    order_col: Hashable | None = None,
    item_col: Hashable | None = None,
) -> EncodedBaskets:
    """The baskets as a table of item codes, with the item labels.

    Accepted shapes:

    * a long DataFrame, one row per (order, item): the columns ``order_col`` and ``item_col``,
      or, when they are not given, its only two columns in that order;
    * a one-hot DataFrame of booleans (dense or pandas-sparse), as mlxtend takes: columns are items;
    * a scipy sparse matrix, baskets by items: items are the column numbers;
    * :class:`EncodedBaskets` (what :func:`patron.analytics._io.read_basket_lines` returns);
    * an iterable of baskets, each an iterable of hashable items.

    A missing item (None/NaN) is ignored, an item repeated in a basket counts once; a basket with
    no items still counts as a basket. Item labels are sorted when they are comparable.
    """
    if isinstance(baskets, EncodedBaskets):
        return baskets
    pandas = sys.modules.get("pandas")  # a DataFrame means pandas is loaded
    if pandas is not None and isinstance(baskets, pandas.DataFrame):
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
    if _is_sparse_matrix(baskets):
        return _from_sparse(baskets)
    if isinstance(baskets, str | bytes) or not isinstance(baskets, Iterable):
        raise TypeError(
            "baskets must be a DataFrame, a sparse matrix or an iterable of item lists, "
            f"not {type(baskets).__name__}"
        )
    return _from_iterable(baskets)
