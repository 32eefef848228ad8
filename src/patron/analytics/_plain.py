"""From a basket file to a CSV of itemsets or rules without numpy: the command line's fast path.

``patron analyze rules --baskets FILE --output OUT.csv`` spends most of a small file's run
starting up; numpy and pandas alone take longer to import than Groceries takes to mine. Here the
file is read with ``str.split`` and one hash table over the labels, the compiled kernel
(:mod:`patron.analytics._fim`) mines, orders and derives the rules, exactly as the library does
(the tests compare the files byte for byte), and the CSV is written from Python lists.
Nothing here imports numpy; without the compiled kernel the caller takes the library's path.
"""

from __future__ import annotations

import json
import math
import os
from array import array
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

from patron.analytics._rule_params import RULE_METRICS

RULES_AT_ONCE = 1 << 10
"""Rules turned into text at a time when writing a file."""


def csv_field(text: str) -> str:
    """``text`` as Python's ``csv`` module writes a field (minimal quoting, ``"`` doubled)."""
    if any(mark in text for mark in (",", '"', "\r", "\n")):
        return '"' + text.replace('"', '""') + '"'
    return text


def write_rows(path: Path, header: Sequence[str], columns: list[list[str]]) -> None:
    """Columns of CSV fields (quoted already) as rows, a header first: one join per row, which
    is what ``csv.writer`` does, without its per-field checks."""
    write_parts(path, header, [columns])


