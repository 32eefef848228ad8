"""Association rules: Patron against mlxtend (one-hot and sparse input) and pyfim, side by side.

Data: Groceries (arules; 9,835 baskets, 169 items) and a generated retail-shaped set (90,000
baskets, 16,000 items with Zipf-like popularity, about 10 items a basket, planted co-purchases;
:func:`retail_baskets`), both as basket-line files. For each data set and support every peer runs
in a fresh child process, one after the other, so that each peak resident memory is its own and
all see the same machine load:

* **Patron**, the library call: ``read_basket_lines`` + ``AssociationRuleMiner.fit`` (reading
  the file, mining, deriving every rule with its seven metrics into a DataFrame); and **Patron
  fit**, ``fit`` alone on the baskets read ahead (encoded, as mlxtend's one-hot table is built
  ahead): the like-for-like figure against mlxtend;
* **mlxtend** ``fpgrowth`` + ``association_rules`` fed the usual boolean one-hot DataFrame
  (``pd.DataFrame(te_ary, columns=te.columns_)`` as mlxtend's documentation builds it from
  ``TransactionEncoder``'s array; pandas 3 copies the array into column-major storage), the same
  array wrapped without a copy (row-major: ``fpgrowth`` reads rows, and is several times faster
  on it; the stricter comparison), and a sparse one (``pd.DataFrame.sparse.from_spmatrix``,
  bool); building those inputs from the file is not timed (holding them is in their peak
  memory: it is what using mlxtend takes);
* **pyfim** (Borgelt's C library): reading the file into lists in Python + ``fim.fpgrowth(...,
  target="r", mode="o")``, ``mode="o"`` counting a rule's support as mlxtend does (body and head).

Every row is checked before it is reported: mlxtend must find the same numbers of itemsets and
rules as Patron; pyfim the same number of itemsets and, as it only makes rules with a single item
as consequent, as many rules as Patron has with one consequent.

The whole process: ``patron analyze rules --baskets FILE --format lines --min-support S --output
OUT.csv`` against a small Python script doing the same with pyfim (read, mine, write the same CSV
columns; :data:`PYFIM_SCRIPT`), both timed from start to exit.

Time is, for a library call, the best of at least :data:`REPEAT` runs, more while they are quick
(until :data:`MIN_SECONDS` are spent, at most :data:`MAX_RUNS` runs), fewer when one run takes
longer than :data:`LONG_RUN` seconds; for a whole process, the best of :data:`REPEAT` runs. Memory
is the peak resident set size of the process (interpreter and libraries included), measured alike
for every side: for a library call, the peak while it runs, counted from when its input is ready
(Linux ``clear_refs`` then ``VmHWM``: mlxtend's one-hot table counts, building it does not;
Patron's reading of the file counts); for a whole process, its peak (``ru_maxrss``), which for
mlxtend (:data:`MLXTEND_SCRIPT`, run once) includes building the one-hot frame from the file as its
documentation does, for Patron (:data:`PATRON_SCRIPT`) reading the file.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPEAT = 3
LONG_RUN = 10.0
MIN_SECONDS = 1.0
MAX_RUNS = 50
SUPPORTS = (0.01, 0.005, 0.002, 0.001)
PEERS = ("patron", "patron-fit", "mlxtend", "mlxtend-row-major", "mlxtend-sparse", "pyfim")

TARGETS = {"one-hot": 40.0, "sparse": 8.0, "pyfim": 2.0, "process": 3.0, "memory": 10.0}
"""At least 40 and 8 times faster than mlxtend (one-hot, sparse), at most 2 times pyfim's time
(library) and 3 times the pyfim script's (process), a tenth of mlxtend's (one-hot) memory."""

PYFIM_SCRIPT = '''\
"""Association rules with pyfim: read basket lines, mine, write the CSV Patron writes."""
import csv, json, math, sys
import fim

path, sep, support, output = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
with open(path, encoding="utf-8", newline="") as handle:
    baskets = [[i for i in t.split(sep) if i] for t in (x.rstrip("\\r\\n") for x in handle) if t]
n = len(baskets)
count = max(1, math.ceil(support * n))
while count > 1 and (count - 1) / n >= support:
    count -= 1
while count / n < support:
    count += 1
rules = fim.fpgrowth(baskets, target="r", supp=-count, conf=0, zmin=2, report="abhc", mode="o")
with open(output, "w", encoding="utf-8", newline="") as out:
    writer = csv.writer(out, lineterminator="\\n")
    writer.writerow(["antecedents", "consequents", "antecedent_support", "consequent_support",
                     "support", "confidence", "lift", "leverage", "conviction"])
    for head, body, both, body_count, head_count, confidence in rules:
        sa, sc, s = body_count / n, head_count / n, both / n
        conviction = (1 - sc) / (1 - confidence) if confidence < 1 else math.inf
        writer.writerow([json.dumps(sorted(body)), json.dumps([head]), sa, sc, s, confidence,
                         confidence / sc, s - sa * sc, conviction])
'''


MLXTEND_SCRIPT = '''\
"""Association rules with mlxtend, the usual way: lists, TransactionEncoder, a one-hot frame."""
import sys
import pandas as pd
from mlxtend.frequent_patterns import association_rules, fpgrowth
from mlxtend.preprocessing import TransactionEncoder

path, sep, support = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(path, encoding="utf-8", newline="") as handle:
    baskets = [[i for i in t.split(sep) if i] for t in (x.rstrip("\\r\\n") for x in handle) if t]
encoder = TransactionEncoder().fit(baskets)
frame = pd.DataFrame(encoder.transform(baskets), columns=encoder.columns_)
del baskets
itemsets = fpgrowth(frame, min_support=support, use_colnames=True)
rules = association_rules(itemsets, num_itemsets=len(frame), metric="confidence", min_threshold=0)
print(len(itemsets), len(rules))
'''

PATRON_SCRIPT = '''\
"""Association rules with Patron's library: read the basket file, fit."""
import sys
from pathlib import Path
from patron.analytics._io import read_basket_lines
from patron.analytics.rules import AssociationRuleMiner

