"""Run the benchmarks: ``python -m bench`` (all) or ``python -m bench rules`` (names containing
"rules"). Prints the machine, then one Markdown table per benchmark."""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
import sys
from typing import Any

import bench


def machine() -> str:
    """CPU model, cores and memory, Python and numpy versions."""
    import numpy as np

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return (
        f"{model}, {os.cpu_count()} cores{memory}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def markdown(result: dict[str, Any]) -> str:
    columns: list[str] = result["columns"]
    lines = [f"### {result['title']}", ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(columns))) + "|")
    for row in result["rows"]:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    notes = result.get("notes", [])
    if notes:
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    wanted = argv[1:]
    names = sorted(
        module.name
        for module in pkgutil.iter_modules(bench.__path__)
        if module.name.startswith("bench_")
        and (not wanted or any(w in module.name for w in wanted))
    )
    if not names:
        print(f"no benchmark matches {wanted}", file=sys.stderr)
        return 2
    print(f"Machine: {machine()}\n")
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"running {name} …", file=sys.stderr, flush=True)
        print(markdown(module.run()) + "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
