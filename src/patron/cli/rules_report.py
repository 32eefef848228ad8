"""What ``patron analyze itemsets | rules`` print, shared by the Typer command and the fast path
(:mod:`patron.cli.quick_rules`): the summary line, the strongest rules as a table, and the
progress spinners. Rich only: no Typer, no numpy."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table


def summary_line(
    n_baskets: int,
    n_items: int,
    support: float | int,
    min_count: int,
    n_itemsets: int,
    n_rules: int | None,
    output: str,
) -> str:
    from rich.markup import escape

    found = f"{n_itemsets:,} frequent itemsets"
    if n_rules is not None:
        found += f", {n_rules:,} rules"
    return (
        f"{n_baskets:,} baskets, {n_items:,} items, min support {support} "
        f"({min_count:,} baskets): {found} → {escape(output)}"
    )


def label(items: Iterable[Any]) -> str:
    from rich.markup import escape

    return escape(", ".join(sorted(str(item) for item in items)))


def rule_table(rows: Iterable[tuple[Any, Any, float, float, float]]) -> Table:
    """The strongest rules: (antecedents, consequents, support, confidence, lift) each."""
    from rich.table import Table

    table = Table(
        "antecedents",
        "consequents",
        "support",
        "confidence",
        "lift",
        title="Strongest rules (by lift)",
    )
    for antecedents, consequents, support, confidence, lift in rows:
        table.add_row(
            label(antecedents),
            label(consequents),
            f"{support:.4f}",
            f"{confidence:.3f}",
            f"{lift:.2f}",
        )
    return table


@contextmanager
def step(progress: Progress, description: str) -> Iterator[None]:
    task = progress.add_task(description, total=None)
    yield
    progress.update(task, total=1, completed=1)


def progress_bars(console: Console) -> Progress:
    """Transient spinners on ``console`` (standard error), shown only on a terminal."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # no bars in pipes, logs or tests
    )
