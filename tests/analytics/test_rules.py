"""Frequent itemsets and association rules: hand-checked values, then mlxtend as the reference."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from mlxtend.frequent_patterns import apriori, association_rules, fpgrowth
from mlxtend.preprocessing import TransactionEncoder
from sklearn.base import clone

from patron.analytics import _basket_lines, _itemsets, _rule_tables
from patron.analytics._baskets import encode_baskets
from patron.analytics._io import read_basket_lines, write_mined_csv, write_table
from patron.analytics._rule_tables import mine
from patron.analytics.rules import (
    RULE_COLUMNS,
    RULE_METRICS,
    AssociationRuleMiner,
    FrequentItemsetMiner,
    min_support_count,
)
from tests.datasets import dataset_path

# Tan, Steinbach & Kumar, Introduction to Data Mining, table 6.1.
MARKET = [
    ["bread", "milk"],
    ["bread", "diapers", "beer", "eggs"],
    ["milk", "diapers", "beer", "cola"],
    ["bread", "milk", "diapers", "beer"],
    ["bread", "milk", "diapers", "cola"],
]


def _rule(rules: pd.DataFrame, antecedents: set[str], consequents: set[str]) -> pd.Series:
    match = rules[
        (rules["antecedents"] == frozenset(antecedents))
        & (rules["consequents"] == frozenset(consequents))
    ]
    assert len(match) == 1
    return match.iloc[0]


def test_textbook_supports_and_rule_metrics():
    miner = AssociationRuleMiner(min_support=0.4).fit(MARKET)

    supports = dict(zip(miner.itemsets_["itemset"], miner.itemsets_["support"], strict=True))
    assert supports[frozenset({"milk", "diapers", "beer"})] == pytest.approx(0.4, abs=1e-15)
    assert supports[frozenset({"bread"})] == pytest.approx(0.8, abs=1e-15)
    assert frozenset({"eggs"}) not in supports  # 1 of 5 baskets < 0.4
    assert miner.n_baskets_ == 5
    assert miner.n_items_ == 6
    assert miner.min_count_ == 2

    rule = _rule(miner.rules_, {"milk", "diapers"}, {"beer"})
    confidence = Fraction(2, 3)  # {milk, diapers, beer}: 2 baskets; {milk, diapers}: 3
    assert rule["support"] == pytest.approx(0.4, abs=1e-15)
    assert rule["antecedent_support"] == pytest.approx(0.6, abs=1e-15)
    assert rule["consequent_support"] == pytest.approx(0.6, abs=1e-15)
    assert rule["confidence"] == pytest.approx(float(confidence), abs=1e-15)
    assert rule["lift"] == pytest.approx(float(confidence / Fraction(3, 5)), abs=1e-15)
    assert rule["leverage"] == pytest.approx(0.4 - 0.6 * 0.6, abs=1e-15)
    assert rule["conviction"] == pytest.approx((1 - 0.6) / (1 - float(confidence)), abs=1e-12)

    certain = _rule(miner.rules_, {"beer"}, {"diapers"})  # every beer basket has diapers
    assert certain["confidence"] == 1.0
    assert certain["conviction"] == np.inf
    assert list(miner.rules_.columns) == list(RULE_COLUMNS)
    assert miner.rules_["lift"].is_monotonic_decreasing


def test_thresholds_filter_rules():
    everything = AssociationRuleMiner(min_support=0.4).fit(MARKET).rules_
    confident = AssociationRuleMiner(min_support=0.4, min_confidence=0.75).fit(MARKET).rules_
    lifted = AssociationRuleMiner(min_support=0.4, min_lift=1.1).fit(MARKET).rules_

    assert len(confident) == int((everything["confidence"] >= 0.75).sum()) > 0
    assert (confident["confidence"] >= 0.75).all()
    assert len(lifted) == int((everything["lift"] >= 1.1).sum()) > 0
    assert (lifted["lift"] >= 1.1).all()


def test_max_len_bounds_itemsets_and_rules():
    miner = AssociationRuleMiner(min_support=0.2, max_len=2).fit(MARKET)
    assert miner.itemsets_["itemset"].map(len).max() == 2
    sides = miner.rules_["antecedents"].map(len) + miner.rules_["consequents"].map(len)
    assert (sides == 2).all()
    singles = FrequentItemsetMiner(min_support=0.4, max_len=1).fit(MARKET).itemsets_
    assert singles["itemset"].tolist() == [
        frozenset({name}) for name in ("bread", "diapers", "milk", "beer", "cola")
    ]  # by support (4, 4, 4, 3, 2 baskets), then name; eggs is in 1 basket only


@pytest.mark.parametrize(
    ("fraction", "n", "count"),
    [
        (0.3, 10, 3),
        (0.28, 25, 7),  # 0.28 * 25 == 7.000000000000001
        (0.07, 100, 7),  # 0.07 * 100 == 7.000000000000001
        (0.01, 9835, 99),
        (0.005, 9835, 50),
        (1.0, 7, 7),
        (1e-9, 5, 1),
        (0.5, 3, 2),
    ],
)
def test_min_support_count_is_the_smallest_count_meeting_the_fraction(fraction, n, count):
    assert min_support_count(fraction, n) == count
    assert count / n >= fraction
    assert count == 1 or (count - 1) / n < fraction


def test_integer_support_is_a_count():
    by_count = FrequentItemsetMiner(min_support=2).fit(MARKET).itemsets_
    by_fraction = FrequentItemsetMiner(min_support=0.4).fit(MARKET).itemsets_
    pd.testing.assert_frame_equal(by_count, by_fraction)


@pytest.mark.parametrize("bad", [0, -1, 0.0, 1.5, -0.1, float("nan"), True, "0.1", None])
def test_bad_min_support_is_rejected(bad):
    with pytest.raises((ValueError, TypeError)):
        FrequentItemsetMiner(min_support=bad).fit(MARKET)


@pytest.mark.parametrize(
    "params", [{"max_len": 0}, {"min_confidence": 1.5}, {"min_confidence": -0.1}, {"min_lift": -1}]
)
def test_bad_parameters_are_rejected_in_fit(params):
    miner = AssociationRuleMiner(min_support=0.4, **params)  # the constructor only stores
    with pytest.raises(ValueError, match=next(iter(params))):
        miner.fit(MARKET)


def test_bad_baskets_are_rejected():
    with pytest.raises(ValueError, match="no baskets"):
        FrequentItemsetMiner().fit([])
    with pytest.raises(TypeError):
        FrequentItemsetMiner().fit("bread,milk")
    with pytest.raises(TypeError):
        FrequentItemsetMiner().fit([["bread"], "milk"])
    with pytest.raises(ValueError, match="order_col and item_col"):
        FrequentItemsetMiner().fit(pd.DataFrame({"a": [1], "b": [2], "c": [3]}))
    with pytest.raises(ValueError, match="no column 'sku'"):
        FrequentItemsetMiner().fit(
            pd.DataFrame({"o": [1], "i": [2]}), order_col="o", item_col="sku"
        )


def _long(baskets):
    return pd.DataFrame(
        [(f"order-{n}", item) for n, basket in enumerate(baskets) for item in basket],
        columns=["order_id", "product"],
    )


def test_every_basket_shape_gives_the_same_answer():
    reference = AssociationRuleMiner(min_support=0.2).fit(MARKET)
    encoder = TransactionEncoder().fit(MARKET)
    one_hot = pd.DataFrame(encoder.transform(MARKET), columns=encoder.columns_)
    shapes = [
        _long(MARKET)[["order_id", "product"]],
        one_hot,
        one_hot.astype(pd.SparseDtype(bool, False)),
        (tuple(basket) for basket in MARKET),
    ]
    for baskets in shapes:
        miner = AssociationRuleMiner(min_support=0.2).fit(baskets)
        pd.testing.assert_frame_equal(miner.itemsets_, reference.itemsets_)
        pd.testing.assert_frame_equal(miner.rules_, reference.rules_)
    named = AssociationRuleMiner(min_support=0.2).fit(
        _long(MARKET).assign(qty=1), order_col="order_id", item_col="product"
    )
    pd.testing.assert_frame_equal(named.rules_, reference.rules_)
    matrix = sp.csr_matrix(one_hot.to_numpy())
    coded = AssociationRuleMiner(min_support=0.2).fit(matrix)
    assert coded.itemsets_["support"].tolist() == reference.itemsets_["support"].tolist()
    assert coded.itemsets_["itemset"].tolist() == [
        frozenset(encoder.columns_.index(i) for i in s) for s in reference.itemsets_["itemset"]
    ]


def test_repeats_missing_items_and_empty_baskets():
    miner = FrequentItemsetMiner(min_support=1).fit([["a", "a", None], [], ["a", "b"], ["b"]])
    counts = dict(zip(miner.itemsets_["itemset"], miner.itemsets_["count"], strict=True))
    assert counts == {frozenset("a"): 2, frozenset("b"): 2, frozenset("ab"): 1}
    assert miner.n_baskets_ == 4  # the empty basket still counts
    assert miner.itemsets_["support"].tolist() == [0.5, 0.5, 0.25]


def test_nothing_frequent_gives_empty_tables_with_the_columns():
    miner = AssociationRuleMiner(min_support=6).fit(MARKET)
    assert miner.itemsets_.empty
    assert list(miner.itemsets_.columns) == ["itemset", "support", "count"]
    assert miner.rules_.empty
    assert list(miner.rules_.columns) == list(RULE_COLUMNS)


def test_estimator_habits():
    miner = AssociationRuleMiner(min_support=0.4, min_confidence=0.5)
    assert clone(miner).get_params() == miner.get_params()
    assert miner.fit(MARKET) is miner
    learned = {name for name in vars(miner) if name.endswith("_")}
    assert learned == {"itemsets_", "rules_", "n_baskets_", "n_items_", "min_count_"}
    again = AssociationRuleMiner(min_support=0.4, min_confidence=0.5).fit(MARKET)
    pd.testing.assert_frame_equal(again.rules_, miner.rules_)


# --- mlxtend as the reference ------------------------------------------------------------------


def _mlxtend(baskets, min_support, max_len=None, min_confidence=0.0):
    encoder = TransactionEncoder().fit(baskets)
    one_hot = pd.DataFrame(encoder.transform(baskets), columns=encoder.columns_)
    itemsets = fpgrowth(one_hot, min_support=min_support, use_colnames=True, max_len=max_len)
    if itemsets.empty:
        return itemsets, pd.DataFrame()
    rules = association_rules(
        itemsets, num_itemsets=len(baskets), metric="confidence", min_threshold=min_confidence
    )
    return itemsets, rules.rename(columns=lambda c: c.replace(" ", "_"))


def assert_same_as_mlxtend(miner, itemsets, rules):
    ours = dict(zip(miner.itemsets_["itemset"], miner.itemsets_["support"], strict=True))
    theirs = dict(zip(itemsets["itemsets"], itemsets["support"], strict=True))
    assert ours.keys() == theirs.keys()
    keys = list(theirs)
    np.testing.assert_allclose(
        [ours[k] for k in keys], [theirs[k] for k in keys], rtol=0, atol=1e-9
    )

    mine = miner.rules_.set_index(["antecedents", "consequents"])
    assert mine.index.is_unique
    if rules.empty:
        assert mine.empty
        return
    reference = rules.set_index(["antecedents", "consequents"])
    assert set(mine.index) == set(reference.index)
    metrics = ["antecedent_support", "consequent_support", "support", "confidence", "lift"]
    metrics += ["leverage", "conviction"]
    ordered = reference.loc[mine.index, metrics].to_numpy(dtype=float)
    got = mine[metrics].to_numpy(dtype=float)
    assert np.array_equal(np.isinf(got), np.isinf(ordered))
    finite = np.isfinite(ordered)
    np.testing.assert_allclose(got[finite], ordered[finite], rtol=1e-9, atol=1e-9)


def assert_strongest_first(rules):
    """Rules by lift, then confidence, then support, all descending."""
    lift, confidence, support = (rules[name].to_numpy() for name in RULE_METRICS[4:1:-1])
    after = (
        (lift[:-1] > lift[1:])
        | (lift[:-1] == lift[1:]) & (confidence[:-1] > confidence[1:])
        | (lift[:-1] == lift[1:])
        & (confidence[:-1] == confidence[1:])
        & (support[:-1] >= support[1:])
    )
    assert after.all()


@pytest.fixture(scope="module")
def groceries():
    path = dataset_path("groceries", "groceries.csv")
    with path.open(encoding="utf-8") as handle:
        # Labels are not stripped: two of them end in a space, as in arules.
        return [line.rstrip("\r\n").split(",") for line in handle if line.strip("\r\n")]


@pytest.mark.parametrize(
    ("min_support", "n_itemsets", "n_rules_at_half"),
    [(0.01, 333, 15), (0.005, 1001, 120), (0.003, None, None)],
)
def test_groceries_same_as_mlxtend(groceries, min_support, n_itemsets, n_rules_at_half):
    assert len(groceries) == 9835
    miner = AssociationRuleMiner(min_support=min_support).fit(groceries)
    itemsets, rules = _mlxtend(groceries, min_support)
    assert_same_as_mlxtend(miner, itemsets, rules)
    assert_strongest_first(miner.rules_)
    assert miner.n_items_ == 169
    if n_itemsets is not None:  # the published arules figures (see the dataset's PROVENANCE.md)
        assert len(miner.itemsets_) == n_itemsets
        assert int((miner.rules_["confidence"] >= 0.5).sum()) == n_rules_at_half


def test_groceries_thresholds_same_as_mlxtend(groceries):
    miner = AssociationRuleMiner(min_support=0.005, min_confidence=0.5, min_lift=2.0, max_len=3)
    miner.fit(groceries)
    itemsets, rules = _mlxtend(groceries, 0.005, max_len=3, min_confidence=0.5)
    rules = rules[rules["lift"] >= 2.0]
    assert_same_as_mlxtend(miner, itemsets, rules)
    assert 0 < len(miner.rules_) < 120


def random_baskets(seed, n_baskets=400, n_items=25):
    """Zipf-like item popularity plus a few planted itemsets, so long itemsets exist."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1)
    popularity /= popularity.sum()
    patterns = [rng.choice(n_items, size=size, replace=False) for size in (3, 4, 5)]
    baskets = []
    for _ in range(n_baskets):
        size = rng.integers(0, 7)
        basket = set(rng.choice(n_items, size=size, p=popularity).tolist())
        if rng.random() < 0.4:
            basket |= set(patterns[rng.integers(len(patterns))].tolist())
        baskets.append([f"i{item:02d}" for item in sorted(basket)])
    return baskets


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("min_support", "max_len"), [(0.02, None), (0.05, None), (0.03, 3)])
def test_random_baskets_same_as_mlxtend(seed, min_support, max_len):
    baskets = random_baskets(seed)
    miner = AssociationRuleMiner(min_support=min_support, max_len=max_len).fit(baskets)
    itemsets, rules = _mlxtend(baskets, min_support, max_len=max_len)
    assert_same_as_mlxtend(miner, itemsets, rules)
    assert miner.itemsets_["itemset"].map(len).max() >= 3


