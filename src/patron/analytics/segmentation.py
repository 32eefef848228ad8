"""Customer segments from an RFM table, by k-means, each named from its profile.

The features are recency, frequency and monetary value (see :mod:`patron.analytics.rfm`). Purchase
data are right-skewed, so a non-negative feature whose sample skewness exceeds 1 goes through
``log1p`` first; all three are then standardised (z-scores), so each weighs the same in the
Euclidean distance k-means minimises (Lloyd's algorithm with k-means++ seeding, as scikit-learn's
``KMeans``; Arthur & Vassilvitskii, SODA 2007).

When ``k`` is not given it is chosen from ``k_range`` by the mean silhouette coefficient
(Rousseeuw, J. Comput. Appl. Math. 20, 1987): for each point, ``s = (b - a) / max(a, b)`` with
``a`` its mean distance to its own cluster and ``b`` to the nearest other cluster; the k with the
highest mean wins, the smaller k on a tie. The candidates are fitted and scored on a random
sample of ``sample_size`` customers, then the chosen k is fitted on everyone.

Each segment is described by its mean recency, frequency and monetary value *relative to the
whole population*: ``ratio = segment mean / population mean`` for each of the three. Its value is
the geometric mean of the frequency and monetary ratios; a ratio of at least 1.25 is high, at most
0.8 (= 1 / 1.25) low, anything between middling (for recency, a low ratio is recent):

================  ==============  ===================  ===============
recency \\ value   high (≥ 1.25)   middle               low (≤ 0.8)
================  ==============  ===================  ===============
recent (≤ 0.8)    Champions       Potential loyalists  New
middle            Loyal           Need attention       About to sleep
lapsed (≥ 1.25)   At risk         Hibernating          Lost
================  ==============  ===================  ===============

Segments are numbered from the most valuable down, by ``log(value) - log(recency ratio)`` (ties by
the standardised centre), and a name that several segments earn is numbered from the second on
("Lost", "Lost 2"). The same data and ``random_state`` give the same numbers and names.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.spatial.distance import cdist
from scipy.stats import skew
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

SEGMENT_COLUMNS = (
    "segment",
    "name",
    "size",
    "share_of_customers",
    "share_of_revenue",
    "mean_recency",
    "mean_frequency",
    "mean_monetary",
)
_NAMES = {
    (2, 2): "Champions",
    (2, 1): "Potential loyalists",
    (2, 0): "New",
    (1, 2): "Loyal",
    (1, 1): "Need attention",
    (1, 0): "About to sleep",
    (0, 2): "At risk",
    (0, 1): "Hibernating",
    (0, 0): "Lost",
}
_HIGH = float(np.log(1.25))  # a log-ratio at least this far from 0 is high (or low)
_SKEWED = 1.0


def _level(log_ratio: float) -> int:
    return 2 if log_ratio >= _HIGH - 1e-12 else 0 if log_ratio <= -_HIGH + 1e-12 else 1


def segment_name(recency_ratio: float, frequency_ratio: float, monetary_ratio: float) -> str:
    """The name a segment earns from its mean recency, frequency and monetary value, each divided
    by the population's mean (see the module docstring)."""
    logs = np.log(np.maximum([recency_ratio, frequency_ratio, monetary_ratio], 1e-12))
    return _NAMES[_level(-logs[0]), _level((logs[1] + logs[2]) / 2.0)]


