"""Vectorised building blocks: time-ordered ids, timestamps as text, patterned strings, choices.

Everything here works on whole numpy arrays at once; the demo generator never loops in Python
over order lines. Times are int64 microseconds since the Unix epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import numpy as np

US_PER_SECOND = 1_000_000
US_PER_MINUTE = 60 * US_PER_SECOND
US_PER_HOUR = 60 * US_PER_MINUTE
US_PER_DAY = 24 * US_PER_HOUR

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UPPER = np.frombuffer(b"ABCDEFGHJKLMNPRSTUVWXYZ", dtype=np.uint8)  # no I, O, Q: read as digits


def to_us(value: date | datetime) -> int:
    """Microseconds since the epoch; a date means its midnight, UTC."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    delta = value.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US_PER_SECOND + delta.microseconds


def uuid7_hex(times_us: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """UUIDv7 (RFC 9562) as 32 lowercase hex digits, timestamped with each record's own time.

    The 74 random bits come from ``rng``, so the same seed gives the same ids, and ids sort by
    the time the record was created.
    """
    n = len(times_us)
    millis = (np.asarray(times_us, dtype=np.int64) // 1000).astype(np.uint64)
    random = rng.integers(0, np.iinfo(np.uint64).max, size=(n, 2), dtype=np.uint64, endpoint=True)
    words = np.empty((n, 2), dtype=">u8")
    words[:, 0] = (millis << np.uint64(16)) | np.uint64(0x7000) | (random[:, 0] & np.uint64(0xFFF))
    words[:, 1] = (random[:, 1] >> np.uint64(2)) | np.uint64(0x8000_0000_0000_0000)
    octets = words.view(np.uint8).reshape(n, 16)
    digits = np.empty((n, 32), dtype=np.uint8)
    digits[:, 0::2] = _HEX[octets >> 4]
    digits[:, 1::2] = _HEX[octets & 15]
    return digits.view("S32").ravel().astype("U32")


def datetime_text(times_us: np.ndarray) -> np.ndarray:
    """``YYYY-MM-DD HH:MM:SS.ffffff``: naive UTC, exactly as SQLAlchemy stores it on SQLite."""
    stamps = np.asarray(times_us, dtype=np.int64).astype("datetime64[us]")
    text = np.datetime_as_string(stamps, unit="us").astype("U26")
    text.view(np.uint32).reshape(-1, 26)[:, 10] = ord(" ")
    return text


def date_text(times_us: np.ndarray) -> np.ndarray:
    days = (np.asarray(times_us, dtype=np.int64) // US_PER_DAY).astype("datetime64[D]")
    return np.datetime_as_string(days, unit="D").astype("U10")


def fill_pattern(pattern: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` strings shaped like ``pattern``: ``#`` becomes a digit, ``?`` a capital letter."""
    codes = np.frombuffer(pattern.encode("utf-32-le"), dtype=np.uint32)
    out = np.tile(codes, (n, 1))
    digit = codes == ord("#")
    letter = codes == ord("?")
    if digit.any():
        out[:, digit] = rng.integers(ord("0"), ord("9") + 1, size=(n, int(digit.sum())))
    if letter.any():
        picks = rng.integers(0, len(_UPPER), size=(n, int(letter.sum())))
        out[:, letter] = _UPPER[picks]
    return out.view(f"U{len(codes)}").ravel()


def cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-wise cumulative probabilities ending exactly at 1 (rows of zeros stay zeros)."""
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    sums = weights.sum(axis=1, keepdims=True)
    cum = np.cumsum(weights, axis=1) / np.where(sums > 0, sums, 1.0)
    cum[sums[:, 0] > 0, -1] = 1.0
    return cum


def grouped_choice(cum: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each element, an item index drawn from the distribution of its group's row of ``cum``.

    ``cum`` is (groups x items) as made by ``cumulative``; one ``searchsorted`` serves every group.
    """
    n_groups, n_items = cum.shape
    flat = (cum + np.arange(n_groups)[:, None]).ravel()
    groups = np.asarray(groups, dtype=np.int64)
    picks = np.searchsorted(flat, groups + rng.random(len(groups)), side="right") - groups * n_items
    return np.clip(picks, 0, n_items - 1)


def choice(weights: Sequence[float] | np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn with the given (unnormalised) weights."""
    return grouped_choice(cumulative(weights), np.zeros(n, dtype=np.int64), rng)


def offsets(counts: np.ndarray) -> np.ndarray:
    """Start offsets of consecutive groups of the given sizes (length ``len(counts) + 1``)."""
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def rank_within_groups(groups: np.ndarray) -> np.ndarray:
    """0, 1, 2... within each run of equal values of a sorted ``groups`` array."""
    n = len(groups)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    run_lengths = np.diff(np.r_[starts, n])
    return np.arange(n) - np.repeat(starts, run_lengths)
