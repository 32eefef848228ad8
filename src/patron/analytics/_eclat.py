"""Frequent-itemset mining on vertical bitsets (Eclat), in numpy.

The basket matrix is turned around: each frequent item becomes a bitset over the baskets (one bit
per basket, 64 baskets to a ``uint64`` word). The support count of an itemset is the population
count of the AND of its items' bitsets (Zaki, "Scalable algorithms for association mining", IEEE
TKDE 12(3), 2000). The search is depth first over prefix classes, items taken in ascending order of
support, so every itemset is produced exactly once and the classes stay small.

Three things keep it fast without a compiler:

* the pairs come from one sparse product ``Xᵀ X`` (scipy), so only the frequent pairs ever get a
  bitset;
* inside a class every extension is intersected at once, a ``(k, words)`` array operation, and
  counted with ``np.bitwise_count``;
* when a prefix covers few baskets, its class is *projected*: the extension bitsets are re-indexed
  onto the prefix's baskets only, so deeper levels work on ``support / 64`` words instead of
  ``baskets / 64``.

The basket-by-item matrix stays sparse (CSC); nothing here builds a dense one-hot table.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

_WORD = 64
# Project a class onto its prefix's baskets when they fill less than 1/_PROJECT of the bits.
_PROJECT = 16

Itemsets = dict[int, tuple[NDArray[np.int32], NDArray[np.int64]]]
"""Length → (``(m, length)`` item codes sorted within each row, ``(m,)`` support counts)."""


def _bitsets(columns: sp.csc_matrix, n_rows: int) -> NDArray[np.uint64]:
    """One row of ``ceil(n_rows / 64)`` words per column; bit ``r`` is set when row ``r`` has
    the item."""
    n_words = max(1, -(-n_rows // _WORD))
    bits = np.zeros((columns.shape[1], n_words), dtype=np.uint64)
    if columns.nnz == 0:
        return bits
    rows = columns.indices.astype(np.int64)
    cols = np.repeat(np.arange(columns.shape[1], dtype=np.int64), np.diff(columns.indptr))
    flat = cols * n_words + (rows >> 6)
    values = np.left_shift(np.uint64(1), (rows & 63).astype(np.uint64))
    # CSC with sorted indices gives ``flat`` in non-decreasing order and each bit at most once,
    # so summing the bits of one word is the same as OR-ing them.
    starts = np.flatnonzero(np.r_[True, flat[1:] != flat[:-1]])
    bits.ravel()[flat[starts]] = np.add.reduceat(values, starts)
    return bits


def _popcount(bits: NDArray[np.uint64]) -> NDArray[np.int64]:
    return np.bitwise_count(bits).sum(axis=1, dtype=np.int64)


def _positions(bitset: NDArray[np.uint64]) -> NDArray[np.int64]:
    """The indices of the set bits of one bitset."""
    unpacked = np.unpackbits(bitset.view(np.uint8), bitorder="little")
    return np.flatnonzero(unpacked)


def _project(
    rest: NDArray[np.uint64], positions: NDArray[np.int64]
) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """Re-index bitsets onto the baskets in ``positions``: bit ``i`` of a result is bit
    ``positions[i]`` of the input. Returns the new bitsets and their population counts."""
    shifts = (positions & 63).astype(np.uint64)
    present = ((rest[:, positions >> 6] >> shifts) & np.uint64(1)).astype(bool)
    counts = present.sum(axis=1, dtype=np.int64)
    packed = np.packbits(present, axis=1, bitorder="little")
    words = np.zeros((len(rest), -(-len(positions) // _WORD) * 8), dtype=np.uint8)
    words[:, : packed.shape[1]] = packed
    return words.view(np.uint64), counts


class _Search:
    """The depth-first search; collects ``(itemset codes, count)`` pairs per length."""

    def __init__(
        self,
        min_count: int,
        max_len: int | None,
        on_itemset: Callable[[int], None] | None = None,
    ) -> None:
        self.min_count = min_count
        self.max_len = max_len
        self.found: dict[int, tuple[list[tuple[int, ...]], list[int]]] = {}
        self.on_itemset = on_itemset

    def emit_class(
        self, prefix: tuple[int, ...], items: NDArray[np.int64], counts: NDArray[np.int64]
    ) -> None:
        length = len(prefix) + 1
        sets, sups = self.found.setdefault(length, ([], []))
        sets.extend([(*prefix, item) for item in items.tolist()])
        sups.extend(counts.tolist())
        if self.on_itemset is not None:
            self.on_itemset(len(items))

    def grow(
        self,
        prefix: tuple[int, ...],
        items: NDArray[np.int64],
        bits: NDArray[np.uint64],
        counts: NDArray[np.int64],
    ) -> None:
        """Mine the class of ``prefix``: ``items[a]`` extends it, ``bits[a]`` is the bitset of
        ``prefix`` plus ``items[a]`` in the class's universe and ``counts[a]`` its support count."""
        self.emit_class(prefix, items, counts)
        if self.max_len is not None and len(prefix) + 1 >= self.max_len:
            return
        n_bits = bits.shape[1] * _WORD
        for a in range(len(items) - 1):
            rest = bits[a + 1 :]
            if counts[a] * _PROJECT < n_bits:
                sub, sub_counts = _project(rest, _positions(bits[a]))
            else:
                sub = rest & bits[a]
                sub_counts = _popcount(sub)
            keep = sub_counts >= self.min_count
            if keep.any():
                self.grow(
                    (*prefix, int(items[a])),
                    items[a + 1 :][keep],
                    sub[keep],
                    sub_counts[keep],
                )