def write_parts(path: Path, header: Sequence[str], parts: Iterable[list[list[str]]]) -> None:
    """As :func:`write_rows`, the rows coming as parts, each a list of columns: only one part's
    texts are held at a time."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(csv_field(name) for name in header) + os.linesep)
        for columns in parts:
            rows = map(",".join, zip(*columns, strict=True))
            while chunk := list(islice(rows, 1 << 16)):  # a few megabytes of text at a time
                handle.write(os.linesep.join(chunk) + os.linesep)


def float_texts(values: list[float]) -> list[str]:
    """``repr`` of each number, made once per distinct value (a rule table repeats its
    supports many times). The metrics are positive or, for leverage, any sign but never
    ``-0.0`` (a difference of equal numbers is ``+0.0``), and never NaN, so equal numbers have
    the same text."""
    distinct = dict.fromkeys(values)
    texts = dict(zip(distinct, map(repr, distinct), strict=True))
    return list(map(texts.__getitem__, values))


class PlainBaskets:
    """Baskets as compressed sparse rows of item codes (``array``s), labels sorted."""

    __slots__ = ("indices", "indptr", "labels")

    def __init__(self, indptr: array, indices: array, labels: list[str]) -> None:
        self.indptr = indptr
        self.indices = indices
        self.labels = labels

    def __len__(self) -> int:
        return len(self.indptr) - 1


def read_lines(path: Path, sep: str, kernel: Any) -> PlainBaskets:
    """A basket file as :func:`patron.analytics._io.read_basket_lines` reads it: lines end at
    ``\\n``, ``\\r`` or ``\\r\\n``; items are kept as written; empty items are dropped, blank
    lines skipped, a line of separators only is an empty basket; a repeat counts once."""
    if not sep:
        raise ValueError("the item separator must not be empty")
    if "\n" in sep or "\r" in sep:
        raise ValueError("the item separator cannot hold a line break")
    text = path.read_bytes().decode("utf-8")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    first: dict[str, int] = {}
    code = first.setdefault
    indices = array("i")
    indptr = array("q", [0])
    for line in text.split("\n"):
        if line:  # an empty line is one empty token: no basket
            indices.extend({code(item, len(first)) for item in line.split(sep) if item})
            indptr.append(len(indices))
    del text
    labels = list(first)
    order = sorted(range(len(labels)), key=labels.__getitem__)
    code_of = array("i", bytes(4 * len(labels)))
    for new, old in enumerate(order):
        code_of[old] = new
    kernel.remap(indices, code_of)
    return PlainBaskets(indptr, indices, [labels[old] for old in order])


class PlainMined:
    """What the kernel found, as Python lists: itemsets in output order (``codes[r]`` the item
    codes of row ``r``, ``counts[r]`` its baskets) and, when asked for, the rules (rows of the
    itemsets and the seven metrics, strongest first)."""

    def __init__(self, made: dict[str, Any], baskets: PlainBaskets, min_count: int) -> None:
        self.labels = baskets.labels
        self.n_baskets = len(baskets)
        self.min_count = min_count
        self.codes: list[tuple[int, ...]] = []
        for length, block in enumerate(made["codes"], start=1):
            flat = memoryview(block).cast("i").tolist()
            self.codes.extend(zip(*[iter(flat)] * length, strict=True))
        self.counts = [c for block in made["counts"] for c in memoryview(block).cast("q").tolist()]
        # The rules stay in the kernel's buffers (Python numbers take 3-4 times the room): the
        # rows of their two sides and their counts; the metrics are made and turned into text a
        # part at a time (seven columns of floats would take seven times the counts' room).
        self.antecedents = memoryview(made["antecedents"]).cast("q")
        self.consequents = memoryview(made["consequents"]).cast("q")
        self.rule_counts = memoryview(made["rule_counts"]).cast("q")

    def metrics(self, part: slice) -> list[list[float]]:
        """The seven metrics (``RULE_METRICS``) of the rules in ``part``, a list each, computed
        with the operations, in the order, the kernel and mlxtend use, so to the same bits."""
        total = float(self.n_baskets)
        counts = self.counts
        columns: list[list[float]] = [[] for _ in RULE_METRICS]
        add = [column.append for column in columns]
        for a, c, count in zip(
            self.antecedents[part].tolist(),
            self.consequents[part].tolist(),
            self.rule_counts[part].tolist(),
            strict=True,
        ):
            support_a, support_c, support = counts[a] / total, counts[c] / total, count / total
            confidence = (support * total) / (support_a * total)
            add[0](support_a)
            add[1](support_c)
            add[2](support)
            add[3](confidence)
            add[4](confidence / support_c)
            add[5](support - support_a * support_c)
            add[6]((1.0 - support_c) / (1.0 - confidence) if confidence < 1.0 else math.inf)
        return columns

    def items_of(self, row: int) -> list[str]:
        return [self.labels[code] for code in self.codes[row]]

    def texts(self) -> list[str]:
        """Each itemset as a CSV field holding the JSON array of its labels, sorted (the labels
        are sorted, so ascending codes are sorted labels)."""
        quoted: dict[int, str] = {}
        texts = []
        for codes in self.codes:
            for code in codes:
                if code not in quoted:
                    quoted[code] = json.dumps(self.labels[code], ensure_ascii=False)
            texts.append(csv_field("[" + ", ".join([quoted[code] for code in codes]) + "]"))
        return texts

    def write_csv(self, path: Path, rules: bool) -> None:
        """As :func:`patron.analytics._io.write_mined_csv` writes the library's tables."""
        texts = self.texts()
        if not rules:
            supports = [count / float(self.n_baskets) for count in self.counts]
            columns = [texts, float_texts(supports), list(map(str, self.counts))]
            write_rows(path, ["itemset", "support", "count"], columns)
            return
        write_parts(path, ["antecedents", "consequents", *RULE_METRICS], self._rule_parts(texts))

    def _rule_parts(self, texts: list[str]) -> Iterator[list[list[str]]]:
        for start in range(0, len(self.antecedents), RULES_AT_ONCE):
            part = slice(start, start + RULES_AT_ONCE)
            columns = [
                [texts[row] for row in self.antecedents[part].tolist()],
                [texts[row] for row in self.consequents[part].tolist()],
            ]
            columns += [float_texts(values) for values in self.metrics(part)]
            yield columns


def mine_file(
    kernel: Any,
    baskets: PlainBaskets,
    min_count: int,
    max_len: int | None,
    thresholds: tuple[float, float | None] | None,
) -> PlainMined:
    """Mine ``baskets`` with the compiled kernel: the itemsets and, given ``(min_confidence,
    min_lift)``, the rules."""
    min_confidence, min_lift = thresholds if thresholds is not None else (0.0, None)
    made = kernel.mine_rules(
        baskets.indptr,
        baskets.indices,
        len(baskets.labels),
        min_count,
        max_len or 0,
        thresholds is not None,
        min_confidence,
        -1.0 if min_lift is None else min_lift,
        False,  # each rule's count, not its seven metrics: see PlainMined.metrics
    )
    return PlainMined(made, baskets, min_count)
