"""Likely duplicate people in one table: blocking, fuzzy comparison, a score explained per field.

Pure computation on a plain DataFrame (no database): the customer table and the FEBRL benchmark
files both feed it through the same standard column names, any of which may be absent:

``name`` (or ``given_name`` and ``surname``), ``email``, ``phone``, ``address_line1``,
``address_line2``, ``city``, ``postal_code``, ``region``, ``date_of_birth``, ``national_id``.

The method is the classic one (P. Christen, *Data Matching*, Springer 2012):

1. **Normalise**: lower case, punctuation stripped, spaces collapsed; only digits for phones,
   postcodes, dates and national ids; a ``name`` is split into given name and surname.
2. **Block**: candidate pairs are the union of exact blocks (surname prefix + given-name initial,
   postcode, date of birth, national id, email, phone) and a sorted neighbourhood (window
   :data:`WINDOW`) over the names in both orders and over the street; blocks larger than
   :data:`MAX_BLOCK` are skipped so one common value cannot make the pairs quadratic.
3. **Compare** every field with ``rapidfuzz``: Jaro-Winkler for names and places (given name and
   surname also compared crosswise, for swapped fields), token-set ratio for street lines, optimal
   string alignment for digit strings, and a date rule that forgives swapped day and month.
   A value missing on either side gives no evidence (similarity ``NaN``, weight 0).
4. **Score** (Fellegi-Sunter): each field's similarity falls in a level (exact, close, similar,
   different); the level carries the weight ``log2(m / u)``, where *m* is how often true
   duplicates reach that level and *u* how often non-duplicates among the candidates do
   (:data:`LEVEL_WEIGHTS`, estimated on FEBRL 3). The weights add up with the prior
   :data:`PRIOR_WEIGHT` and the logistic function turns the sum into a match probability in [0, 1].
   ``method="weighted"`` gives the simpler alternative: the mean of the similarities weighted by
   :data:`FIELD_WEIGHTS` over the fields present (``bench/bench_dedup.py`` compares both).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

FIELDS = (
    "given_name",
    "surname",
    "email",
    "phone",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "region",
    "date_of_birth",
    "national_id",
)
"""The compared fields, in the order explanations list them."""

WINDOW = 5
MAX_BLOCK = 300
LEVELS = (0.99, 0.9, 0.75)
"""Lower bounds of the levels exact, close and similar; anything below is different."""

MAX_WEIGHT = 10.0
"""No field weighs more than this either way, so no single field decides a pair alone."""

DEFAULT_THRESHOLD = 0.5
"""Chosen on FEBRL 3 (see ``docs/benchmarks.md``); FEBRL 1 and 2 are only used to measure."""

PRIOR_WEIGHT = -3.57
"""``log2`` of the prior odds that a candidate pair is a duplicate, before any field is seen."""

# log2(m/u) per field for the levels (exact, close, similar, different), estimated on the
# candidate pairs of FEBRL 3 with its ground truth (bench/bench_dedup.py, ``estimate_weights``).
LEVEL_WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "given_name": (2.4, 2.33, -1.2, -2.5),
    "surname": (3.41, 3.41, -1.01, -3.11),
    "email": (8.0, 4.0, 0.0, -2.0),  # not in FEBRL: set by judgement, see docs/dedup.md
    "phone": (5.0, 2.0, 0.0, -1.0),  # not in FEBRL: households share a phone
    "address_line1": (8.81, 8.81, 2.86, -2.66),
    "address_line2": (9.63, 9.63, 8.08, -2.54),
    "city": (9.27, 8.81, 0.65, -3.52),
    "postal_code": (4.24, 4.24, 4.24, -4.85),
    "region": (2.33, 2.33, 2.33, -4.11),
    "date_of_birth": (7.72, 0.73, 0.73, -3.9),
    "national_id": (10.0, 7.36, 7.36, -3.88),
}

FIELD_WEIGHTS: dict[str, float] = {
    "given_name": 2.0,
    "surname": 2.0,
    "email": 3.0,
    "phone": 3.0,
    "address_line1": 1.5,
    "address_line2": 1.0,
    "city": 1.0,
    "postal_code": 1.0,
    "region": 0.5,
    "date_of_birth": 2.0,
    "national_id": 3.0,
}

METHODS = ("fellegi-sunter", "weighted")

_PUNCTUATION = re.compile(r"[^\w\s@]+")
_SPACES = re.compile(r"\s+")
_NON_DIGITS = re.compile(r"\D+")

# FEBRL's columns under the standard names (PROVENANCE.md in the datasets folder).
FEBRL_COLUMNS = {
    "given_name": "given_name",
    "surname": "surname",
    "address_2": "address_line2",
    "suburb": "city",
    "postcode": "postal_code",
    "state": "region",
    "date_of_birth": "date_of_birth",
    "soc_sec_id": "national_id",
}


# ---------------------------------------------------------------------------------------------
# Normalising


def _text(values: pd.Series) -> pd.Series:
    cleaned = values.astype("string").str.lower()
    cleaned = cleaned.str.replace(_PUNCTUATION, " ", regex=True)
    cleaned = cleaned.str.replace(_SPACES, " ", regex=True).str.strip()
    return cleaned.where(cleaned.str.len() > 0)


def _digits(values: pd.Series) -> pd.Series:
    cleaned = values.astype("string").str.replace(_NON_DIGITS, "", regex=True)
    return cleaned.where(cleaned.str.len() > 0)


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """The standard fields, cleaned; absent columns become all-missing. Index: 0..n-1."""
    source = frame.reset_index(drop=True)
    missing = pd.Series(pd.NA, index=source.index, dtype="string")

    def column(name: str) -> pd.Series:
        return source[name] if name in source.columns else missing

    out = pd.DataFrame(index=source.index)
    if "given_name" in source.columns or "surname" in source.columns:
        out["given_name"] = _text(column("given_name"))
        out["surname"] = _text(column("surname"))
    else:
        parts = _text(column("name")).str.split(" ")
        out["given_name"] = parts.str[0].astype("string")
        last = parts.str[-1].astype("string")
        out["surname"] = last.where(parts.str.len() > 1)
    out["email"] = column("email").astype("string").str.strip().str.lower()
    out["email"] = out["email"].where(out["email"].str.len() > 0)
    phone = _digits(column("phone"))
    out["phone"] = phone.str[-9:]  # drop country and trunk prefixes
    out["address_line1"] = _text(column("address_line1"))
    out["address_line2"] = _text(column("address_line2"))
    out["city"] = _text(column("city"))
    out["postal_code"] = _digits(column("postal_code"))
    out["region"] = _text(column("region"))
    out["date_of_birth"] = _digits(column("date_of_birth"))
    out["national_id"] = _digits(column("national_id"))
    return out


# ---------------------------------------------------------------------------------------------
# Blocking


def _exact_block(key: pd.Series, max_block: int) -> np.ndarray:
    present = key.dropna()
    sizes = present.map(present.value_counts())
    present = present[(sizes > 1) & (sizes <= max_block)]
    side = pd.DataFrame({"key": present.to_numpy(), "position": present.index.to_numpy()})
    joined = side.merge(side, on="key")
    left = joined["position_x"].to_numpy()
    right = joined["position_y"].to_numpy()
    keep = left < right
    return np.stack([left[keep], right[keep]], axis=1)


def _sorted_neighbourhood(key: pd.Series, window: int) -> np.ndarray:
    present = key.dropna().sort_values(kind="stable")
    order = present.index.to_numpy()
    chunks = [np.empty((0, 2), dtype=np.int64)]
    for offset in range(1, window):
        if offset >= len(order):
            break
        a, b = order[:-offset], order[offset:]
        chunks.append(np.stack([np.minimum(a, b), np.maximum(a, b)], axis=1))
    return np.concatenate(chunks)


def candidate_pairs(
    normalised: pd.DataFrame, *, window: int = WINDOW, max_block: int = MAX_BLOCK
) -> np.ndarray:
    """Row positions ``(i, j)`` with ``i < j``, sorted and unique: the pairs worth comparing."""
    given, surname = normalised["given_name"], normalised["surname"]
    blank = pd.Series("", index=normalised.index, dtype="string")
    exact_keys = [
        surname.str[:3] + given.str[:1],
        given.str[:3] + surname.str[:1],
        normalised["postal_code"],
        normalised["date_of_birth"],
        normalised["national_id"],
        normalised["email"],
        normalised["phone"],
    ]
    sorted_keys = [
        surname.fillna(blank) + " " + given.fillna(blank),
        given.fillna(blank) + " " + surname.fillna(blank),
        normalised["address_line1"],
        normalised["national_id"],
    ]
    chunks = [_exact_block(key, max_block) for key in exact_keys]
    chunks += [
        _sorted_neighbourhood(key.where(key.str.strip().str.len() > 0), window)
        for key in sorted_keys
    ]
    pairs = np.concatenate(chunks).astype(np.int64)
    if len(pairs) == 0:
        return pairs.reshape(0, 2)
    return np.unique(pairs, axis=0)


# ---------------------------------------------------------------------------------------------
# Comparing


def _pairwise(left: pd.Series, right: pd.Series, scorer: Any, scale: float = 1.0) -> np.ndarray:
    from rapidfuzz import process

    both = left.notna().to_numpy() & right.notna().to_numpy()
    result = np.full(len(left), np.nan)
    if both.any():
        a = left[both].astype(str).tolist()
        b = right[both].astype(str).tolist()
        result[both] = process.cpdist(a, b, scorer=scorer, dtype=np.float64) / scale
    return result


def _date_similarity(left: pd.Series, right: pd.Series) -> np.ndarray:
    from rapidfuzz.distance import OSA

    similarity = _pairwise(left, right, OSA.normalized_similarity)
    # Day and month swapped (YYYYMMDD against YYYYDDMM) is a common entry error.
    swapped = left.str[:4] + left.str[6:8] + left.str[4:6]
    is_swapped = (swapped == right).fillna(False).to_numpy(dtype=bool)
    return np.where(is_swapped & (similarity < 0.95), 0.95, similarity)


def compare(normalised: pd.DataFrame, pairs: np.ndarray) -> pd.DataFrame:
    """One row per pair, one similarity in [0, 1] (``NaN`` when a side is missing) per field."""
    from rapidfuzz import fuzz
    from rapidfuzz.distance import OSA, JaroWinkler

    left = normalised.iloc[pairs[:, 0]].reset_index(drop=True)
    right = normalised.iloc[pairs[:, 1]].reset_index(drop=True)
    jaro = JaroWinkler.normalized_similarity
    given = _pairwise(left["given_name"], right["given_name"], jaro)
    surname = _pairwise(left["surname"], right["surname"], jaro)
    given_x = _pairwise(left["given_name"], right["surname"], jaro)
    surname_x = _pairwise(left["surname"], right["given_name"], jaro)
    # Given name and surname swapped: take the crosswise comparison when it is clearly better.
    straight = np.nan_to_num(given) + np.nan_to_num(surname)
    crossed = np.nan_to_num(given_x) + np.nan_to_num(surname_x)
    use_crossed = crossed > straight + 0.2
    similarities = {
        "given_name": np.where(use_crossed, given_x, given),
        "surname": np.where(use_crossed, surname_x, surname),
        "email": _pairwise(left["email"], right["email"], jaro),
        "phone": _pairwise(left["phone"], right["phone"], OSA.normalized_similarity),
        "address_line1": _pairwise(
            left["address_line1"], right["address_line1"], fuzz.token_set_ratio, 100.0
        ),
        "address_line2": _pairwise(
            left["address_line2"], right["address_line2"], fuzz.token_set_ratio, 100.0
        ),
        "city": _pairwise(left["city"], right["city"], jaro),
        "postal_code": _pairwise(
            left["postal_code"], right["postal_code"], OSA.normalized_similarity
        ),
        "region": _pairwise(left["region"], right["region"], jaro),
        "date_of_birth": _date_similarity(left["date_of_birth"], right["date_of_birth"]),
        "national_id": _pairwise(
            left["national_id"], right["national_id"], OSA.normalized_similarity
        ),
    }
    return pd.DataFrame(similarities, columns=list(FIELDS))


def levels(similarity: np.ndarray) -> np.ndarray:
    """0 exact, 1 close, 2 similar, 3 different, -1 missing."""
    level = np.full(similarity.shape, 3, dtype=np.int8)
    for index, bound in reversed(list(enumerate(LEVELS))):
        level[similarity >= bound] = index
    level[np.isnan(similarity)] = -1
    return level


def field_weights(similarities: pd.DataFrame, method: str = "fellegi-sunter") -> pd.DataFrame:
    """Each field's contribution to each pair's score (0 where the field is missing)."""
    weights = {}
    for field in similarities.columns:
        values = similarities[field].to_numpy(dtype=np.float64)
        if method == "fellegi-sunter":
            table = np.array((*LEVEL_WEIGHTS[field], 0.0))  # index -1 -> missing -> 0
            weights[field] = table[levels(values)]
        else:
            weights[field] = np.where(np.isnan(values), 0.0, FIELD_WEIGHTS[field])
    return pd.DataFrame(weights, index=similarities.index)


def score(similarities: pd.DataFrame, method: str = "fellegi-sunter") -> np.ndarray:
    """The score in [0, 1] of each compared pair."""
    weights = field_weights(similarities, method)
    if method == "fellegi-sunter":
        total = PRIOR_WEIGHT + weights.to_numpy().sum(axis=1)
        return 1.0 / (1.0 + np.exp2(-total))
    values = np.nan_to_num(similarities.to_numpy(dtype=np.float64))
    present = weights.to_numpy()
    denominator = present.sum(axis=1)
    numerator = (values * present).sum(axis=1)
    return np.divide(numerator, denominator, out=np.zeros(len(values)), where=denominator > 0)


# ---------------------------------------------------------------------------------------------
# The estimator


@dataclass
class DuplicateFinder:
    """Find likely duplicate rows of one table.

    ``find(frame)`` answers one row per candidate pair scoring at least ``threshold``: ``left``
    and ``right`` (labels of ``frame.index``, ``left`` the earlier row), ``score``, and one
    ``similarity_<field>`` column per compared field; ``explain`` turns a row into
    ``{field: {"similarity": s, "weight": w}}``. Deterministic; no pair appears twice and no
    row is paired with itself.
    """

    threshold: float = DEFAULT_THRESHOLD
    method: str = "fellegi-sunter"
    window: int = WINDOW
    max_block: int = MAX_BLOCK

    def _validate(self) -> None:
        if not 0.0 <= self.threshold <= 1.0 or math.isnan(self.threshold):
            raise ValueError(f"threshold must lie in [0, 1], not {self.threshold}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        if self.window < 2:
            raise ValueError("window must be at least 2")

    def score_pairs(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Every candidate pair with its score and similarities, whatever the threshold."""
        self._validate()
        normalised = normalise(frame)
        pairs = candidate_pairs(normalised, window=self.window, max_block=self.max_block)
        similarities = compare(normalised, pairs)
        labels = frame.index.to_numpy()
        result = pd.DataFrame(
            {
                "left": labels[pairs[:, 0]],
                "right": labels[pairs[:, 1]],
                "score": score(similarities, self.method),
            }
        )
        for field in FIELDS:
            result[f"similarity_{field}"] = similarities[field].to_numpy()
        return result

    def find(self, frame: pd.DataFrame) -> pd.DataFrame:
        scored = self.score_pairs(frame)
        found = scored[scored["score"] >= self.threshold]
        return found.sort_values(
            ["score", "left", "right"], ascending=[False, True, True], kind="stable"
        ).reset_index(drop=True)

    def explain(self, pair: pd.Series | dict[str, Any]) -> dict[str, dict[str, float | None]]:
        """Per field: the similarity (``None`` when missing) and its weight in the score."""
        row = dict(pair)
        similarities = pd.DataFrame(
            {field: [float(row.get(f"similarity_{field}", np.nan))] for field in FIELDS}
        )
        weights = field_weights(similarities, self.method).iloc[0]
        explanation: dict[str, dict[str, float | None]] = {}
        for field in FIELDS:
            value = similarities[field].iloc[0]
            explanation[field] = {
                "similarity": None if np.isnan(value) else round(float(value), 4),
                "weight": round(float(weights[field]), 4),
            }
        return explanation