def test_support_exactly_at_the_threshold_is_frequent():
    # 0.28 * 25 is 7.000000000000001 in floating point, yet {A, B} in 7 of 25 baskets has support
    # 7/25 == 0.28 and is frequent. mlxtend's apriori agrees; its fpgrowth 0.25 prunes with
    # ceil(0.28 * 25) == 8 and misses it (the same slip mlxtend PR #1191 fixed in apriori's
    # low_memory path), which is why it is not the reference here.
    baskets = [["A", "B"]] * 7 + [["C"]] * 18
    miner = FrequentItemsetMiner(min_support=0.28).fit(baskets)
    assert miner.min_count_ == 7
    assert frozenset("AB") in set(miner.itemsets_["itemset"])
    encoder = TransactionEncoder().fit(baskets)
    one_hot = pd.DataFrame(encoder.transform(baskets), columns=encoder.columns_)
    reference = apriori(one_hot, min_support=0.28, use_colnames=True)
    ours = dict(zip(miner.itemsets_["itemset"], miner.itemsets_["support"], strict=True))
    assert ours == dict(zip(reference["itemsets"], reference["support"], strict=True))


def test_retail_shaped_baskets_same_as_mlxtend():
    # The benchmark's generator (long-tailed popularity, planted co-purchases), scaled down.
    from bench.bench_rules import retail_baskets

    baskets = retail_baskets(n_baskets=3_000, n_items=800, seed=1)
    assert baskets == retail_baskets(n_baskets=3_000, n_items=800, seed=1)  # deterministic
    miner = AssociationRuleMiner(min_support=0.004).fit(baskets)
    itemsets, rules = _mlxtend(baskets, 0.004)
    assert_same_as_mlxtend(miner, itemsets, rules)
    assert miner.itemsets_["itemset"].map(len).max() >= 4
    assert 5 < np.mean([len(basket) for basket in baskets]) < 15


