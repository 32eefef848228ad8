"""RFM segmentation: planted segments are found and named; scikit-learn is the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.preprocessing import StandardScaler
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from patron.analytics import segmentation
from patron.analytics.rfm import rfm
from patron.analytics.segmentation import SEGMENT_COLUMNS, RFMSegmenter, segment_name


@pytest.fixture(autouse=True)
def _one_thread():
    """k-means' OpenMP threads crawl when the two cores are shared (pytest -n 2): use one."""
    with threadpool_limits(limits=1):
        yield


GROUPS = {  # name: (customers, recency days, orders, monetary)
    "Champions": (150, (0, 15), (12, 25), (1500.0, 3000.0)),
    "New": (300, (0, 15), (1, 1), (20.0, 60.0)),
    "Lost": (550, (300, 365), (1, 1), (20.0, 60.0)),
}


def planted(seed: int) -> pd.DataFrame:
    """An RFM table with three well-separated groups, rows shuffled; ``truth`` names the group."""
    rng = np.random.default_rng(seed)
    parts = []
    for name, (size, recency, orders, monetary) in GROUPS.items():
        parts.append(
            pd.DataFrame(
                {
                    "recency": rng.integers(recency[0], recency[1] + 1, size),
                    "frequency": rng.integers(orders[0], orders[1] + 1, size),
                    "monetary_total": rng.uniform(*monetary, size).round(2),
                    "truth": name,
                }
            )
        )
    table = pd.concat(parts, ignore_index=True)
    table = table.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    table.index = pd.Index([f"c{i:04d}" for i in range(len(table))], name="customer_id")
    return table


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_planted_segments_are_found_and_named(seed):
    table = planted(seed)
    segmenter = RFMSegmenter(random_state=seed).fit(table)

    assert segmenter.k_ == 3
    assert max(segmenter.silhouette_scores_, key=segmenter.silhouette_scores_.get) == 3
    assert sorted(segmenter.silhouette_scores_) == list(range(2, 9))
    assert adjusted_rand_score(table["truth"], segmenter.labels_) == 1.0
    segments = segmenter.segments_
    assert list(segments.columns) == list(SEGMENT_COLUMNS)
    assert segments["name"].tolist() == ["Champions", "New", "Lost"]  # most valuable first
    assert segments["segment"].tolist() == [0, 1, 2]
    assert segments["size"].tolist() == [150, 300, 550]
    assert segments["share_of_customers"].tolist() == [0.15, 0.30, 0.55]
    named = np.array(segmenter.segment_names_)[segmenter.labels_]
    assert (named == table["truth"].to_numpy()).all()
    revenue = table.groupby("truth")["monetary_total"].sum() / table["monetary_total"].sum()
    np.testing.assert_allclose(
        segments["share_of_revenue"], revenue[["Champions", "New", "Lost"]], rtol=1e-12
    )
    champions = table[table["truth"] == "Champions"]
    assert segments.loc[0, "mean_recency"] == pytest.approx(champions["recency"].mean())
    assert segments.loc[0, "mean_frequency"] == pytest.approx(champions["frequency"].mean())
    assert segments.loc[0, "mean_monetary"] == pytest.approx(champions["monetary_total"].mean())


def test_same_answer_for_the_same_seed_and_any_row_order():
    table = planted(5)
    first = RFMSegmenter(random_state=3).fit(table)
    second = RFMSegmenter(random_state=3).fit(table)
    assert (first.labels_ == second.labels_).all()
    pd.testing.assert_frame_equal(first.segments_, second.segments_)
    np.testing.assert_array_equal(first.cluster_centers_, second.cluster_centers_)

    shuffled = table.sample(frac=1.0, random_state=11)
    again = RFMSegmenter(random_state=3).fit(shuffled)
    by_customer = pd.Series(again.labels_, index=shuffled.index).loc[table.index]
    assert (by_customer.to_numpy() == first.labels_).all()
    assert again.segment_names_ == first.segment_names_


