"""Basket files, one basket per line, read straight into item codes.

A file of a megabyte or more, with a one-byte separator (``,``, a space) and no NUL byte, never
makes a Python string per item: its bytes are cut at the separators and line breaks with numpy,
each item is padded to the longest and read as big-endian 64-bit words, so that comparing words
compares the UTF-8 bytes, which is comparing the labels code point by code point, as Python
sorts strings. The file is read in blocks of whole lines (:data:`_BLOCK_BYTES`): each block's
distinct items are found by sorting its words (an item longer than 8 bytes is hashed to one word
first, and checked, so a collision cannot merge two labels), then the blocks' distinct items are
merged and each block's baskets written out, so that the memory beyond the result is a few
blocks' worth; only the distinct labels are decoded. Other files, and smaller ones (faster so),
go through ``str.split`` and one hash table over the Python strings.

Lines end at ``\\n``, ``\\r`` or ``\\r\\n``, as Python's universal newlines have it.
"""

from __future__ import annotations

import sys
from itertools import pairwise
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from patron.analytics._baskets import EncodedBaskets, factorize_text, from_codes

_PADDED_BYTES_LIMIT = 1 << 26
"""Above this many bytes of padded items, the text path is used instead."""

_BYTES_PATH_FROM = 1 << 20
"""Files from this size (bytes) take the bytes path; smaller ones are read faster as text."""

_BLOCK_BYTES = 1 << 18
"""The bytes path reads about this many bytes of whole lines at a time."""

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


class _Tokens:
    """The tokens of a run of whole lines: token ``t`` is ``data[starts[t]:starts[t] +
    lengths[t]]`` on line ``line[t]`` (counted from the run's first line, ``n_lines`` in all;
    a run that ends with a line break has an empty last line, which is no basket)."""

    def __init__(self, data: NDArray[np.uint8], sep: int) -> None:
        is_break = data == ord("\n")
        is_break |= data == ord("\r")
        is_cut = data == sep
        is_cut |= is_break
        cuts = np.flatnonzero(is_cut).astype(np.int32)  # a block is far below 2 GiB
        del is_cut
        # Token t runs from just after cut t - 1 (or the start) to cut t (or the end).
        self.line = np.zeros(len(cuts) + 1, dtype=np.int32)
        np.cumsum(is_break[cuts], out=self.line[1:])
        del is_break
        self.n_lines = int(self.line[-1]) + 1
        self.starts = np.zeros(len(cuts) + 1, dtype=np.int32)
        self.starts[1:] = cuts
        self.starts[1:] += 1
        self.lengths = np.empty_like(self.starts)
        self.lengths[:-1] = cuts
        self.lengths[-1] = len(data)
        self.lengths -= self.starts