# --- the search's own paths --------------------------------------------------------------------


@pytest.mark.parametrize("table", [True, False])
def test_batches_and_both_ways_of_counting_give_the_same_itemsets(monkeypatch, groceries, table):
    reference = AssociationRuleMiner(min_support=0.003).fit(groceries)
    # The numpy search (the compiled kernel found the reference when it is built), in tiny
    # batches (one first item each, as the budget is below any item's work), and
    # candidates counted in a table or by sorting.
    monkeypatch.setattr(_rule_tables, "_fim", None)
    monkeypatch.setattr(_itemsets, "BATCH_PAIRS", 100)
    monkeypatch.setattr(_itemsets, "_in_a_table", lambda n_cells, n_keys: table)
    miner = AssociationRuleMiner(min_support=0.003).fit(groceries)
    pd.testing.assert_frame_equal(miner.itemsets_, reference.itemsets_)
    pd.testing.assert_frame_equal(miner.rules_, reference.rules_)


def test_itemsets_are_a_prefix_tree_with_sorted_keys():
    baskets = random_baskets(0)
    found = _itemsets.mine(*_csr(baskets), min_count=8)
    one_hot = encode_baskets(baskets)
    dense = np.zeros((len(one_hot), one_hot.n_items), dtype=np.int64)
    dense[np.repeat(np.arange(len(one_hot)), np.diff(one_hot.indptr)), one_hot.indices] = 1
    pairs = np.triu(dense.T @ dense, k=1)
    assert [len(level.count) for level in found.levels][:2] == [
        int((dense.sum(axis=0) >= 8).sum()),
        int((pairs >= 8).sum()),
    ]
    for length, level in enumerate(found.levels[1:], start=2):
        keys = level.prefix * found.n_frequent + level.last
        assert np.all(np.diff(keys) > 0)  # ids in (prefix, last item) order
        ranks = found.ranks(length)
        assert np.all(np.diff(ranks, axis=1) > 0)  # items ascending by rank
        ids = ranks[:, 0]
        for column in range(1, length):
            ids = found.find(column + 1, ids, ranks[:, column])
        assert np.array_equal(ids, np.arange(len(level.count)))
        codes = found.item_of_rank[ranks]
        counts = dense[:, codes].all(axis=2).sum(axis=0)  # baskets holding every item
        assert np.array_equal(counts, level.count)
    with pytest.raises(ValueError, match="missing"):
        found.find(2, np.array([0]), np.array([0]))