def test_matches_scikit_learn_pipeline_for_a_given_k():
    table = planted(7)
    segmenter = RFMSegmenter(k=4, random_state=0, n_init=5).fit(table)
    assert segmenter.k_ == 4
    assert segmenter.silhouette_scores_ == {}
    assert segmenter.log_features_ == (False, True, True)  # recency is not skewed here

    features = table[["recency", "frequency", "monetary_total"]].to_numpy(dtype=float)
    features[:, 1:] = np.log1p(features[:, 1:])
    features = StandardScaler().fit_transform(features)
    reference = KMeans(n_clusters=4, n_init=5, random_state=0).fit(features)
    assert adjusted_rand_score(reference.labels_, segmenter.labels_) == 1.0
    centers = segmenter.cluster_centers_[segmenter.labels_]
    np.testing.assert_allclose(centers, reference.cluster_centers_[reference.labels_], atol=1e-9)
    assert segmenter.silhouette_ == pytest.approx(
        silhouette_score(features, reference.labels_), abs=1e-12
    )
    assert len(set(segmenter.segment_names_)) == 4
    assert segmenter.segments_["size"].sum() == len(table)
    assert segmenter.segments_["share_of_customers"].sum() == pytest.approx(1.0)


def test_silhouette_on_a_sample_equals_scikit_learn(monkeypatch):
    """k chosen on a sample, segments fitted on everyone: ``silhouette_`` is scikit-learn's on
    the sample, whether the chosen candidate's sums are corrected or everything is summed again."""
    rng = np.random.default_rng(0)
    size = 2000
    table = pd.DataFrame(
        {
            "recency": rng.integers(0, 365, size),
            "frequency": rng.geometric(0.35, size),
            "monetary_total": rng.gamma(1.5, 80.0, size).round(2),
        }
    )  # no clear groups: the segments on the sample are not quite the chosen candidate's
    corrections = []
    relabelled = segmentation._relabelled_silhouette

    def spy(points, codes, sums, labels):
        found = relabelled(points, codes, sums, labels)
        corrections.append((codes, labels, found))
        return found

    monkeypatch.setattr(segmentation, "_relabelled_silhouette", spy)
    segmenter = RFMSegmenter(sample_size=600, random_state=0, n_init=3).fit(table)

    sample = np.sort(check_random_state(0).choice(size, size=600, replace=False))  # as fit draws
    values = table[["recency", "frequency", "monetary_total"]].to_numpy(dtype=float)
    logged = np.where(segmenter.log_features_, np.log1p(values), values)
    features = segmenter.scaler_.transform(logged)
    expected = silhouette_score(features[sample], segmenter.labels_[sample])
    assert segmenter.silhouette_ == pytest.approx(expected, abs=1e-12)

    [(codes, labels, found)] = corrections  # corrected, not summed again ...
    assert found == segmenter.silhouette_
    pairs = len(np.unique(np.column_stack([codes, labels]), axis=0))
    assert pairs > segmenter.k_  # ... and some customers of the sample did move

    monkeypatch.setattr(segmentation, "_MAX_MOVED", 0.0)  # any move: the full pass
    again = clone(segmenter).fit(table)
    assert corrections[-1][2] is None
    np.testing.assert_array_equal(again.labels_, segmenter.labels_)
    assert again.silhouette_ == pytest.approx(expected, abs=1e-12)


def test_predict_and_fit_predict():
    table = planted(2)
    segmenter = RFMSegmenter(k=3).fit(table)
    np.testing.assert_array_equal(segmenter.predict(table), segmenter.labels_)
    newcomer = pd.DataFrame({"recency": [2], "frequency": [20], "monetary_total": [2500.0]})
    assert segmenter.segment_names_[segmenter.predict(newcomer)[0]] == "Champions"
    np.testing.assert_array_equal(RFMSegmenter(k=3).fit_predict(table), segmenter.labels_)


