"""Every job kind and the function that runs it, registered in one visible place."""

from __future__ import annotations


def register_all() -> None:
    from patron.events import jobs as events
    from patron.insights import service as insights
    from patron.worker import queue

    queue.register(insights.JOB_KIND, insights.run_job)
    queue.register(events.JOB_KIND, events.run_job)
    queue.register_recurring(events.JOB_KIND, every=events.EVERY)