KERNEL = pytest.mark.skipif(_rule_tables._fim is None, reason="the C kernel is not built here")


def _kernel_matches_numpy(monkeypatch, cases):
    """``mine(*case)`` through the kernel and through numpy: the same tables, bit for bit."""
    compiled = [mine(*case) for case in cases]
    for got in compiled:
        got.itemsets.sets()  # made by the kernel, before it is taken away
    monkeypatch.setattr(_rule_tables, "_fim", None)
    for case, got in zip(cases, compiled, strict=True):
        expected = mine(*case)
        assert np.array_equal(got.itemsets.count, expected.itemsets.count)
        assert list(got.itemsets.sets()) == list(expected.itemsets.sets())
        assert got.itemsets.texts() == expected.itemsets.texts()
        assert np.array_equal(got.rules.antecedents, expected.rules.antecedents)
        assert np.array_equal(got.rules.consequents, expected.rules.consequents)
        # Bit for bit: the same operations in the same order.
        assert np.array_equal(
            got.rules.metrics.view(np.int64), expected.rules.metrics.view(np.int64)
        )


@KERNEL
def test_compiled_and_numpy_tables_and_rules_are_identical(monkeypatch):
    rng = np.random.default_rng(11)
    cases = []
    for case in range(200):
        n_items = int(rng.integers(1, 30))
        baskets = [
            [f"item {x}" for x in rng.choice(n_items, int(rng.integers(0, 11)), replace=False)]
            if n_items >= 10
            else [f"item {x}" for x in rng.integers(0, n_items, int(rng.integers(0, 6)))]
            for _ in range(int(rng.integers(1, 200)))
        ]
        thresholds = [(0.0, None), (0.5, None), (0.0, 1.0), (1.0, 0.5)][case % 4]
        max_len = [None, 1, 2, 3][case // 4 % 4]  # every pair of thresholds and max_len
        cases.append((encode_baskets(baskets), int(rng.integers(1, 8)), max_len, thresholds))
    _kernel_matches_numpy(monkeypatch, cases)


@KERNEL
@pytest.mark.parametrize("min_count", [200, 49, 10])
def test_compiled_and_numpy_agree_on_groceries(monkeypatch, groceries, min_count):
    _kernel_matches_numpy(monkeypatch, [(encode_baskets(groceries), min_count, None, (0.0, None))])


@KERNEL
def test_the_compiled_kernel_refuses_codes_outside_the_table():
    kernel = _rule_tables._fim
    indptr = np.array([0, 2], dtype=np.int64)
    with pytest.raises(ValueError, match="not a valid table"):
        kernel.mine_rules(indptr, np.array([0, 5], dtype=np.int32), 2, 1, 0, True, 0.0, -1.0)
    bad_indptr = np.array([0, 3], dtype=np.int64)
    with pytest.raises(ValueError, match="not a valid table"):
        kernel.mine_rules(bad_indptr, np.array([0, 1], dtype=np.int32), 2, 1, 0, True, 0.0, -1.0)
    with pytest.raises(TypeError, match="8-byte"):
        kernel.mine_rules(
            indptr.astype(np.int32), np.array([0, 1], np.int32), 2, 1, 0, True, 0.0, -1.0
        )


def _csr(baskets):
    encoded = encode_baskets(baskets)
    return encoded.indptr, encoded.indices, encoded.n_items


def test_single_items_only():
    found = _itemsets.mine(*_csr(MARKET), min_count=2, max_len=1)
    assert len(found.levels) == 1
    one = FrequentItemsetMiner(min_support=5).fit([["a", "b"], ["a"], ["a"], ["a"], ["a", "c"]])
    assert one.itemsets_["itemset"].tolist() == [frozenset("a")]


# --- basket files ------------------------------------------------------------------------------


def _python_reader(path, sep):
    """What reading a basket file means: universal newlines, blank lines skipped."""
    with path.open(encoding="utf-8", newline="") as handle:
        lines = [line.rstrip("\r\n") for line in handle]
    return [sorted({item for item in line.split(sep) if item}) for line in lines if line]


@pytest.mark.parametrize(
    ("text", "sep"),
    [
        ("a,b\r\nb,c\rc\n\n,\nd,,e,\n", ","),  # CRLF, lone CR, blank line, empty basket
        ("1 2 3 \n2 3 \n3 4 \n\n1 3 \n", " "),
        ("whole milk,tropical fruit ,yogurt\nyogurt,whole milk,whole milk\n", ","),
        ("é,ü\nü,x\n\ufeffy,é\n", ","),  # non-ASCII labels, a byte-order mark kept as written
        ("a::b::\n::\nb::c\n", "::"),  # a longer separator: the text path
        ("a\0b,c\nc\n", ","),  # a NUL byte: the text path
        ("", ","),
        ("\n\n", ","),
        ("a", ","),
    ],
)
@pytest.mark.parametrize("bytes_path_from", [0, 1 << 40])  # the bytes path, the text path
@pytest.mark.parametrize("block", [1 << 20, 1, 5])  # the bytes path in one block, or in many
def test_basket_files_read_as_python_would(
    tmp_path, monkeypatch, text, sep, bytes_path_from, block
):
    monkeypatch.setattr(_basket_lines, "_BYTES_PATH_FROM", bytes_path_from)
    monkeypatch.setattr(_basket_lines, "_BLOCK_BYTES", block)
    path = tmp_path / "baskets.txt"
    path.write_bytes(text.encode("utf-8"))
    baskets = read_basket_lines(path, sep)
    assert [list(basket) for basket in baskets] == _python_reader(path, sep)
    assert baskets.items == sorted(baskets.items)


@pytest.mark.parametrize("block", [1 << 20, 1])  # collisions inside a block, across blocks
def test_basket_file_labels_longer_than_a_word_and_hash_collisions(tmp_path, monkeypatch, block):
    monkeypatch.setattr(_basket_lines, "_BYTES_PATH_FROM", 0)
    monkeypatch.setattr(_basket_lines, "_BLOCK_BYTES", block)
    path = tmp_path / "baskets.txt"
    # Two-word labels that differ in the first word only: with no mixing, their hashes collide.
    path.write_text("aaaaaaaa12345678,bbbbbbbb12345678\nbbbbbbbb12345678,c_12345678\n")
    expected = _python_reader(path, ",")
    assert [list(b) for b in read_basket_lines(path, ",")] == expected
    monkeypatch.setattr(_basket_lines, "_MIX", np.uint64(0))
    assert _basket_lines._read_bytes(path.read_bytes(), ord(",")) is None  # collision seen
    assert [list(b) for b in read_basket_lines(path, ",")] == expected
    apart = tmp_path / "apart.txt"  # the colliding labels on lines of their own
    apart.write_text("aaaaaaaa12345678\nc_12345678\nbbbbbbbb12345678\n")
    assert _basket_lines._read_bytes(apart.read_bytes(), ord(",")) is None
    assert [list(b) for b in read_basket_lines(apart, ",")] == _python_reader(apart, ",")


@pytest.mark.parametrize("bytes_path_from", [0, 1 << 40])
def test_basket_file_errors(tmp_path, monkeypatch, bytes_path_from):
    monkeypatch.setattr(_basket_lines, "_BYTES_PATH_FROM", bytes_path_from)
    path = tmp_path / "baskets.txt"
    path.write_bytes(b"caf\xe9,milk\n")  # Latin-1, not UTF-8
    with pytest.raises(UnicodeDecodeError):
        read_basket_lines(path, ",")
    for sep in ("", "\n", "a\r"):
        with pytest.raises(ValueError, match="separator"):
            read_basket_lines(path, sep)


def test_encoded_baskets_are_a_sequence_of_item_lists(tmp_path):
    path = tmp_path / "baskets.txt"
    path.write_text("\n".join(",".join(basket) for basket in MARKET) + "\n")
    baskets = read_basket_lines(path, ",")
    assert len(baskets) == 5
    assert baskets[0] == ["bread", "milk"]
    assert baskets[-1] == ["bread", "cola", "diapers", "milk"]
    assert baskets[1:3] == [sorted(MARKET[1]), sorted(MARKET[2])]
    assert list(baskets) == [sorted(basket) for basket in MARKET]
    with pytest.raises(IndexError):
        baskets[5]
    assert repr(baskets) == "EncodedBaskets(5 baskets, 6 items)"
    ours = AssociationRuleMiner(min_support=0.4).fit(baskets)
    pd.testing.assert_frame_equal(
        ours.rules_, AssociationRuleMiner(min_support=0.4).fit(MARKET).rules_
    )


# --- writing tables ----------------------------------------------------------------------------


def _pandas_csv(frame, path, set_columns):
    out = frame.copy()
    for column in set_columns:
        out[column] = [json.dumps(sorted(map(str, v)), ensure_ascii=False) for v in out[column]]
    out.to_csv(path, index=False)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_tables_are_written_as_pandas_writes_them(tmp_path, groceries, suffix):
    rules = AssociationRuleMiner(min_support=0.01).fit(groceries).rules_
    assert np.isinf(rules["conviction"]).sum() == 0
    odd = pd.DataFrame(
        {
            "sets": [frozenset({"x,y", 'q"'}), frozenset(), frozenset({"é"}), frozenset({"é"})],
            "number": [1.5, np.nan, np.inf, 1e-7],
            "count": [1, 2, 3, 4],
            "flag": [True, False, True, True],
        }
    )
    text = pd.DataFrame({"name": ["a", None, "c,d", "e"], "sets": [frozenset("ab")] * 4})
    for frame, sets in (
        (rules, ("antecedents", "consequents")),
        (odd, ("sets",)),
        (text, ("sets",)),
    ):
        ours, theirs = tmp_path / f"ours{suffix}", tmp_path / f"theirs{suffix}"
        write_table(frame, ours, sets)
        if suffix == ".csv":
            _pandas_csv(frame, theirs, sets)
            assert ours.read_bytes() == theirs.read_bytes()
        else:
            back = pd.read_parquet(ours)
            for column in sets:
                assert [list(v) for v in back[column]] == [
                    sorted(map(str, v)) for v in frame[column]
                ]


def test_parameters_follow_scikit_learn():
    miner = AssociationRuleMiner(min_support=0.02, min_lift=1.5)
    assert repr(miner) == "AssociationRuleMiner(min_lift=1.5, min_support=0.02)"
    assert repr(FrequentItemsetMiner()) == "FrequentItemsetMiner()"
    assert miner.set_params(max_len=3) is miner
    assert miner.get_params() == {
        "max_len": 3, "min_confidence": 0.0, "min_lift": 1.5, "min_support": 0.02
    }  # fmt: skip
    with pytest.raises(ValueError, match="invalid parameter 'support'"):
        miner.set_params(support=0.1)
    assert clone(miner).get_params() == miner.get_params()


@pytest.mark.parametrize("min_support", [0.01, 0.002])
def test_mined_tables_written_as_the_frames_are(tmp_path, min_support):
    """The command line writes the tables straight to CSV: the same bytes as pandas writing the
    estimators' frames, labels with commas, quotes and accents included."""
    path = dataset_path("groceries", "groceries.csv")
    odd = {"whole milk": 'whole "milk"', "yogurt": "yog,urt", "rolls/buns": "brötchen"}
    text = path.read_text(encoding="utf-8")
    baskets = [[odd.get(item, item) for item in line.split(",")] for line in text.splitlines()]
    lines = tmp_path / "baskets.txt"
    lines.write_text("\n".join("\t".join(basket) for basket in baskets) + "\n", encoding="utf-8")
    encoded = read_basket_lines(lines, "\t")
    mined = mine(encoded, min_support, None, (0.0, None))
    miner = AssociationRuleMiner(min_support=min_support).fit(encoded)
    for rules, sets in ((True, ("antecedents", "consequents")), (False, ("itemset",))):
        frame = miner.rules_ if rules else miner.itemsets_
        tables = mined if rules else mine(encoded, min_support, None, None)
        ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
        write_mined_csv(tables, ours)
        _pandas_csv(frame, theirs, sets)
        assert ours.read_bytes() == theirs.read_bytes()
    written = ours.read_text(encoding="utf-8")
    assert '""whole \\""milk\\""""' in written  # JSON's escaped quote, doubled by CSV
    assert "brötchen" in written