path, sep, support = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
miner = AssociationRuleMiner(min_support=support).fit(read_basket_lines(path, sep))
print(len(miner.itemsets_), len(miner.rules_))
'''
"""The whole process, from the file to the rules, for the peak memory as a user's process has
it: mlxtend's includes building its one-hot table the way its documentation does."""


# --- data --------------------------------------------------------------------------------------


def groceries_path() -> Path | None:
    """``groceries.csv`` under ``$PATRON_DATASETS`` or ``../shared/datasets`` (never copied)."""
    root = os.environ.get("PATRON_DATASETS")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "datasets"
    path = base / "groceries" / "groceries.csv"
    return path if path.exists() else None


def retail_baskets(
    n_baskets: int = 90_000,
    n_items: int = 16_000,
    mean_size: float = 10.0,
    n_patterns: int = 300,
    seed: int = 0,
) -> list[list[str]]:
    """Baskets shaped like a retail store's (the FIMI ``retail`` data: 88,162 baskets, 16,470
    items, 10.3 items a basket).

    * Item popularity is Zipf-like (exponent 1): the top item is in about half the baskets,
      most items in a handful. Item labels are numbers, shuffled, so popularity and label order
      are unrelated.
    * Basket sizes are 1 + negative binomial (shape 2), mean ``mean_size``: many small baskets,
      a long tail of big ones.
    * Co-purchases: ``n_patterns`` itemsets of 2 to 5 items of middling popularity (ranks 20 to
      3,000), of Zipf-like popularity themselves (exponent 0.8); 35% of the baskets carry one,
      each of its items kept with probability 0.8.

    Items repeated in a basket are kept once; the result is deterministic for a ``seed``.
    """
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1)
    popularity /= popularity.sum()
    labels = rng.permutation(n_items)
    sizes = rng.negative_binomial(2, 2 / (2 + mean_size - 1), n_baskets) + 1
    orders = [np.repeat(np.arange(n_baskets), sizes)]
    items = [rng.choice(n_items, size=int(sizes.sum()), p=popularity)]
    middling = np.arange(20, min(3_000, n_items))
    patterns = [
        rng.choice(middling, size=int(size), replace=False)
        for size in rng.integers(2, 6, n_patterns)
    ]
    weight = 1.0 / np.arange(1, n_patterns + 1) ** 0.8
    weight /= weight.sum()
    carriers = np.flatnonzero(rng.random(n_baskets) < 0.35)
    chosen = rng.choice(n_patterns, size=len(carriers), p=weight)
    for basket, pattern in zip(carriers.tolist(), chosen.tolist(), strict=True):
        kept = patterns[pattern][rng.random(len(patterns[pattern])) < 0.8]
        orders.append(np.full(len(kept), basket))
        items.append(kept)
    order = np.concatenate(orders)
    item = labels[np.concatenate(items)]
    # Keep each (basket, item) once, basket by basket, items in the order drawn.
    _, first = np.unique(order.astype(np.int64) * n_items + item, return_index=True)
    first.sort()
    first = first[np.argsort(order[first], kind="stable")]
    order, item = order[first], item[first]
    bounds = np.flatnonzero(np.diff(order)) + 1
    text = item.astype(str).tolist()
    starts = np.concatenate(([0], bounds)).tolist()
    stops = np.concatenate((bounds, [len(item)])).tolist()
    return [text[start:stop] for start, stop in zip(starts, stops, strict=True)]


def write_lines(baskets: list[list[str]], path: Path, sep: str = ",") -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.writelines(sep.join(basket) + "\n" for basket in baskets)


# --- the child processes -----------------------------------------------------------------------


def _python_lines(path: Path, sep: str) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return [[i for i in t.split(sep) if i] for t in (x.rstrip("\r\n") for x in handle) if t]


def _patron(
    path: Path, sep: str, support: float, from_file: bool
) -> tuple[Callable[[], Any], Callable[..., Any]]:
    from patron.analytics._io import read_basket_lines
    from patron.analytics.rules import AssociationRuleMiner

    if from_file:

        def job() -> Any:
            return AssociationRuleMiner(min_support=support).fit(read_basket_lines(path, sep))

    else:
        encoded = read_basket_lines(path, sep)  # encoded ahead, as mlxtend's one-hot table is

        def job() -> Any:
            return AssociationRuleMiner(min_support=support).fit(encoded)

    def counts(miner: Any) -> dict[str, int]:
        single = int((miner.rules_["consequents"].map(len) == 1).sum())
        return {"itemsets": len(miner.itemsets_), "rules": len(miner.rules_), "single": single}

    return job, counts


def _mlxtend(
    path: Path, sep: str, support: float, kind: str
) -> tuple[Callable[[], Any], Callable[..., Any]]:
    """mlxtend fed a one-hot frame made as its documentation makes it (``kind`` "usual":
    ``pd.DataFrame(te_ary, columns=te.columns_)``, which copies the array column by column in
    pandas 3, so that ``fpgrowth`` reads its rows across columns), the same array wrapped
    without a copy ("row-major", rows contiguous: several times faster for ``fpgrowth``), or a
    sparse frame ("sparse", ``pd.DataFrame.sparse.from_spmatrix``)."""
    import pandas as pd
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    from patron.analytics._io import read_basket_lines

    encoded = read_basket_lines(path, sep)  # the items, sorted, as TransactionEncoder has them
    shape = (len(encoded), encoded.n_items)
    if kind == "sparse":
        # Only here: mlxtend itself does not load scipy, and its 10 MiB would count against
        # mlxtend's one-hot peak.
        import scipy.sparse as sp

        ones = np.ones(len(encoded.indices), dtype=bool)
        matrix = sp.csr_matrix((ones, encoded.indices, encoded.indptr), shape=shape)
        frame = pd.DataFrame.sparse.from_spmatrix(matrix, columns=encoded.items)
    else:
        dense = np.zeros(shape, dtype=bool)
        rows = np.repeat(np.arange(shape[0]), np.diff(encoded.indptr))
        dense[rows, encoded.indices] = True  # TransactionEncoder's te_ary
        del rows
        frame = pd.DataFrame(dense, columns=encoded.items, copy=kind == "usual")
        del dense
    del encoded

    def job() -> Any:
        itemsets = fpgrowth(frame, min_support=support, use_colnames=True)
        rules = association_rules(
            itemsets, num_itemsets=len(frame), metric="confidence", min_threshold=0.0
        )
        return itemsets, rules

    def counts(found: Any) -> dict[str, int]:
        itemsets, rules = found
        return {"itemsets": len(itemsets), "rules": len(rules)}

    return job, counts


def _pyfim(path: Path, sep: str, support: float) -> tuple[Callable[[], Any], Callable[..., Any]]:
    import fim

    from patron.analytics._rule_params import min_support_count  # plain Python, no numpy

    def job() -> Any:
        baskets = _python_lines(path, sep)
        count = min_support_count(support, len(baskets))
        rules = fim.fpgrowth(
            baskets, target="r", supp=-count, conf=0, zmin=2, report="abhc", mode="o"
        )
        return baskets, count, rules

    def counts(found: Any) -> dict[str, int]:
        baskets, count, rules = found
        itemsets = fim.fpgrowth(baskets, target="s", supp=-count, report="a")
        return {"itemsets": len(itemsets), "single": len(rules)}

    return job, counts


def _rss_kib(field: str) -> int | None:
    """``VmRSS`` or ``VmHWM`` (the peak) of this process, in KiB, where Linux reports them."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak() -> None:
    """Start the peak resident size afresh (Linux 4.0 and later), so that building a peer's
    input (a one-hot table, say) does not count, the input itself still does."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
    except OSError:
        pass


def _child(peer: str, path: Path, sep: str, support: float) -> dict[str, Any]:
    import gc
    import resource

    if peer in ("patron", "patron-fit"):
        job, counts = _patron(path, sep, support, from_file=peer == "patron")
    elif peer.startswith("mlxtend"):
        job, counts = _mlxtend(path, sep, support, peer.partition("-")[2] or "usual")
    else:
        job, counts = _pyfim(path, sep, support)
    gc.collect()
    _reset_peak()
    ready = _rss_kib("VmRSS") or 0
    best, runs, found = math.inf, 0, None
    spent = 0.0
    # At least REPEAT runs, more while they are quick (up to MIN_SECONDS in all, MAX_RUNS runs):
    # a job of a few milliseconds is at the mercy of one page fault or one busy moment.
    while runs < REPEAT or (spent < MIN_SECONDS and runs < MAX_RUNS):
        found = None
        started = time.perf_counter()
        found = job()
        elapsed = time.perf_counter() - started
        best, runs, spent = min(best, elapsed), runs + 1, spent + elapsed
        if elapsed > LONG_RUN:
            break
    peak = _rss_kib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": best,
        "runs": runs,
        "rss_ready_mib": ready / 1024,
        "rss_mib": peak / 1024,
        **counts(found),
    }


def _in_child(peer: str, path: Path, sep: str, support: float) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", peer, str(path), sep, repr(support)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{peer} at {support} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


LAUNCHER = """\
import json, os, subprocess, sys, tempfile, time
with tempfile.TemporaryFile() as out:
    started = time.perf_counter()
    process = subprocess.Popen(sys.argv[1:], stdout=out)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    out.seek(0)
    printed = out.read().decode(errors="replace").strip().splitlines()[-1:]
print(json.dumps({"seconds": seconds, "code": os.waitstatus_to_exitcode(status),
                  "rss_kib": usage.ru_maxrss, "printed": "".join(printed)}))
"""
"""Runs a command and reports its wall time and peak resident size (Linux: KiB). A process's
peak counts its parent's size when forked, so the command is started from this small process,
not from the benchmark, which holds the data."""


def _process(command: list[str], output: Path | None, repeat: int = REPEAT) -> dict[str, Any]:
    """Best wall time of ``repeat`` runs of ``command``, the largest peak RSS, and the number of
    data lines it wrote to ``output`` (or the last line it printed)."""
    best, peak, printed = math.inf, 0, ""
    for _ in range(repeat):
        completed = subprocess.run(
            [sys.executable, "-c", LAUNCHER, *command],
            capture_output=True,
            text=True,
            check=False,
        )
        result = json.loads(completed.stdout.strip().splitlines()[-1]) if completed.stdout else {}
        if completed.returncode != 0 or result.get("code") != 0:
            raise RuntimeError(f"{command[0]} failed:\n{completed.stderr}")
        best = min(best, result["seconds"])
        peak = max(peak, result["rss_kib"])
        printed = result.get("printed", "")
    if output is None:
        return {"seconds": best, "rss_mib": peak / 1024, "printed": printed}
    with output.open(encoding="utf-8") as handle:
        lines = sum(1 for _ in handle) - 1
    return {"seconds": best, "rss_mib": peak / 1024, "lines": lines}


def _patron_command() -> list[str]:
    script = shutil.which("patron", path=str(Path(sys.executable).parent))
    if script:
        return [script]
    return [sys.executable, "-c", "import sys; from patron.cli.main import main; sys.exit(main())"]


# --- the comparison ----------------------------------------------------------------------------


def _row(label: str, path: Path, support: float, folder: Path) -> dict[str, Any]:
    found = {peer: _in_child(peer, path, ",", support) for peer in PEERS}
    ours = found["patron"]
    for peer in ("patron-fit", "mlxtend", "mlxtend-row-major", "mlxtend-sparse"):
        theirs = (found[peer]["itemsets"], found[peer]["rules"])
        if theirs != (ours["itemsets"], ours["rules"]):
            raise AssertionError(f"{label} at {support}: Patron {ours}, {peer} {found[peer]}")
    if (found["pyfim"]["itemsets"], found["pyfim"]["single"]) != (ours["itemsets"], ours["single"]):
        raise AssertionError(f"{label} at {support}: Patron {ours}, pyfim {found['pyfim']}")

    script = folder / "pyfim_rules.py"
    script.write_text(PYFIM_SCRIPT, encoding="utf-8")
    cli_out, script_out = folder / "patron.csv", folder / "pyfim.csv"
    cli = _process(
        [*_patron_command(), "analyze", "rules", "--baskets", str(path), "--format", "lines",
         "--min-support", repr(support), "--output", str(cli_out)],
        cli_out,
    )  # fmt: skip
    scripted = _process(
        [sys.executable, str(script), str(path), ",", repr(support), str(script_out)], script_out
    )
    if (cli["lines"], scripted["lines"]) != (ours["rules"], ours["single"]):
        raise AssertionError(f"{label} at {support}: CSV rows {cli['lines']}, {scripted['lines']}")

    # The whole process, file to rules, once each: peak memory as a user's process has it.
    whole = {}
    for name, text in (("mlxtend", MLXTEND_SCRIPT), ("patron", PATRON_SCRIPT)):
        (folder / f"{name}_rules.py").write_text(text, encoding="utf-8")
        whole[name] = _process(
            [sys.executable, str(folder / f"{name}_rules.py"), str(path), ",", repr(support)],
            None,
            repeat=1,
        )
        counted = tuple(int(n) for n in whole[name]["printed"].split())
        if counted != (ours["itemsets"], ours["rules"]):
            raise AssertionError(f"{label} at {support}: {name} process found {counted}")

    seconds = {peer: found[peer]["seconds"] for peer in PEERS}
    return {
        "data": label,
        "min support": f"{support:g}",
        "itemsets": ours["itemsets"],
        "rules": ours["rules"],
        "rules, 1 consequent": ours["single"],
        "Patron ms": 1000 * seconds["patron"],
        "Patron fit ms": 1000 * seconds["patron-fit"],
        "mlxtend one-hot ms": 1000 * seconds["mlxtend"],
        "mlxtend row-major ms": 1000 * seconds["mlxtend-row-major"],
        "mlxtend sparse ms": 1000 * seconds["mlxtend-sparse"],
        "pyfim ms": 1000 * seconds["pyfim"],
        "vs one-hot": seconds["mlxtend"] / seconds["patron-fit"],
        "vs sparse": seconds["mlxtend-sparse"] / seconds["patron-fit"],
        "vs row-major": seconds["mlxtend-row-major"] / seconds["patron-fit"],
        "vs one-hot, from file": seconds["mlxtend"] / seconds["patron"],
        "vs sparse, from file": seconds["mlxtend-sparse"] / seconds["patron"],
        "Patron / pyfim": seconds["patron"] / seconds["pyfim"],
        "CLI ms": 1000 * cli["seconds"],
        "pyfim script ms": 1000 * scripted["seconds"],
        "CLI / script": cli["seconds"] / scripted["seconds"],
        "Patron MiB": ours["rss_mib"],
        "mlxtend one-hot MiB": found["mlxtend"]["rss_mib"],
        "mlxtend sparse MiB": found["mlxtend-sparse"]["rss_mib"],
        "pyfim MiB": found["pyfim"]["rss_mib"],
        "memory ratio": found["mlxtend"]["rss_mib"] / ours["rss_mib"],
        "CLI MiB": cli["rss_mib"],
        "script MiB": scripted["rss_mib"],
        "mlxtend process MiB": whole["mlxtend"]["rss_mib"],
        "Patron process MiB": whole["patron"]["rss_mib"],
        "process memory ratio": whole["mlxtend"]["rss_mib"] / whole["patron"]["rss_mib"],
        "CLI memory ratio": whole["mlxtend"]["rss_mib"] / cli["rss_mib"],
        "mlxtend process s": whole["mlxtend"]["seconds"],
        "runs": "/".join(str(found[peer]["runs"]) for peer in PEERS),
        "ready MiB": "/".join(f"{found[peer]['rss_ready_mib']:.0f}" for peer in PEERS),
        "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan,
    }


def _met(rows: list[dict[str, Any]]) -> list[str]:
    checks = [
        ("vs one-hot", "≥", TARGETS["one-hot"], "faster than mlxtend one-hot"),
        ("vs sparse", "≥", TARGETS["sparse"], "faster than mlxtend sparse"),
        ("vs row-major", "≥", TARGETS["one-hot"], "faster than mlxtend on a row-major frame"),
        ("vs one-hot, from file", "≥", TARGETS["one-hot"], "same, Patron reading the file"),
        ("vs sparse, from file", "≥", TARGETS["sparse"], "same, Patron reading the file"),
        ("Patron / pyfim", "≤", TARGETS["pyfim"], "library call against pyfim"),
        ("CLI / script", "≤", TARGETS["process"], "whole process against the pyfim script"),
        ("memory ratio", "≥", TARGETS["memory"], "mlxtend one-hot peak memory over Patron's"),
        ("process memory ratio", "≥", TARGETS["memory"], "same, whole processes, file to rules"),
        ("CLI memory ratio", "≥", TARGETS["memory"], "same, mlxtend's process over the CLI's"),
    ]
    notes = []
    for column, sense, target, meaning in checks:
        values = [row[column] for row in rows]
        ok = [v >= target if sense == "≥" else v <= target for v in values]
        notes.append(
            f"{meaning} ({column} {sense} {target:g}): met in {sum(ok)} of {len(ok)} rows "
            f"(from {min(values):.2f} to {max(values):.2f})."
        )
    return notes


def run() -> dict[str, Any]:
    from importlib.metadata import version

    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="patron-bench-rules-") as name:
        folder = Path(name)
        path = groceries_path()
        if path is None:
            notes.append("Groceries skipped: set PATRON_DATASETS to the shared datasets folder.")
        else:
            rows += [_row("Groceries", path, support, folder) for support in SUPPORTS]
        retail = folder / "retail.csv"
        baskets = retail_baskets()
        write_lines(baskets, retail)
        sizes = [len(basket) for basket in baskets]
        n_items = len({item for basket in baskets for item in basket})
        label = "retail-shaped"
        del baskets
        rows += [_row(label, retail, support, folder) for support in SUPPORTS]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    notes += [
        f"retail-shaped: {len(sizes):,} baskets, {n_items:,} distinct items, "
        f"{np.mean(sizes):.2f} items a basket (median {np.median(sizes):.0f}, max {max(sizes)}).",
        f"Peers: mlxtend {version('mlxtend')}, pyfim {version('pyfim')}, pandas "
        f"{version('pandas')}, numpy {version('numpy')}.",
        *_met(rows),
        f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1, 5, 15 min).",
    ]
    return {
        "title": "Association rules: Patron vs mlxtend (one-hot, sparse) and pyfim",
        "columns": [
            "data",
            "min support",
            "itemsets",
            "rules",
            "rules, 1 consequent",
            "Patron ms",
            "Patron fit ms",
            "mlxtend one-hot ms",
            "mlxtend row-major ms",
            "mlxtend sparse ms",
            "pyfim ms",
            "vs one-hot",
            "vs sparse",
            "vs row-major",
            "vs one-hot, from file",
            "vs sparse, from file",
            "Patron / pyfim",
            "CLI ms",
            "pyfim script ms",
            "CLI / script",
            "Patron MiB",
            "mlxtend one-hot MiB",
            "mlxtend sparse MiB",
            "pyfim MiB",
            "memory ratio",
            "CLI MiB",
            "script MiB",
            "mlxtend process MiB",
            "Patron process MiB",
            "process memory ratio",
            "CLI memory ratio",
            "mlxtend process s",
            "load",
        ],
        "rows": rows,
        "notes": notes,
    }


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        outcome = _child(sys.argv[2], Path(sys.argv[3]), sys.argv[4], float(sys.argv[5]))
        print(json.dumps(outcome))
    else:
        print(json.dumps(run(), indent=1, default=str))