def test_names_by_rule():
    assert segment_name(0.5, 2.0, 2.0) == "Champions"
    assert segment_name(0.5, 1.0, 1.0) == "Potential loyalists"
    assert segment_name(0.5, 0.5, 0.5) == "New"
    assert segment_name(1.0, 2.0, 2.0) == "Loyal"
    assert segment_name(1.0, 1.0, 1.0) == "Need attention"
    assert segment_name(1.0, 0.3, 0.9) == "About to sleep"  # geometric mean 0.52
    assert segment_name(2.0, 3.0, 1.0) == "At risk"  # geometric mean 1.73
    assert segment_name(2.0, 1.0, 1.0) == "Hibernating"
    assert segment_name(2.0, 0.5, 0.5) == "Lost"
    assert segment_name(0.8, 1.25, 1.25) == "Champions"  # the thresholds are inclusive
    assert segment_name(0.81, 1.24, 0.81) == "Need attention"


def test_names_are_unique_within_a_fit():
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        {
            "recency": rng.integers(0, 400, 600),
            "frequency": rng.poisson(2.0, 600) + 1,
            "monetary_total": rng.gamma(2.0, 50.0, 600),
        }
    )
    segmenter = RFMSegmenter(k=8).fit(table)
    names = segmenter.segment_names_
    assert len(set(names)) == 8
    assert segmenter.segments_["name"].tolist() == names
    repeated = [name for name in names if name[-1].isdigit()]
    for name in repeated:  # "Lost 2" only exists beside "Lost"
        assert name.rsplit(" ", 1)[0] in names


def test_segments_from_transactions_end_to_end():
    rng = np.random.default_rng(4)
    n = 3000
    transactions = pd.DataFrame(
        {
            "customer_id": rng.integers(0, 700, n),
            "order_id": np.arange(n),
            "ordered_at": pd.Timestamp("2024-01-01")
            + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "amount": rng.gamma(2.0, 30.0, n),
        }
    )
    table = rfm(transactions, as_of="2024-12-31")
    segmenter = RFMSegmenter(sample_size=300, random_state=1).fit(table)
    assert 2 <= segmenter.k_ <= 8
    assert len(segmenter.labels_) == len(table)
    assert np.isfinite(segmenter.silhouette_)
    assert segmenter.segments_["size"].sum() == len(table)
    again = RFMSegmenter(sample_size=300, random_state=1).fit(table)
    assert (again.labels_ == segmenter.labels_).all()
    assert again.silhouette_scores_ == segmenter.silhouette_scores_


def test_estimator_habits():
    table = planted(0)
    segmenter = RFMSegmenter(k=3, n_init=3)
    assert clone(segmenter).get_params() == segmenter.get_params()
    assert segmenter.fit(table) is segmenter
    # Learned state is small: nothing holds the table or a row per customer beyond labels_.
    for name, value in vars(segmenter).items():
        if name == "labels_":
            continue
        assert not isinstance(value, pd.DataFrame) or len(value) == 3, name
        assert not isinstance(value, np.ndarray) or value.size <= 9, name


@pytest.mark.parametrize(
    ("params", "table_change", "message"),
    [
        ({"k": 1}, None, "k must be"),
        ({"k_range": (5, 3)}, None, "k_range"),
        ({"k_range": (1, 3)}, None, "k_range"),
        ({"k_range": 4}, None, "k_range"),
        ({"n_init": 0}, None, "n_init"),
        ({}, lambda t: t.drop(columns="frequency"), "frequency"),
        ({}, lambda t: t.assign(recency=np.nan), "missing"),
        ({"k": 3}, lambda t: t.head(2), "distinct"),
        ({}, lambda t: t.head(2), "distinct"),
    ],
)
def test_bad_input_is_rejected(params, table_change, message):
    table = planted(0)
    if table_change is not None:
        table = table_change(table)
    with pytest.raises(ValueError, match=message):
        RFMSegmenter(**params).fit(table)
