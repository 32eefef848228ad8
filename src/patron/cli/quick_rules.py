"""``patron analyze itemsets | rules --baskets FILE ... --output OUT.csv`` without Typer, numpy
or pandas: the fast path for the common case, a basket-lines file to a CSV.

Starting Python with Typer and numpy costs more than mining a file the size of Groceries, so
:func:`patron.cli.main.main` hands these command lines to :func:`run` first. It takes only a
command line it fully understands and can carry out here (every option known and valid, a file
it can read, a CSV to write, the compiled kernel built); for anything else (``--help``, a long
file, another output format, a bad value, a missing file) it returns ``None`` and the Typer
command runs, which has the only word on errors and help. What it prints and writes is what the
Typer command prints and writes: the tests compare them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

_VALUES = {
    "--baskets": "baskets",
    "--format": "format",
    "--sep": "sep",
    "--min-support": "min_support",
    "--min-confidence": "min_confidence",
    "--min-lift": "min_lift",
    "--max-len": "max_len",
    "--output": "output",
    "-o": "output",
}
_RULES_ONLY = ("min_confidence", "min_lift")


def _parse(command: str, args: list[str]) -> dict[str, str | bool] | None:
    """The options as Click would take them, or ``None`` for anything this path leaves to Typer."""
    options: dict[str, str | bool] = {}
    position = 0
    while position < len(args):
        arg = args[position]
        position += 1
        if arg == "--json":
            options["json"] = True
            continue
        name, equals, value = arg.partition("=")
        if not name.startswith("--"):
            name, equals, value = (arg, "", "") if arg == "-o" else ("", "", "")
        key = _VALUES.get(name)
        if key is None or (command == "itemsets" and key in _RULES_ONLY) or key in options:
            return None
        if not equals:
            if position == len(args):
                return None
            value = args[position]
            position += 1
        options[key] = value
    return options


def _number(text: str, kind: type, low: float | None, high: float | None) -> Any:
    value = kind(text)  # ValueError: left to Typer, which says what is wrong
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(text)
    return value


def run(command: str, args: list[str]) -> int | None:
    """Carry out ``patron analyze COMMAND ARGS`` and return the exit code, or ``None`` when the
    Typer command must run it instead."""
    options = _parse(command, args)
    if options is None or "baskets" not in options or "min_support" not in options:
        return None
    if "output" not in options or options.get("format", "lines") != "lines":
        return None
    try:
        from patron.analytics import _fim
    except ImportError:
        return None
    from patron.analytics._rule_params import min_support_count, parse_min_support

    try:
        support = parse_min_support(str(options["min_support"]))
        max_len = _number(str(options["max_len"]), int, 1, None) if "max_len" in options else None
        min_confidence = _number(str(options.get("min_confidence", "0")), float, 0.0, 1.0)
        min_lift = (
            _number(str(options["min_lift"]), float, 0.0, None) if "min_lift" in options else None
        )
    except ValueError:
        return None
    output, baskets_path = Path(str(options["output"])), Path(str(options["baskets"]))
    if output.suffix.lower() != ".csv" or not output.parent.is_dir():
        return None
    started = time.perf_counter()
    from patron.analytics import _plain

    thresholds = (min_confidence, min_lift) if command == "rules" else None
    with _steps() as step:
        with step("Reading baskets"):
            try:
                baskets = _plain.read_lines(baskets_path, str(options.get("sep", ",")), _fim)
            except (OSError, ValueError):  # not found, not UTF-8, a bad separator: Typer says so
                return None
        if len(baskets) == 0:
            return None
        min_count = min_support_count(support, len(baskets))
        with step("Mining frequent itemsets"):
            mined = _plain.mine_file(_fim, baskets, min_count, max_len, thresholds)
        with step(f"Writing {output.name}"):
            try:
                mined.write_csv(output, thresholds is not None)
            except OSError:
                return None
    n_baskets, n_items, n_itemsets = len(baskets), len(baskets.labels), len(mined.codes)
    n_rules = len(mined.antecedents) if thresholds is not None else None
    top = mined.metrics(slice(0, min(10, n_rules or 0)))
    strongest = [
        (
            mined.items_of(mined.antecedents[j]),
            mined.items_of(mined.consequents[j]),
            top[2][j],
            top[3][j],
            top[4][j],
        )
        for j in range(min(10, n_rules or 0))
    ]
    del baskets, mined  # freed before Rich is loaded to print: a lower peak
    summary: dict[str, Any] = {
        "command": command,
        "baskets": n_baskets,
        "items": n_items,
        "min_support": support,
        "min_count": min_count,
        "max_len": max_len,
        "itemsets": n_itemsets,
    }
    if thresholds is not None:
        summary |= {"min_confidence": min_confidence, "min_lift": min_lift, "rules": n_rules}
    summary |= {"output": str(output), "seconds": round(time.perf_counter() - started, 3)}
    if options.get("json"):
        sys.stdout.write(json.dumps(summary, default=str, indent=None) + "\n")
        sys.stdout.flush()
        return 0
    from rich.console import Console

    from patron.cli import rules_report

    stdout = Console()
    line = rules_report.summary_line(
        n_baskets, n_items, support, min_count, n_itemsets, n_rules, str(output)
    )
    stdout.print(line, highlight=False)
    if strongest:
        stdout.print(rules_report.rule_table(strongest))
    return 0


@contextmanager
def _steps() -> Iterator[Callable[[str], AbstractContextManager[Any]]]:
    """``step(description)``: a spinner for each step on a terminal, as the Typer command shows;
    elsewhere nothing, and Rich is not even loaded."""
    if not sys.stderr.isatty():
        yield lambda description: nullcontext()
        return
    from rich.console import Console

    from patron.cli import rules_report

    with rules_report.progress_bars(Console(stderr=True)) as progress:
        yield lambda description: rules_report.step(progress, description)
