"""Basket files, one basket per line, read straight into item codes.

A file of a megabyte or more, with a one-byte separator (``,``, a space) and no NUL byte, never
makes a Python string per item: its bytes are cut at the separators and line breaks with numpy,
each item is padded to the longest and read as big-endian 64-bit words, so that comparing words
compares the UTF-8 bytes, which is comparing the labels code point by code point, as Python
sorts strings. Equal items are found by sorting the words a chunk at a time (an item longer than
8 bytes is hashed to one word first, and checked, so a collision cannot merge two labels); only
the distinct labels are decoded. Other files, and smaller ones (faster so), go through
``str.split`` and one hash table over the Python strings.

Lines end at ``\\n``, ``\\r`` or ``\\r\\n``, as Python's universal newlines have it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from patron.analytics._baskets import EncodedBaskets, factorize_text, from_codes

_PADDED_BYTES_LIMIT = 1 << 26
"""Above this many bytes of padded items, the text path is used instead."""

_BYTES_PATH_FROM = 1 << 20
"""Files from this size (bytes) take the bytes path; smaller ones are read faster as text."""

_AT_ONCE = 1 << 14
"""Items padded or coded at a time (a few megabytes of indices)."""

_MIX = np.uint64(0x9E3779B97F4A7C15)


def read(path: Path, sep: str) -> EncodedBaskets:
    if not sep:
        raise ValueError("the item separator must not be empty")
    if "\n" in sep or "\r" in sep:
        raise ValueError("the item separator cannot hold a line break")
    raw = path.read_bytes()
    one_byte = len(sep) == 1 and ord(sep) < 128 and sep != "\0"
    if one_byte and len(raw) >= _BYTES_PATH_FROM and b"\0" not in raw:
        found = _read_bytes(raw, ord(sep))
        if found is not None:
            return found
    return _read_text(raw.decode("utf-8"), sep)


def _baskets(
    line_of_token: NDArray[np.integer],
    is_item: NDArray[np.bool_],
    codes: NDArray[np.integer],
    items: list[str],
) -> EncodedBaskets:
    """The baskets from the tokens' lines: a line with one empty token is blank, and no basket;
    ``codes`` are those of the item tokens."""
    n_lines = int(line_of_token[-1]) + 1
    tokens = np.bincount(line_of_token, minlength=n_lines)
    item_tokens = np.bincount(line_of_token[is_item], minlength=n_lines)
    is_basket = (tokens > 1) | (item_tokens > 0)
    basket_of_line = np.cumsum(is_basket, dtype=np.int64)
    basket_of_line -= 1
    rows = basket_of_line.astype(line_of_token.dtype)[line_of_token[is_item]]
    return from_codes(rows, codes, int(is_basket.sum()), list(items))


def _read_text(text: str, sep: str) -> EncodedBaskets:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Each line break becomes a token of its own, which no item can equal.
    tokens = text.replace("\n", f"{sep}\n{sep}").split(sep)
    del text
    codes, labels = factorize_text(tokens)
    del tokens
    special = {label: code for code, label in enumerate(labels) if label in ("\n", "")}
    breaks = codes == special.get("\n", -2)
    is_item = ~breaks & (codes != special.get("", -2))
    line_of_token = np.cumsum(breaks)[~breaks]
    keep = np.ones(len(labels), dtype=bool)
    keep[list(special.values())] = False
    new_code = np.cumsum(keep) - 1
    items = [label for label, kept in zip(labels, keep.tolist(), strict=True) if kept]
    return _baskets(line_of_token, is_item[~breaks], new_code[codes[is_item]], items)


def _read_bytes(raw: bytes, sep: int) -> EncodedBaskets | None:
    data = np.frombuffer(raw, dtype=np.uint8)
    position = np.int32 if len(data) < 2**31 - 1 else np.int64  # halves the memory
    is_break = data == ord("\n")
    is_break |= data == ord("\r")
    is_cut = data == sep
    is_cut |= is_break
    cuts = np.flatnonzero(is_cut).astype(position)
    del is_cut
    # Token t runs from just after cut t - 1 (or the start) to cut t (or the end).
    line_of_token = np.zeros(len(cuts) + 1, dtype=position)
    np.cumsum(is_break[cuts], out=line_of_token[1:])
    del is_break
    starts = np.zeros(len(cuts) + 1, dtype=position)
    starts[1:] = cuts
    starts[1:] += 1
    lengths = np.empty_like(starts)
    lengths[:-1] = cuts
    lengths[-1] = len(data)
    lengths -= starts
    del cuts
    is_item = lengths > 0
    starts, lengths = starts[is_item], lengths[is_item]
    width = int(lengths.max()) if len(lengths) else 0
    words = max(1, -(-width // 8))
    if len(lengths) * words * 8 > _PADDED_BYTES_LIMIT:
        return None
    keys = _padded(data, starts, lengths, words * 8).view(np.uint64)
    del starts
    if sys.byteorder == "little":  # first byte most significant: keys compare as bytes do
        keys.byteswap(inplace=True)
    if words == 1:  # the key is the label: ascending keys are labels in byte order
        distinct, codes = _sorted_codes(keys.reshape(-1))
        first = _first(codes, len(distinct))
    else:
        hashed = keys[:, 0].copy()
        for word in range(1, words):
            hashed *= _MIX
            hashed ^= keys[:, word]
        distinct, codes = _sorted_codes(hashed)
        del hashed
        first = _first(codes, len(distinct))
        if not all(
            np.array_equal(keys[start : start + _AT_ONCE], keys[first[part]])
            for start, part in (
                (s, codes[s : s + _AT_ONCE]) for s in range(0, len(codes), _AT_ONCE)
            )
        ):
            return None  # two labels share a hash: leave it to the text path
        order = np.lexsort(keys[first].T[::-1])  # byte order of the labels
        new_code = np.empty(len(order), dtype=np.int32)
        new_code[order] = np.arange(len(order), dtype=np.int32)
        codes = new_code[codes]
        first = first[order]
    items = [
        keys[row].astype(">u8").tobytes()[:size].decode("utf-8")
        for row, size in zip(first.tolist(), lengths[first].tolist(), strict=True)
    ]
    del keys, lengths
    return _baskets(line_of_token, is_item, codes, items)


def _sorted_codes(keys: NDArray[np.uint64]) -> tuple[NDArray[np.uint64], NDArray[np.int32]]:
    """The distinct keys, ascending, and each key's index among them; a chunk at a time, which
    takes a few megabytes where one hash table or sort over all the keys takes tens."""
    pieces = [(np.zeros(0, dtype=keys.dtype), np.zeros(0, dtype=np.int32))]
    for start in range(0, len(keys), _AT_ONCE):
        distinct, inverse = np.unique(keys[start : start + _AT_ONCE], return_inverse=True)
        pieces.append((distinct, inverse.astype(np.int32)))
    everything = np.unique(np.concatenate([distinct for distinct, _ in pieces]))
    codes = [np.searchsorted(everything, distinct).astype(np.int32)[i] for distinct, i in pieces]
    return everything, np.concatenate(codes)


def _first(codes: NDArray[np.int32], n_codes: int) -> NDArray[np.int64]:
    """Where each code first appears."""
    first = np.empty(n_codes, dtype=np.int64)
    first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)
    return first


def _padded(
    data: NDArray[np.uint8], starts: NDArray[np.integer], lengths: NDArray[np.integer], width: int
) -> NDArray[np.uint8]:
    """Row t holds the bytes ``data[starts[t]:starts[t] + lengths[t]]``, then zeros."""
    padded = np.zeros((len(starts), width), dtype=np.uint8)
    for first in range(0, len(starts), _AT_ONCE):  # a gather and a scatter per chunk
        begin, size = starts[first : first + _AT_ONCE], lengths[first : first + _AT_ONCE]
        ends = np.cumsum(size)
        offsets = np.arange(int(ends[-1])) - np.repeat(ends - size, size)
        target = np.repeat(np.arange(len(size)) * width, size) + offsets
        padded[first : first + len(size)].ravel()[target] = data[np.repeat(begin, size) + offsets]
    return padded