def mine(
    matrix: sp.spmatrix | sp.sparray,
    min_count: int,
    max_len: int | None = None,
    on_itemset: Callable[[int], None] | None = None,
) -> Itemsets:
    """All itemsets contained in at least ``min_count`` rows of a binary basket-by-item matrix.

    ``matrix`` is any scipy sparse matrix with a nonzero where a basket holds an item (values are
    ignored). Returns, for each itemset length, the item codes (column indices, sorted within each
    itemset) and their support counts. ``on_itemset(n)`` is called as itemsets are found.
    """
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    csc = sp.csc_matrix(matrix, dtype=np.int32)
    csc.data[:] = 1
    csc.sum_duplicates()
    csc.eliminate_zeros()
    csc.data[:] = 1
    n_rows, _ = csc.shape
    item_counts = np.diff(csc.indptr).astype(np.int64)
    frequent = np.flatnonzero(item_counts >= min_count)
    # Ascending support, ties by item code: the order every class extends in.
    order = frequent[np.lexsort((frequent, item_counts[frequent]))]
    search = _Search(min_count, max_len, on_itemset)
    if len(order) == 0:
        return {}
    search.emit_class((), order, item_counts[order])
    if max_len == 1 or len(order) == 1:
        return _collect(search)

    columns = csc[:, order]
    columns.sort_indices()
    bits = _bitsets(columns, n_rows)
    pairs = sp.csr_matrix(sp.triu(columns.T @ columns, k=1))
    pairs.sort_indices()
    n_bits = bits.shape[1] * _WORD
    for i in range(len(order) - 1):
        start, stop = pairs.indptr[i], pairs.indptr[i + 1]
        partners = pairs.indices[start:stop].astype(np.int64)
        pair_counts = pairs.data[start:stop].astype(np.int64)
        keep = pair_counts >= min_count
        if not keep.any():
            continue
        partners = partners[keep]
        pair_counts = pair_counts[keep]
        if item_counts[order[i]] * _PROJECT < n_bits:
            baskets = columns.indices[columns.indptr[i] : columns.indptr[i + 1]]
            sub, _ = _project(bits[partners], baskets.astype(np.int64))
        else:
            sub = bits[partners] & bits[i]
        search.grow((int(order[i]),), order[partners], sub, pair_counts)
    return _collect(search)


def _collect(search: _Search) -> Itemsets:
    result: Itemsets = {}
    for length, (sets, sups) in sorted(search.found.items()):
        codes = np.sort(np.asarray(sets, dtype=np.int32).reshape(len(sets), length), axis=1)
        result[length] = (codes, np.asarray(sups, dtype=np.int64))
    return result