def relative_profile(
    means: NDArray[np.float64], population: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Segment means over population means, column by column (1 where the population mean is not
    positive, which leaves nothing to compare with)."""
    safe = np.where(population > 0, population, 1.0)
    return np.where(population > 0, means / safe, 1.0)


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    result = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        result.append(name if seen[name] == 1 else f"{name} {seen[name]}")
    return result


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


_BLOCK = 250  # points per block of the distance matrix: 250 x 250 distances (500 KB) at a time
_MAX_CELLS = 256  # joint clusters summed in one pass: their sums take _MAX_CELLS x n floats
_MAX_MOVED = 0.25  # share of moved points up to which silhouette_ corrects sums, not recomputes
_MOVED_ROWS = 128  # moved points whose distances to all points are computed at a time


def _encode(labels: NDArray[Any]) -> tuple[NDArray[np.int64], int]:
    """The labels numbered 0 to k - 1 (in sorted order of the labels), and k."""
    classes, codes = np.unique(np.asarray(labels), return_inverse=True)
    return codes.reshape(-1).astype(np.int64), len(classes)


def _cell_sums(
    points: NDArray[np.float64], cells: NDArray[np.int64], count: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The sum of the distances from every point to the points of each cell.

    Returns the sums, ``count`` x n with the points sorted by cell, and that order. Sorted, each
    cell's points in a block of points are one run, so summing a block of distances over cells is
    ``np.add.reduceat`` over runs. Each distance is computed once: for blocks ``I <= J`` of the
    sorted points, the block ``D_IJ`` summed over the runs of its rows gives the points of J
    their sums over I's cells, and over the runs of its columns, the points of I their sums over
    J's cells. Distances are squared by ``cdist`` into one buffer, then square-rooted in place
    (the same numbers as ``cdist``'s ``"euclidean"``, a little faster).
    """
    n = len(points)
    order = np.argsort(cells, kind="stable")
    ordered = np.ascontiguousarray(points[order])
    ordered_cells = cells[order]
    blocks = []
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        runs = np.flatnonzero(np.diff(ordered_cells[start:stop])) + 1
        first, last = int(ordered_cells[start]), int(ordered_cells[stop - 1])
        blocks.append((start, stop, np.concatenate([[0], runs]), first, last + 1))
    sums = np.zeros((count, n))
    buffer = np.empty(min(n, _BLOCK) ** 2)
    for index, (start, stop, runs, low, high) in enumerate(blocks):
        for other_start, other_stop, other_runs, other_low, other_high in blocks[index:]:
            size = (stop - start, other_stop - other_start)
            distances = buffer[: size[0] * size[1]].reshape(size)
            cdist(
                ordered[start:stop], ordered[other_start:other_stop], "sqeuclidean", out=distances
            )
            np.sqrt(distances, out=distances)
            sums[low:high, other_start:other_stop] += np.add.reduceat(distances, runs, axis=0)
            if other_start != start:
                sums[other_low:other_high, start:stop] += np.add.reduceat(
                    distances, other_runs, axis=1
                ).T
    return sums, order


def _distance_sums(
    points: NDArray[np.float64], labelings: list[NDArray[Any]]
) -> list[tuple[NDArray[np.int64], NDArray[np.float64]]]:
    """For each labelling of the same points: its clusters numbered 0 to k - 1 (see ``_encode``)
    and, for each point, the sum of its distances to the points of each cluster (n x k).

    The labellings are summed together over their joint cells (the points with the same label in
    each), so the distances are computed and summed once for all of them, then each labelling's
    clusters add up their cells. Labellings whose joint cells would exceed ``_MAX_CELLS`` (which
    bounds the memory) go into another pass.
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    encoded = []
    for labels in labelings:
        codes, k = _encode(labels)
        if not 2 <= k <= n - 1:
            raise ValueError(
                f"Number of labels is {k}. Valid values are 2 to n_samples - 1 (inclusive)"
            )
        encoded.append((codes, k))
    groups: list[tuple[NDArray[np.int64], int, list[tuple[NDArray[np.int64], int]]]] = []
    for codes, k in encoded:
        if groups:
            cells, count, members = groups[-1]
            joint, joint_cells = np.unique(cells * k + codes, return_inverse=True)
            if len(joint) <= _MAX_CELLS:
                groups[-1] = (joint_cells.reshape(-1), len(joint), [*members, (codes, k)])
                continue
        groups.append((codes, k, [(codes, k)]))
    found = []
    for cells, count, members in groups:
        sums, order = _cell_sums(points, cells, count)
        for codes, k in members:
            cluster_of_cell = np.empty(count, dtype=np.int64)
            cluster_of_cell[cells] = codes
            adding = csr_matrix(
                (np.ones(count), (cluster_of_cell, np.arange(count))), shape=(k, count)
            )
            per_point = np.empty((n, k))
            per_point[order] = np.asarray(adding @ sums).T
            found.append((codes, per_point))
    return found


def _silhouette_from_sums(codes: NDArray[np.int64], sums: NDArray[np.float64]) -> float:
    """The mean silhouette of the clusters ``codes`` (0 to k - 1, each present) from each point's
    sums of distances to each cluster, as ``sklearn.metrics.silhouette_samples`` defines it: a
    point alone in its cluster scores 0, and so does one with ``a = b = 0``."""
    freqs = np.bincount(codes, minlength=sums.shape[1])
    rows = np.arange(len(codes))
    with np.errstate(divide="ignore", invalid="ignore"):
        a = sums[rows, codes] / (freqs - 1)[codes]
        means = sums / freqs
        means[rows, codes] = np.inf
        b = means.min(axis=1)
        s = (b - a) / np.maximum(a, b)
    s[freqs[codes] == 1] = 0.0  # even where a corrected sum is not exactly 0
    return float(np.mean(np.nan_to_num(s)))


def mean_silhouettes(points: NDArray[np.float64], labelings: list[NDArray[Any]]) -> list[float]:
    """The mean silhouette coefficient of each labelling of the same points (Euclidean).

    ``sklearn.metrics.silhouette_score(points, labels)`` for each, to the last digit or two, in
    one pass over half the distance matrix, block by block (each distance computed once,
    exactly, by ``scipy.spatial.distance.cdist``) and summed once over the joint cells of all
    labellings (see ``_distance_sums``). No BLAS and no threads: it behaves the same on a busy
    machine. Memory: a block of distances and the sums, at most ``_MAX_CELLS`` floats a point.
    """
    return [_silhouette_from_sums(*found) for found in _distance_sums(points, labelings)]


def _relabelled_silhouette(
    points: NDArray[np.float64],
    codes: NDArray[np.int64],
    sums: NDArray[np.float64],
    labels: NDArray[Any],
) -> float | None:
    """The mean silhouette of ``labels`` from the distance sums (``_distance_sums``) of another
    labelling ``codes`` of the same points, or None where a full pass is as cheap.

    The clusters of ``labels`` are matched one to one with those of ``codes`` so that most points
    keep theirs (the best assignment on the contingency table); then for each point whose
    cluster differs, its distances to every point are taken off its old cluster's sums and added
    to its new one's. That is the silhouette a full pass gives, to rounding. None when the
    numbers of clusters differ or more than ``_MAX_MOVED`` of the points moved.
    """
    points = np.asarray(points, dtype=np.float64)
    new_codes, k = _encode(labels)
    n = len(codes)
    if k != sums.shape[1] or len(new_codes) != n:
        return None
    table = np.bincount(codes * k + new_codes, minlength=k * k).reshape(k, k)
    old, new = linear_sum_assignment(table, maximize=True)
    renumber = np.empty(k, dtype=np.int64)
    renumber[new] = old
    relabelled = renumber[new_codes]  # labels in the numbering of codes
    moved = np.flatnonzero(relabelled != codes)
    if len(moved) > _MAX_MOVED * n:
        return None
    shifts = np.zeros((k, n))
    for start in range(0, len(moved), _MOVED_ROWS):
        chunk = moved[start : start + _MOVED_ROWS]
        distances = cdist(points[chunk], points, "sqeuclidean")
        np.sqrt(distances, out=distances)
        steps = np.arange(len(chunk))
        moving = csr_matrix(
            (
                np.concatenate([np.ones(len(chunk)), -np.ones(len(chunk))]),
                (np.concatenate([relabelled[chunk], codes[chunk]]), np.tile(steps, 2)),
            ),
            shape=(k, len(chunk)),
        )
        shifts += moving @ distances
    return _silhouette_from_sums(relabelled, sums + shifts.T)


def _has_distinct_rows(values: NDArray[np.float64], count: int) -> bool:
    """Whether ``values`` has at least ``count`` distinct rows (looking no further than needed)."""
    seen: set[bytes] = set()
    for start in range(0, len(values), 4096):
        block = np.unique(values[start : start + 4096], axis=0)
        seen.update(row.tobytes() for row in block)
        if len(seen) >= count:
            return True
    return False


def _small_problem() -> threadpool_limits:
    """k-means on a sample of a few thousand points runs on the calling thread alone.

    Waking OpenMP threads for every Lloyd iteration costs more than the iteration on so few
    points, and far more when the cores are shared. Only this thread's OpenMP setting changes,
    for the duration of the ``with`` block. The labels do not depend on the number of threads
    (the centres may, in their last digits: sums are reduced in another order).
    """
    return threadpool_limits(limits=1, user_api="openmp")


class RFMSegmenter(ClusterMixin, BaseEstimator):  # type: ignore[misc]
    """k-means segments of an RFM table, named from their profile (see the module docstring).

    Parameters
    ----------
    k : int or None, default None
        The number of segments; ``None`` chooses it from ``k_range`` by silhouette.
    k_range : (int, int), default (2, 8)
        The smallest and largest k tried, both included.
    random_state : int, RandomState or None, default 0
        Seeds the silhouette sample and k-means; an int gives the same segments every time.
    sample_size : int or None, default 10_000
        Customers used to choose k and to compute ``silhouette_``; ``None`` uses everyone.
    n_init : int, default 10
        k-means restarts; the run with the lowest inertia is kept.
    monetary_col : str, default "monetary_total"
        The monetary column of the RFM table.

    Attributes
    ----------
    k_ : int
        The number of segments.
    labels_ : ndarray of shape (n_customers,)
        The segment of each customer of the table given to ``fit``, in its row order.
    cluster_centers_ : ndarray of shape (k_, 3)
        Segment centres in the standardised feature space (recency, frequency, monetary).
    segments_ : DataFrame
        One row per segment: ``segment``, ``name``, ``size``, ``share_of_customers``,
        ``share_of_revenue``, ``mean_recency``, ``mean_frequency``, ``mean_monetary``.
    silhouette_ : float
        Mean silhouette coefficient of the segments on the sample.
    silhouette_scores_ : dict[int, float]
        Silhouette of each k tried (empty when ``k`` is given).
    log_features_ : tuple of bool
        Whether recency, frequency and monetary were log1p-transformed.
    segment_names_ : list of str
        The name of each segment, by segment number.
    cluster_to_segment_ : ndarray of shape (k_,)
        The segment number of each ``kmeans_`` cluster.
    scaler_, kmeans_
        The fitted ``StandardScaler`` and ``KMeans``.
    """

    def __init__(
        self,
        k: int | None = None,
        k_range: tuple[int, int] = (2, 8),
        random_state: int | np.random.RandomState | None = 0,
        sample_size: int | None = 10_000,
        n_init: int = 10,
        monetary_col: Hashable = "monetary_total",
    ) -> None:
        self.k = k
        self.k_range = k_range
        self.random_state = random_state
        self.sample_size = sample_size
        self.n_init = n_init
        self.monetary_col = monetary_col

    def _features(self, table: pd.DataFrame) -> NDArray[np.float64]:
        columns = ["recency", "frequency", self.monetary_col]
        missing = [column for column in columns if column not in table.columns]
        if missing:
            raise ValueError(f"the RFM table has no column(s) {missing}")
        values = table[columns].to_numpy(dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("the RFM table has missing or infinite values")
        return values

    def _transform(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        logged = values.copy()
        for column, use_log in enumerate(self.log_features_):
            if use_log:
                logged[:, column] = np.log1p(np.maximum(logged[:, column], 0.0))
        return np.asarray(self.scaler_.transform(logged), dtype=np.float64)

    def _kmeans(self, k: int) -> KMeans:
        return KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state)

    def fit(self, rfm_table: pd.DataFrame, y: None = None) -> Self:
        """Segment the customers of ``rfm_table`` (as :func:`patron.analytics.rfm.rfm` returns,
        or any table with ``recency``, ``frequency`` and ``monetary_col``). Returns ``self``."""
        _check_int("n_init", self.n_init, 1)
        if self.k is not None:
            _check_int("k", self.k, 2)
        bounds = tuple(self.k_range) if isinstance(self.k_range, tuple | list) else ()
        if len(bounds) != 2:
            raise ValueError(f"k_range must be a pair (low, high), got {self.k_range!r}")
        low, high = (_check_int("k_range bounds", bound, 2) for bound in bounds)
        if low > high:
            raise ValueError(f"k_range must be (low, high) with low <= high, got {self.k_range}")
        if self.sample_size is not None:
            _check_int("sample_size", self.sample_size, 3)

        values = self._features(rfm_table)
        n = len(values)
        self.log_features_ = tuple(
            bool(
                values[:, j].min() >= 0
                and np.ptp(values[:, j]) > 0
                and skew(values[:, j]) > _SKEWED
            )
            for j in range(values.shape[1])
        )
        logged = values.copy()
        for column, use_log in enumerate(self.log_features_):
            if use_log:
                logged[:, column] = np.log1p(logged[:, column])
        self.scaler_ = StandardScaler().fit(logged)
        features = self._transform(values)

        rng = check_random_state(self.random_state)
        if self.sample_size is not None and n > self.sample_size:
            sample = np.sort(rng.choice(n, size=self.sample_size, replace=False))
        else:
            sample = np.arange(n)
        distinct = len(np.unique(features[sample], axis=0))

        self.silhouette_scores_: dict[int, float] = {}
        chosen: KMeans | None = None
        chosen_sums: tuple[NDArray[np.int64], NDArray[np.float64]] | None = None
        if self.k is None:
            candidates = range(low, min(high, distinct - 1) + 1)
            if not candidates:
                raise ValueError(
                    f"choosing k needs at least {low + 1} distinct customers, found {distinct}"
                )
            with _small_problem():
                models = [self._kmeans(k).fit(features[sample]) for k in candidates]
            # Each candidate's distance sums: silhouette_ starts from the chosen one's.
            sums = _distance_sums(features[sample], [model.labels_ for model in models])
            best = -np.inf
            for k, model, model_sums in zip(candidates, models, sums, strict=True):
                score = self.silhouette_scores_[k] = _silhouette_from_sums(*model_sums)
                if score > best:
                    best, self.k_, chosen, chosen_sums = score, k, model, model_sums
            if len(sample) < n:
                chosen = None  # chosen on the sample; refit on everyone
        else:
            if not _has_distinct_rows(features, self.k):
                raise ValueError(f"k={self.k} needs at least {self.k} distinct customers")
            self.k_ = int(self.k)
        self.kmeans_ = chosen if chosen is not None else self._kmeans(self.k_).fit(features)

        self._order_segments(values, np.asarray(self.kmeans_.labels_, dtype=np.int64))
        self.labels_ = self.cluster_to_segment_[self.kmeans_.labels_]
        labels_in_sample = self.labels_[sample]
        silhouette: float | None = None
        if not 2 <= len(np.unique(labels_in_sample)) < len(sample):
            silhouette = float("nan")
        elif chosen_sums is not None:
            # The segments on the sample are mostly the chosen candidate's, renumbered: correct
            # its sums for the customers that moved rather than sum every distance again.
            silhouette = _relabelled_silhouette(features[sample], *chosen_sums, labels_in_sample)
        if silhouette is None:
            silhouette = mean_silhouettes(features[sample], [labels_in_sample])[0]
        self.silhouette_ = silhouette
        self.segments_ = self._summary(values, self.labels_)
        return self

    def _order_segments(self, values: NDArray[np.float64], clusters: NDArray[np.int64]) -> None:
        """Number the k-means clusters from the most valuable down and name them."""
        centers = np.asarray(self.kmeans_.cluster_centers_, dtype=np.float64)
        means = np.vstack([values[clusters == c].mean(axis=0) for c in range(len(centers))])
        ratios = relative_profile(means, values.mean(axis=0))
        logs = np.log(np.maximum(ratios, 1e-12))
        worth = (logs[:, 1] + logs[:, 2]) / 2.0 - logs[:, 0]
        order = np.lexsort((*(centers * np.array([-1.0, 1.0, 1.0])).T[::-1], -worth))
        self.cluster_to_segment_ = np.empty(len(order), dtype=np.int64)
        self.cluster_to_segment_[order] = np.arange(len(order))
        self.cluster_centers_ = centers[order]
        self.segment_names_ = _unique([segment_name(*ratios[i]) for i in order])

    def _summary(self, values: NDArray[np.float64], labels: NDArray[np.int64]) -> pd.DataFrame:
        frame = pd.DataFrame(values, columns=["recency", "frequency", "monetary"])
        frame["segment"] = labels
        grouped = frame.groupby("segment").agg(
            size=("recency", "size"),
            revenue=("monetary", "sum"),
            mean_recency=("recency", "mean"),
            mean_frequency=("frequency", "mean"),
            mean_monetary=("monetary", "mean"),
        )
        grouped = grouped.reindex(range(self.k_), fill_value=0)
        total = frame["monetary"].sum()
        grouped["share_of_customers"] = grouped["size"] / len(frame)
        grouped["share_of_revenue"] = grouped["revenue"] / total if total else np.nan
        grouped["name"] = self.segment_names_
        grouped = grouped.reset_index()
        grouped["size"] = grouped["size"].astype(np.int64)
        return grouped[list(SEGMENT_COLUMNS)]

    def predict(self, rfm_table: pd.DataFrame) -> NDArray[np.int64]:
        """The nearest segment of each customer in ``rfm_table``."""
        check_is_fitted(self, "kmeans_")
        features = self._transform(self._features(rfm_table))
        return np.asarray(self.cluster_to_segment_[self.kmeans_.predict(features)], dtype=np.int64)

    def fit_predict(self, rfm_table: pd.DataFrame, y: None = None) -> NDArray[np.int64]:
        """Fit, then return ``labels_``."""
        return np.asarray(self.fit(rfm_table).labels_, dtype=np.int64)
