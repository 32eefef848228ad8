"""Frequent-itemset search by occurrence delivery, breadth first, in numpy.

The frequent items are ranked by ascending support (ties by item code) and every itemset is grown
only with items of a higher rank, so each is found exactly once, from the rarest item it holds,
as FP-growth does. An *occurrence* of an itemset is a position in the basket table: the place,
inside one basket, of the itemset's highest-ranked item. With each basket's items stored in rank
order, the items that can extend the itemset in that basket are exactly the ones stored after the
occurrence, so one pass over the occurrences of a level *delivers* every candidate of the next
level with its basket: counting the pairs (itemset, item) gives the supports of all candidates at
once, and the occurrences of the frequent ones are the pairs that survive (Uno, Kiyomi & Arimura,
"LCM ver. 2", FIMI 2004, section 3, "occurrence deliver"). From the third level on, an occurrence
delivers only what survived of the delivery that made it (a conditional database): the
candidates are an itemset and a later sibling, numbered densely and counted in a table
(:func:`_mine_batch`).

A level costs a few array operations over its delivered pairs, whatever the number of itemsets,
so the Python overhead is per level and per batch, never per itemset. Memory stays bounded: the
first items go in batches (rarest first) that deliver about :data:`BATCH_PAIRS` pairs at level 2,
and a later level that would deliver more is counted in parts, by ranges of itemset ids.

Itemsets are kept as a prefix tree by levels: an itemset of length ``k`` is its prefix of length
``k - 1`` (an id in the previous level) plus its last, highest-ranked item. Ids are in ascending
(prefix, last item) order, so ``prefix * n_frequent + last`` is a sorted key to look subsets up by.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

BATCH_PAIRS = 1 << 16
"""About this many (itemset, item) pairs at once; each takes some 40 to 80 bytes while counted.
Twice as many is no faster and takes 5 MiB more on the retail-shaped data at 0.001."""


def _in_a_table(n_cells: int, n_keys: int) -> bool:
    """Count ``n_keys`` keys below ``n_cells`` in a table (one pass, no sort) when the table is
    small beside them; else sort them."""
    return n_cells <= 4 * n_keys + (1 << 16)


@dataclass(frozen=True)
class Level:
    """The frequent itemsets of one length: ``prefix[i]`` (id one level up, ``-1`` for single
    items), ``last[i]`` (rank of the highest-ranked item) and ``count[i]`` (baskets)."""

    prefix: NDArray[np.int64]
    last: NDArray[np.int64]
    count: NDArray[np.int64]


@dataclass(frozen=True)
class FrequentItemsets:
    """All frequent itemsets: ``levels[k - 1]`` holds those of length ``k``; the frequent items
    are ranked, ``item_of_rank[r]`` being the item code (matrix column) of rank ``r``."""

    item_of_rank: NDArray[np.int64]
    levels: list[Level]
    _keys: dict[int, NDArray[np.int64]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_frequent(self) -> int:
        return len(self.item_of_rank)

    def ranks(self, length: int) -> NDArray[np.int64]:
        """The itemsets of ``length`` as rows of item ranks, ascending along each row."""
        level = self.levels[length - 1]
        rows = np.empty((len(level.count), length), dtype=np.int64)
        ids = np.arange(len(level.count))
        for column in range(length - 1, -1, -1):
            step = self.levels[column]
            rows[:, column] = step.last[ids]
            ids = step.prefix[ids]
        return rows

    def find(self, length: int, prefix: NDArray[np.int64], last: NDArray[np.int64]) -> NDArray:
        """Ids of the itemsets of ``length`` made of itemset ``prefix`` (length ``length - 1``)
        and the higher-ranked item ``last``; every one of them must be frequent."""
        if length == 1:
            return last
        keys = self._keys.get(length)
        if keys is None:
            level = self.levels[length - 1]
            keys = self._keys[length] = level.prefix * self.n_frequent + level.last
        wanted = prefix * self.n_frequent + last
        where = np.searchsorted(keys, wanted)
        if len(wanted) and (where.max() >= len(keys) or not np.array_equal(keys[where], wanted)):
            raise ValueError("a subset of a frequent itemset is missing from the itemsets")
        return where


class _Baskets:
    """The baskets reduced to their frequent items, in rank order, one flat array of ranks.

    ``rest[p]`` is the number of items stored after position ``p`` in its basket; ``by_rank``
    lists the positions grouped by rank, the ones of rank ``r`` at ``by_rank[starts[r]:
    starts[r + 1]]``."""

    def __init__(self, indptr: NDArray, indices: NDArray, rank_of: NDArray, n_frequent: int):
        # 32-bit wherever it fits: these are the largest arrays of the search.
        position = np.int32 if len(indices) < 2**31 else np.int64
        ranks = rank_of[indices]
        frequent = ranks >= 0
        counted = np.zeros(len(ranks) + 1, dtype=position)
        np.cumsum(frequent, out=counted[1:])
        sizes = counted[indptr[1:]] - counted[indptr[:-1]]  # frequent items per basket
        del counted
        sizes[sizes < 2] = 0  # a basket with one frequent item has no pair to give
        frequent &= np.repeat(sizes > 0, np.diff(indptr))
        wide = np.int32 if len(sizes) * n_frequent < 2**31 else np.int64
        key = np.repeat(np.arange(len(sizes), dtype=wide), sizes)
        key *= n_frequent
        key += ranks[frequent]
        del ranks, frequent
        # The keys are in basket order already, each basket's few items out of rank order:
        # timsort ("stable") finds and merges those runs several times faster than quicksort.
        key.sort(kind="stable")
        np.remainder(key, n_frequent, out=key)
        self.ranks = key.astype(np.int32, copy=False)
        del key
        ends = np.cumsum(sizes).astype(position)
        self.rest = np.repeat(ends, sizes)
        self.rest -= np.arange(1, len(self.rest) + 1, dtype=position)
        self.starts = np.zeros(n_frequent + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.ranks, minlength=n_frequent), out=self.starts[1:])
        self.by_rank = _grouped(self.ranks, self.starts, position)
        # Pairs delivered by the single items of each rank: the work of level 2.
        self.work = np.zeros(n_frequent)
        for start in range(0, len(self.ranks), 1 << 16):  # bincount makes 64-bit copies
            part = slice(start, start + (1 << 16))
            self.work += np.bincount(self.ranks[part], self.rest[part], minlength=n_frequent)


def _grouped(ranks: NDArray[np.int32], starts: NDArray[np.int64], position: type) -> NDArray:
    """The positions of ``ranks`` grouped by rank, each group in ascending order (a stable
    argsort), as ``position`` integers: placed a chunk at a time, as numpy's argsort makes
    64-bit indices for all of them at once."""
    grouped = np.empty(len(ranks), dtype=position)
    seen = starts[:-1].copy()  # where the next position of each rank goes
    # A stable sort of 16-bit keys is a radix sort in numpy.
    narrow = np.int16 if len(starts) <= 1 << 15 else np.int32
    for start in range(0, len(ranks), 1 << 16):
        chunk = ranks[start : start + (1 << 16)].astype(narrow)
        order = np.argsort(chunk, kind="stable")
        counts = np.bincount(chunk, minlength=len(seen))
        sorted_ranks = chunk[order]
        within = np.arange(len(order)) - (np.cumsum(counts) - counts)[sorted_ranks]
        grouped[seen[sorted_ranks] + within] = order + start
        seen += counts
    return grouped


class _Collector:
    """Per level, the pieces of (prefix, last, count) found batch after batch."""

    def __init__(self) -> None:
        self.pieces: list[list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]]]
        self.pieces = []
        self.sizes: list[int] = []

    def size(self, length: int) -> int:
        return self.sizes[length - 2] if length - 2 < len(self.sizes) else 0

    def add(self, length: int, prefix: NDArray, last: NDArray, count: NDArray) -> None:
        while len(self.pieces) < length - 1:
            self.pieces.append([])
            self.sizes.append(0)
        self.pieces[length - 2].append((prefix, last, count))
        self.sizes[length - 2] += len(count)

    def levels(self) -> list[Level]:
        return [
            Level(*(np.concatenate([piece[i] for piece in pieces]) for i in range(3)))
            for pieces in self.pieces
        ]


def _deliver(
    table_ids: NDArray, table_rest: NDArray, ids: NDArray, positions: NDArray, base: NDArray
) -> tuple[NDArray[np.int64], NDArray]:
    """Every candidate that the occurrences deliver, as its cell ``base[id] + table_ids[q]``
    for each entry ``q`` after the occurrence in its group; and how many each occurrence
    delivered (zero-length ones dropped)."""
    lengths = table_rest[positions]
    some = lengths > 0
    if not some.all():
        ids, positions, lengths = ids[some], positions[some], lengths[some]
    if len(lengths) == 0:
        return np.zeros(0, dtype=np.int64), lengths
    # Occurrence j delivers positions[j] + 1, + 2, ... + lengths[j]: a running sum of ones
    # that jumps where each run starts (32-bit: the tables are far below 2**31 entries).
    ends = np.cumsum(lengths, dtype=np.intp)
    step = np.int32 if len(table_ids) < 2**31 else np.intp
    delivered = np.ones(int(ends[-1]), dtype=step)
    delivered[0] = positions[0] + 1
    delivered[ends[:-1]] = positions[1:] - positions[:-1] - lengths[:-1] + 1
    np.cumsum(delivered, out=delivered)
    keys = np.repeat(base[ids], lengths)
    keys += table_ids[delivered]
    return keys, lengths


def _count(
    keys: NDArray[np.int64], n_cells: int, min_count: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """The frequent keys (ascending), their counts, and for each key the frequent key's index
    (``-1`` when infrequent)."""
    if _in_a_table(n_cells, len(keys)):
        counts = np.bincount(keys, minlength=n_cells)
        frequent = np.flatnonzero(counts >= min_count)
        found = counts[frequent]
        counts.fill(-1)  # reuse the table: cell → index of the frequent key
        counts[frequent] = np.arange(len(frequent))
        return frequent, found, counts[keys]
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    keep = counts >= min_count
    index = np.cumsum(keep) - 1
    index[~keep] = -1
    return unique[keep], counts[keep], index[inverse]


def mine(
    indptr: NDArray,
    indices: NDArray,
    n_items: int,
    min_count: int,
    max_len: int | None = None,
) -> FrequentItemsets:
    """All itemsets held by at least ``min_count`` baskets, at most ``max_len`` items long.

    The baskets come as compressed sparse rows: basket ``b`` holds the item codes
    ``indices[indptr[b]:indptr[b + 1]]``, without repeats, each below ``n_items``. The counts
    are exact (integers); the ids and their order depend on the data only.
    The compiled kernel (:mod:`patron.analytics._fim`) runs the same search when it is built;
    this is the fall-back, and the reference the tests hold the kernel to.
    """
    if min_count < 1:
        raise ValueError("min_count must be at least 1")
    # bincount works on a 64-bit copy of its input: a chunk at a time, not all the baskets.
    item_counts = np.zeros(n_items, dtype=np.int64)
    for start in range(0, len(indices), 1 << 18):
        item_counts += np.bincount(indices[start : start + (1 << 18)], minlength=n_items)
    frequent = np.flatnonzero(item_counts >= min_count)
    item_of_rank = frequent[np.argsort(item_counts[frequent], kind="stable")]
    n_frequent = len(item_of_rank)
    singles = Level(
        prefix=np.full(n_frequent, -1, dtype=np.int64),
        last=np.arange(n_frequent, dtype=np.int64),
        count=item_counts[item_of_rank],
    )
    if n_frequent < 2 or max_len == 1:
        return FrequentItemsets(item_of_rank, [singles])

    rank_of = np.full(n_items, -1, dtype=np.int32)
    rank_of[item_of_rank] = np.arange(n_frequent)
    baskets = _Baskets(np.asarray(indptr), np.asarray(indices), rank_of, n_frequent)
    found = _Collector()
    first = 0
    while first < n_frequent:
        # The next batch of first items: as many as fit in the budget, at least one.
        budget = np.cumsum(baskets.work[first:])
        stop = first + max(1, int(np.searchsorted(budget, BATCH_PAIRS, side="right")))
        _mine_batch(baskets, first, stop, n_frequent, min_count, max_len, found)
        first = stop
    return FrequentItemsets(item_of_rank, [singles, *found.levels()])


def _mine_batch(
    baskets: _Baskets,
    first: int,
    stop: int,
    n_frequent: int,
    min_count: int,
    max_len: int | None,
    found: _Collector,
) -> None:
    """The itemsets whose lowest-ranked item is in ``[first, stop)``, level by level.

    Each level's itemsets ``X`` come as ids (``0`` to ``n_ids - 1``; for single items, their
    ranks) in ascending (prefix, last item) order, so that the *siblings* of ``X``, the itemsets
    with its prefix, form the run of ids up to ``family_end[X]``. ``X`` can only grow into
    ``X + {last item of Y}`` for a sibling ``Y`` after it (Apriori: both share the prefix and
    must be frequent), and these candidates are numbered densely, ``cell = base[X] + Y``.

    An occurrence is an entry of a table of groups: at the first level the table is the basket
    table (a group per basket, entries the single items); at the next, the group of an
    occurrence of ``X`` is the entries it delivered that were kept, the occurrences of the
    siblings grown from it, in rank order. So an occurrence delivers only the siblings present
    after it, never an item that cannot extend it (the conditional database of FP-growth).
    """
    positions = baskets.by_rank[baskets.starts[first] : baskets.starts[stop]]
    ids = baskets.ranks[positions].astype(np.intp)
    table_ids, table_rest = baskets.ranks, baskets.rest
    family_end = np.full(n_frequent, n_frequent, dtype=np.intp)
    last_of = np.arange(n_frequent, dtype=np.int64)
    low_id, high_id, offset, length = first, stop, first, 2
    while len(positions) and (max_len is None or length <= max_len):
        # cells[X] = candidates of the itemsets before X: base[X] = cells[X] - X - 1 - cells[low].
        span = np.arange(low_id, high_id + 1, dtype=np.intp)
        cells = np.zeros(high_id - low_id + 1, dtype=np.int64)
        np.cumsum(family_end[low_id:high_id] - span[:-1] - 1, out=cells[1:])
        next_offset = found.size(length)
        pieces: list[tuple[NDArray, NDArray, NDArray, NDArray]] = []
        n_found = 0
        lengths_all = table_rest[positions]
        for low, high in _parts(lengths_all, ids - low_id, high_id - low_id, cells):
            if (low, high) == (0, high_id - low_id):
                part_ids, part_positions = ids, positions
            else:
                inside = (ids >= low + low_id) & (ids < high + low_id)
                part_ids, part_positions = ids[inside], positions[inside]
            base = np.zeros(high_id + 1, dtype=np.int64)  # indexed by id
            base[low + low_id : high + low_id] = cells[low:high] - cells[low] - span[low:high] - 1
            keys, lengths = _deliver(table_ids, table_rest, part_ids, part_positions, base)
            del part_ids, part_positions, base
            n_cells = int(cells[high] - cells[low])
            frequent, counts, index = _count(keys, n_cells, min_count)
            del keys
            if len(frequent) == 0:
                continue
            # Cell → (X, Y): X is the last itemset whose first cell is at or before it.
            x = np.searchsorted(cells[low : high + 1] - cells[low], frequent, side="right") - 1
            y = frequent - (cells[low:high][x] - cells[low]) + x + 1
            x += low + low_id
            y += low + low_id
            found.add(length, x - low_id + offset, last_of[y], counts)
            # The kept entries, grouped by the occurrence that delivered them; each one's
            # rest is the number of kept entries after it in its group.
            kept = index >= 0
            in_group = np.cumsum(kept, dtype=np.int32)[np.cumsum(lengths) - 1]
            in_group[1:] -= in_group[:-1].copy()
            index = index[kept]
            del kept
            index += n_found
            rest = np.repeat(np.cumsum(in_group, dtype=np.int32), in_group)
            rest -= np.arange(1, len(rest) + 1, dtype=np.int32)
            pieces.append((index, rest, x - low_id, last_of[y]))
            n_found += len(frequent)
            del index, in_group
        if n_found == 0:
            return
        table_ids = np.concatenate([piece[0] for piece in pieces])
        table_rest = np.concatenate([piece[1] for piece in pieces])
        prefix = np.concatenate([piece[2] for piece in pieces])
        last_of = np.concatenate([piece[3] for piece in pieces])
        del pieces
        family_end = np.searchsorted(prefix, prefix, side="right").astype(np.intp)
        positions = np.arange(len(table_ids), dtype=np.intp)
        ids = table_ids
        low_id, high_id, offset, length = 0, n_found, next_offset, length + 1


def _parts(
    lengths: NDArray, ids: NDArray, n_ids: int, cells: NDArray[np.int64]
) -> list[tuple[int, int]]:
    """Ranges of (batch-relative) itemset ids whose occurrences deliver about
    :data:`BATCH_PAIRS` pairs, into at most about ``4 * BATCH_PAIRS`` candidate cells, each (one
    id may take more): an itemset's candidates are counted all in one part."""
    total = int(lengths.sum(dtype=np.int64))
    if (total <= BATCH_PAIRS and cells[-1] <= 4 * BATCH_PAIRS) or n_ids == 1:
        return [(0, n_ids)]
    work = np.cumsum(np.bincount(ids, weights=lengths, minlength=n_ids))
    bounds = [np.searchsorted(work, np.arange(BATCH_PAIRS, total, BATCH_PAIRS), side="right")]
    steps = np.arange(4 * BATCH_PAIRS, int(cells[-1]), 4 * BATCH_PAIRS)
    bounds.append(np.searchsorted(cells[1:], steps, side="right"))
    edges = np.unique(np.concatenate(([0], *bounds, [n_ids])))
    edges = edges[(edges >= 0) & (edges <= n_ids)]
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))