# ---------------------------------------------------------------------------------------------
# Measuring


def true_pairs(entities: Iterable[Any]) -> set[tuple[int, int]]:
    """All position pairs ``(i, j)``, ``i < j``, whose rows carry the same entity label."""
    frame = pd.DataFrame({"entity": list(entities)})
    frame["position"] = np.arange(len(frame))
    joined = frame.merge(frame, on="entity")
    keep = joined["position_x"] < joined["position_y"]
    return set(
        zip(
            joined.loc[keep, "position_x"].tolist(),
            joined.loc[keep, "position_y"].tolist(),
            strict=True,
        )
    )


def precision_recall_f1(
    found: Iterable[tuple[int, int]], truth: set[tuple[int, int]]
) -> dict[str, float]:
    found_set = {(min(a, b), max(a, b)) for a, b in found}
    hits = len(found_set & truth)
    precision = hits / len(found_set) if found_set else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "found": len(found_set)}


def estimate_weights(
    similarities: pd.DataFrame, is_match: np.ndarray, *, smoothing: float = 0.5
) -> tuple[dict[str, tuple[float, float, float, float]], float]:
    """Supervised Fellegi-Sunter weights: ``log2(m / u)`` per field and level, and the prior.

    *m* is the share of true pairs (``is_match``) at each level among those where the field is
    present, *u* the same among the other pairs; ``smoothing`` is added to every count so an empty
    level gets a finite weight.
    """
    is_match = np.asarray(is_match, dtype=bool)
    weights: dict[str, tuple[float, float, float, float]] = {}
    for field in similarities.columns:
        level = levels(similarities[field].to_numpy(dtype=np.float64))
        row = []
        for value in range(len(LEVELS) + 1):
            m = (np.sum((level == value) & is_match) + smoothing) / (
                np.sum((level >= 0) & is_match) + smoothing * (len(LEVELS) + 1)
            )
            u = (np.sum((level == value) & ~is_match) + smoothing) / (
                np.sum((level >= 0) & ~is_match) + smoothing * (len(LEVELS) + 1)
            )
            seen = np.sum(level == value)
            row.append(float(np.log2(m / u)) if seen else math.nan)
        # A level no pair reached takes the weight of the next looser one.
        for value in range(len(row) - 1, -1, -1):
            if math.isnan(row[value]):
                row[value] = row[value + 1] if value + 1 < len(row) else 0.0
        # A closer level never weighs less than a looser one (an unreachable level, such as
        # "close" for a four-digit postcode, or exact values shared by the pairs a blocking key
        # brought together, would otherwise get less than "similar").
        for value in range(len(row) - 2, -1, -1):
            row[value] = max(row[value], row[value + 1])
        row = [min(max(weight, -MAX_WEIGHT), MAX_WEIGHT) for weight in row]
        weights[str(field)] = (
            round(row[0], 2),
            round(row[1], 2),
            round(row[2], 2),
            round(row[3], 2),
        )
    share = float(is_match.mean()) if len(is_match) else 0.0
    prior = float(np.log2(max(share, 1e-9) / max(1.0 - share, 1e-9)))
    return weights, round(prior, 2)


def read_febrl(path: str | Path) -> tuple[pd.DataFrame, pd.Series]:
    """A FEBRL file as standard columns (index 0..n-1) and, apart, the entity of each row.

    The record id (which gives the truth away) is not among the columns the matcher sees.
    """
    raw = pd.read_csv(path, skipinitialspace=True, dtype=str, keep_default_na=False)
    raw.columns = [column.strip() for column in raw.columns]
    entities = raw["rec_id"].str.extract(r"rec-(\d+)-", expand=False).astype(int)
    frame = raw.rename(columns=FEBRL_COLUMNS)[list(FEBRL_COLUMNS.values())].copy()
    frame["address_line1"] = (raw["street_number"] + " " + raw["address_1"]).str.strip()
    frame = frame.replace("", pd.NA)
    return frame.reset_index(drop=True), entities.rename("entity")
