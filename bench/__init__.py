"""Benchmarks against peer libraries: ``python -m bench [name ...]`` runs every ``bench_*.py``.

Each module exposes ``run() -> dict`` with a ``title``, ``columns`` (the row keys to print, in
order), ``rows`` (dicts) and optional ``notes``; ``bench.__main__`` prints them as Markdown tables,
ready for ``docs/benchmarks.md``.
"""
