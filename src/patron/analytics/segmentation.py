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


_BLOCK_ROWS = 128  # rows of the distance matrix at a time (10 MiB for 10,000 points)


def mean_silhouettes(points: NDArray[np.float64], labelings: list[NDArray[Any]]) -> list[float]:
    """The mean silhouette coefficient of each labelling of the same points (Euclidean).

    ``sklearn.metrics.silhouette_score(points, labels)`` for each, to the last digit or two, in
    one pass: each block of rows of the distance matrix is computed once (exactly, by
    ``scipy.spatial.distance.cdist``) and summed per cluster for every labelling at once, by a
    sparse product with the clusters' indicator rows, which adds the distances in the order
    scikit-learn's ``bincount`` does. No BLAS and no threads: it behaves the same on a busy
    machine.
    """
    points = np.asarray(points, dtype=np.float64)
    n = len(points)
    encoded = []
    for labels in labelings:
        classes, codes = np.unique(np.asarray(labels), return_inverse=True)
        if not 2 <= len(classes) <= n - 1:
            raise ValueError(
                f"Number of labels is {len(classes)}. Valid values are 2 to n_samples - 1 "
                "(inclusive)"
            )
        encoded.append((codes.reshape(-1), np.bincount(codes.reshape(-1))))
    offsets = np.cumsum([0] + [len(freqs) for _, freqs in encoded])
    indicators = csr_matrix(
        (
            np.ones(n * len(encoded)),
            (np.concatenate([c + o for (c, _), o in zip(encoded, offsets[:-1], strict=True)]),
             np.tile(np.arange(n), len(encoded))),
        ),
        shape=(int(offsets[-1]), n),
    )  # fmt: skip
    intra = np.empty((len(encoded), n))
    inter = np.empty((len(encoded), n))
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(start + _BLOCK_ROWS, n)
        rows = np.arange(stop - start)
        # Points x block rows: the layout the sparse product reads (the distance is symmetric
        # to the bit, so this is the block's rows transposed, without the copy).
        distances = cdist(points, points[start:stop])
        distances[rows + start, rows] = 0.0
        sums = np.asarray(indicators @ distances).T  # rows x clusters of every labelling
        for i, ((codes, freqs), offset) in enumerate(zip(encoded, offsets[:-1], strict=True)):
            per_cluster = sums[:, offset : offset + len(freqs)].copy()
            own = codes[start:stop]
            intra[i, start:stop] = per_cluster[rows, own]
            per_cluster[rows, own] = np.inf
            inter[i, start:stop] = (per_cluster / freqs).min(axis=1)
    means = []
    for i, (codes, freqs) in enumerate(encoded):
        with np.errstate(divide="ignore", invalid="ignore"):
            a = intra[i] / (freqs - 1)[codes]
            s = (inter[i] - a) / np.maximum(a, inter[i])
        means.append(float(np.mean(np.nan_to_num(s))))
    return means


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
        if self.k is None:
            candidates = range(low, min(high, distinct - 1) + 1)
            if not candidates:
                raise ValueError(
                    f"choosing k needs at least {low + 1} distinct customers, found {distinct}"
                )
            with _small_problem():
                models = [self._kmeans(k).fit(features[sample]) for k in candidates]
            scores = mean_silhouettes(features[sample], [model.labels_ for model in models])
            best = -np.inf
            for k, model, score in zip(candidates, models, scores, strict=True):
                self.silhouette_scores_[k] = score
                if score > best:
                    best, self.k_, chosen = score, k, model
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
        if 2 <= len(np.unique(labels_in_sample)) < len(sample):
            self.silhouette_ = mean_silhouettes(features[sample], [labels_in_sample])[0]
        else:
            self.silhouette_ = float("nan")
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
