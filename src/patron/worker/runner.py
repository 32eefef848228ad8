"""The worker: claims jobs and runs them, each in its own units of work.

``patron worker`` runs one in the foreground; ``patron serve`` starts one in a thread when the
database is SQLite, so a newcomer sees background work happen without a second process. Each
round also enqueues the recurring jobs that are due (``kinds.scheduled``: event pruning, scheduled
backups).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import TYPE_CHECKING

from patron.db.engine import Database
from patron.kit.clock import utcnow
from patron.worker import queue

if TYPE_CHECKING:
    from patron.config import Settings

logger = logging.getLogger("patron.worker")
SCHEDULE_CHECK_SECONDS = 30.0


class Worker:
    def __init__(
        self,
        database: Database,
        *,
        poll_seconds: float | None = None,
        settings: Settings | None = None,
    ) -> None:
        """With ``settings``, the worker also delivers webhooks (see ``webhooks_dispatcher``)."""
        from patron.integration.webhooks_dispatcher import WebhookDispatcher
        from patron.worker import kinds

        kinds.register_all()
        self.database = database
        self.settings = settings
        self.poll_seconds = poll_seconds or (settings.worker_poll_seconds if settings else 1.0)
        self.webhooks = WebhookDispatcher(database, settings) if settings else None
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._stop = threading.Event()
        self._scheduled = kinds.scheduled(settings)
        self._next_schedule_check = 0.0

    def enqueue_scheduled(self) -> None:
        """Enqueue the recurring jobs that are due; checked every ``SCHEDULE_CHECK_SECONDS``.

        Each check is its own transaction under the schedule lock, so workers checking at once
        enqueue a job once, and one failing check (logged) neither stops the others nor the
        jobs this round claims.
        """
        if time.monotonic() < self._next_schedule_check:
            return
        self._next_schedule_check = time.monotonic() + SCHEDULE_CHECK_SECONDS
        for enqueue_if_due in self._scheduled:
            try:
                with self.database.unit_of_work() as session:
                    queue.lock_schedule(session)
                    enqueue_if_due(session, utcnow())
            except Exception:
                logger.exception("checking a recurring job failed")

    def run_once(self) -> bool:
        """Claim and run one job; False when the queue had nothing ready."""
        self.enqueue_scheduled()
        with self.database.unit_of_work() as session:
            job = queue.claim(session, self.worker_id)
            if job is None:
                return False
            job_id, kind, payload = job.id, job.kind, dict(job.payload)
        handler = queue.handler_for(kind)

        def report(progress: float, message: str | None = None) -> None:
            with self.database.unit_of_work() as progress_session:
                queue.set_progress(progress_session, job_id, progress, message)

        error: str | None = None
        retryable = False
        if handler is None:
            error = f"No handler for job kind {kind!r}."
        else:
            try:
                handler(
                    queue.JobContext(
                        job_id=job_id,
                        database=self.database,
                        report=report,
                        settings=self.settings,
                    ),
                    payload,
                )
            except queue.RetryableError as exc:
                error, retryable = str(exc) or type(exc).__name__, True
            except Exception as exc:
                logger.exception("job %s (%s) failed", job_id, kind)
                error = f"{type(exc).__name__}: {exc}"
        with self.database.unit_of_work() as session:
            from patron.worker.models import Job

            job = session.get(Job, job_id)
            if job is None:
                return True
            if error is None:
                queue.succeed(session, job)
            else:
                queue.fail(session, job, error, retryable=retryable)
        return True

    def run_until_idle(self, limit: int = 1000) -> int:
        done = 0
        while done < limit and self.run_once():
            done += 1
        return done

    def run_webhooks_once(self) -> bool:
        """Dispatch new events to webhook deliveries and send the due ones."""
        return self.webhooks.run_once() if self.webhooks is not None else False

    def run_forever(self) -> None:
        while not self._stop.is_set():
            busy = False
            for step in (self.run_once, self.run_webhooks_once):
                try:
                    busy = step() or busy
                except Exception:
                    logger.exception("worker loop error")
            if not busy:
                self._stop.wait(self.poll_seconds)
        if self.webhooks is not None:
            self.webhooks.close()

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run_forever, name="patron-worker", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()