def _blocks(raw: bytes, size: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of whole lines, about ``size`` bytes each."""
    bounds = [0]
    while bounds[-1] < len(raw):
        stop = bounds[-1] + size
        if stop >= len(raw):
            bounds.append(len(raw))
            break
        ends = [end for end in (raw.find(b"\n", stop), raw.find(b"\r", stop)) if end >= 0]
        bounds.append(min(ends) + 1 if ends else len(raw))
    return list(pairwise(bounds))


def _read_bytes(raw: bytes, sep: int) -> EncodedBaskets | None:
    """The baskets of ``raw``, a block of :data:`_BLOCK_BYTES` at a time, so that the memory
    it takes beyond the file and the result is a few blocks' worth; ``None`` when the text path
    must read it (labels too long to pad, or two labels sharing a hash)."""
    data = np.frombuffer(raw, dtype=np.uint8)
    blocks = _blocks(raw, _BLOCK_BYTES)
    if any(stop - start >= 2**31 - 1 for start, stop in blocks):
        return None  # a line of 2 GiB: positions in a block are 32-bit
    width = 0  # the longest item, so that every block pads its items alike
    for start, stop in blocks:
        lengths = _Tokens(data[start:stop], sep).lengths
        width = max(width, int(lengths.max()) if len(lengths) else 0)
        del lengths
    words = max(1, -(-width // 8))
    # Each block: its items coded by the labels met so far, and its lines' token and item counts.
    labels = _Labels(words)
    codes: list[NDArray[np.int32]] = []
    tokens_per_line: list[NDArray[np.int64]] = []
    items_per_line: list[NDArray[np.int64]] = []
    for start, stop in blocks:
        tokens = _Tokens(data[start:stop], sep)
        is_item = tokens.lengths > 0
        tokens_per_line.append(np.bincount(tokens.line, minlength=tokens.n_lines))
        items_per_line.append(np.bincount(tokens.line[is_item], minlength=tokens.n_lines))
        begins, lengths = tokens.starts[is_item], tokens.lengths[is_item]
        del tokens, is_item
        if len(begins) * words * 8 > _PADDED_BYTES_LIMIT:
            return None
        padded = _padded(data[start:stop], begins, lengths, words * 8).view(np.uint64)
        if sys.byteorder == "little":  # first byte most significant: keys compare as bytes do
            padded.byteswap(inplace=True)
        coded = labels.code(padded, lengths)
        if coded is None:
            return None  # two labels share a hash: leave it to the text path
        codes.append(coded)
        del padded, begins, lengths
    code_of, items = labels.in_order()
    # A line of one empty token is blank (no basket); each block's baskets in turn.
    per_line = np.concatenate(tokens_per_line) if tokens_per_line else np.zeros(0, np.int64)
    with_items = np.concatenate(items_per_line) if items_per_line else np.zeros(0, np.int64)
    is_basket = (per_line > 1) | (with_items > 0)
    del per_line
    n_baskets = int(is_basket.sum())
    indptr = np.zeros(n_baskets + 1, dtype=np.int64)
    flat = np.empty(int(with_items.sum()), dtype=np.int32)  # repeats dropped: fewer
    line = basket = 0
    for block in range(len(codes)):
        n_lines = len(items_per_line[block])
        lines = slice(line, line + n_lines)
        line += n_lines
        rows = np.repeat(
            np.cumsum(is_basket[lines]) - 1, with_items[lines]
        )  # the block's baskets, from 0
        found = from_codes(rows, code_of[codes[block]], int(is_basket[lines].sum()), items)
        codes[block] = np.zeros(0, dtype=np.int32)  # freed as we go
        done = int(indptr[basket])
        flat[done : done + len(found.indices)] = found.indices
        indptr[basket + 1 : basket + len(found) + 1] = found.indptr[1:] + done
        basket += len(found)
    return EncodedBaskets(indptr, flat[: indptr[-1]], items)


class _Labels:
    """The distinct labels met so far, each with a provisional code (in the order they were
    met), found by the hash of its padded words (for labels of one word, the words themselves).

    ``known`` holds the hashes ascending and ``ids`` their codes; ``keys[c]`` and ``sizes[c]``
    are label ``c``'s words and length. A block's items are looked up among the known labels
    (a binary search), and only the ones not met yet are sorted: a file repeats its labels."""

    def __init__(self, words: int) -> None:
        self.words = words
        self.known = np.zeros(0, dtype=np.uint64)
        self.ids = np.zeros(0, dtype=np.int32)
        self.keys = np.zeros((0, words), dtype=np.uint64)
        self.sizes = np.zeros(0, dtype=np.int32)
        self.n = 0

    def code(self, padded: NDArray[np.uint64], lengths: NDArray) -> NDArray[np.int32] | None:
        """The codes of the items ``padded`` (their words, a row each), new labels added;
        ``None`` when two different labels share a hash."""
        hashed = padded[:, 0].copy()
        for word in range(1, self.words):
            hashed *= _MIX
            hashed ^= padded[:, word]
        codes = np.empty(len(hashed), dtype=np.int32)
        where = np.searchsorted(self.known, hashed)
        np.minimum(where, max(len(self.known) - 1, 0), out=where)
        hit = self.known[where] == hashed if len(self.known) else np.zeros(len(hashed), bool)
        codes[hit] = self.ids[where[hit]]
        miss = np.flatnonzero(~hit)
        del where, hit
        if len(miss):
            new, first, inverse = np.unique(hashed[miss], return_index=True, return_inverse=True)
            new_ids = np.arange(self.n, self.n + len(new), dtype=np.int32)
            codes[miss] = new_ids[inverse]
            self._grow(padded[miss[first]], lengths[miss[first]])
            at = np.searchsorted(self.known, new)
            self.known = np.insert(self.known, at, new)
            self.ids = np.insert(self.ids, at, new_ids)
        if self.words > 1 and not np.array_equal(self.keys[codes], padded):
            return None
        return codes

    def _grow(self, keys: NDArray[np.uint64], sizes: NDArray) -> None:
        if self.n + len(keys) > len(self.sizes):  # double the room: a few copies in all
            room = max(2 * len(self.sizes), self.n + len(keys), 1024)
            grown = np.zeros((room, self.words), dtype=np.uint64)
            grown[: self.n] = self.keys[: self.n]
            self.keys = grown
            self.sizes = np.concatenate((self.sizes[: self.n], np.zeros(room - self.n, np.int32)))
        self.keys[self.n : self.n + len(keys)] = keys
        self.sizes[self.n : self.n + len(keys)] = sizes
        self.n += len(keys)

    def in_order(self) -> tuple[NDArray[np.int32], list[str]]:
        """For each provisional code the final one, labels in byte order (Python's order of
        strings), and the labels decoded."""
        keys, sizes = self.keys[: self.n], self.sizes[: self.n]
        # One word: the hashes are the keys, ascending already; else sort the keys.
        order = self.ids if self.words == 1 else np.lexsort(keys.T[::-1]).astype(np.int32)
        code_of = np.empty(self.n, dtype=np.int32)
        code_of[order] = np.arange(self.n, dtype=np.int32)
        step = 8 * self.words
        blob = keys[order].astype(">u8").tobytes()
        items = [
            blob[at : at + size].decode("utf-8")
            for at, size in zip(range(0, step * self.n, step), sizes[order].tolist(), strict=True)
        ]
        return code_of, items


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
