"""The live stream: Server-Sent Events over the event log, woken by commits.

Each app process has one ``Hub``. A live stream reads the log in short read-only units of work
(never holding a connection while it waits) and then waits on the hub until either

- the hub wakes it: on PostgreSQL a listener thread per process holds one connection with
  ``LISTEN patron_events`` and wakes every stream of the process on each notification (writers
  send ``NOTIFY`` inside their transaction, so it arrives on commit, from any process);
- the poll interval passes (SQLite has no notifications; on PostgreSQL this is a safety net); or
- a heartbeat is due: a comment line keeps proxies from closing an idle connection and lets the
  server notice a client that went away.

A stream ends when the client disconnects, when the hub closes at application shutdown, or after
``PATRON_STREAM_MAX_SECONDS``, when the client reconnects and is authenticated again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import make_url

from patron.events.service import NOTIFY_CHANNEL

logger = logging.getLogger("patron.events.stream")

RETRY_MILLISECONDS = 2000
"""What a client waits before it reconnects (the SSE ``retry:`` field)."""


@dataclass(frozen=True)
class Item:
    """One event as the stream sends it: ``id:``, ``event:`` and ``data:``."""

    position: int
    type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Batch:
    """What one read found: the items to send, how far the log is pruned, and whether the read
    stopped at its limit (more may be waiting) at position ``reached`` (items may skip some)."""

    items: list[Item]
    pruned_through: int
    full: bool
    reached: int = 0


Reader = Callable[[int], Batch]
"""Reads the events after a position (in a thread, in its own unit of work)."""


@dataclass
class Hub:
    """Wakes this process's live streams; on PostgreSQL it listens for commits of any process."""

    database_url: str
    _waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closing: threading.Event = field(default_factory=threading.Event)
    _listener: threading.Thread | None = None
    listening: threading.Event = field(default_factory=threading.Event)

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    @property
    def uses_notifications(self) -> bool:
        return make_url(self.database_url).get_backend_name() == "postgresql"

    def subscribe(self) -> asyncio.Event:
        waker = asyncio.Event()
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), waker))
            if self.uses_notifications and self._listener is None and not self.closing:
                self._listener = threading.Thread(
                    target=self._listen, name="patron-event-listener", daemon=True
                )
                self._listener.start()
        return waker

    def unsubscribe(self, waker: asyncio.Event) -> None:
        with self._lock:
            self._waiters = {entry for entry in self._waiters if entry[1] is not waker}

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._waiters)

    def wake(self) -> None:
        """Safe from any thread: every stream of this process looks at the log again."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, waker in waiters:
            try:
                loop.call_soon_threadsafe(waker.set)
            except RuntimeError:  # that stream's loop has closed
                self.unsubscribe(waker)

    def close(self, timeout: float = 5.0) -> None:
        """End every stream and stop listening (application shutdown)."""
        self._closing.set()
        self.wake()
        listener = self._listener
        if listener is not None:
            listener.join(timeout=timeout)

    # ----- PostgreSQL ---------------------------------------------------------------------------
    def _conninfo(self) -> str:
        url = make_url(self.database_url).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)

    def _listen(self) -> None:
        import psycopg

        backoff = 0.5
        while not self.closing:
            try:
                with psycopg.connect(self._conninfo(), autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening.set()
                    backoff = 0.5
                    self.wake()  # whatever committed while nobody listened
                    while not self.closing:
                        for _ in conn.notifies(timeout=0.5):
                            self.wake()
            except Exception:
                self.listening.clear()
                if self.closing:
                    break
                logger.warning("event listener lost its connection; retrying", exc_info=True)
                self._closing.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self.listening.clear()


# ----- Server-Sent Events ---------------------------------------------------------------------
def frame(item: Item) -> str:
    data = json.dumps(item.data, separators=(",", ":"), ensure_ascii=False)
    return f"id: {item.position}\nevent: {item.type}\ndata: {data}\n\n"


def gap_frame(requested: int, resume_from: int, retention_hours: int) -> str:
    data = {"requested": requested, "resume_from": resume_from, "retention_hours": retention_hours}
    return frame(Item(position=resume_from, type="gap", data=data))


HEARTBEAT = ": heartbeat\n\n"


async def _run(function: Callable[..., Any], *args: Any) -> Any:
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)


async def event_stream(
    hub: Hub,
    read: Reader,
    *,
    start: int | Callable[[], int],
    heartbeat: float,
    poll: float,
    retention_hours: int,
    max_seconds: float = 3600.0,
) -> AsyncIterator[str]:
    """The SSE text of a stream from ``start`` (a position, or a function finding the newest).

    It ends after ``max_seconds``: the client reconnects and its credentials are checked again.
    """
    waker = hub.subscribe()
    ends_at = time.monotonic() + max_seconds
    try:
        yield f"retry: {RETRY_MILLISECONDS}\n\n"
        position = start if isinstance(start, int) else await _run(start)
        quiet_since = time.monotonic()
        while not hub.closing and time.monotonic() < ends_at:
            waker.clear()
            batch: Batch = await _run(read, position)
            if batch.pruned_through > position:
                yield gap_frame(position, batch.pruned_through, retention_hours)
                position = batch.pruned_through
                quiet_since = time.monotonic()
                continue
            for item in batch.items:
                yield frame(item)
                position = item.position
            position = max(position, batch.reached)
            if batch.items:
                quiet_since = time.monotonic()
            if batch.full:
                continue
            due = heartbeat - (time.monotonic() - quiet_since)
            if due <= 0:
                yield HEARTBEAT
                quiet_since = time.monotonic()
                continue
            with contextlib.suppress(TimeoutError):
                wait = min(poll, due, max(0.0, ends_at - time.monotonic()))
                await asyncio.wait_for(waker.wait(), timeout=wait)
    finally:
        hub.unsubscribe(waker)
