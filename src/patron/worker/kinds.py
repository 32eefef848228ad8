"""Every job kind and the function that runs it, registered in one visible place."""

from __future__ import annotations


def register_all() -> None:
    from patron.insights import service as insights
    from patron.integration import imports
    from patron.worker import queue

    queue.register(insights.JOB_KIND, insights.run_job)
    queue.register(imports.JOB_KIND, imports.run_job)
