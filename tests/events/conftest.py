"""A real uvicorn server on a free loopback port, serving the app against the test database.

The TestClient runs the app in the test's own thread and buffers; the live stream is tested the
way a client meets it: over a socket, with httpx reading the response as it arrives.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from patron.config import Settings
from patron.db.engine import Database
from patron.security import service as security
from patron.security.permissions import Principal, Role
from patron.security.schemas import ApiKeyCreate, UserCreate


@dataclass
class Frame:
    """One dispatched SSE event (a comment line is a frame with ``comment`` set)."""

    id: str | None = None
    event: str = "message"
    data: str = ""
    comment: str | None = None


@dataclass
class LiveApp:
    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread
    settings: Settings

    @property
    def hub(self) -> Any:
        return self.app.state.event_hub

    def stop(self, timeout: float = 15.0) -> float:
        """Shut the server down as uvicorn does on SIGTERM; returns the seconds it took."""
        started = time.monotonic()
        self.server.should_exit = True
        self.thread.join(timeout=timeout)
        assert not self.thread.is_alive(), "the server did not stop"
        return time.monotonic() - started


@dataclass
class Servers:
    db: Database
    tmp_path: Path
    running: list[LiveApp] = field(default_factory=list)

    def start(self, **overrides: Any) -> LiveApp:
        from patron.web.app import create_app

        values: dict[str, Any] = {
            "data_dir": self.tmp_path / f"data-{len(self.running)}",
            "database_url": self.db.url,
            "secret_key": SecretStr("stream-" + secrets.token_hex(8)),
            "worker_in_process": False,
            "stream_heartbeat_seconds": 0.5,
            "stream_poll_seconds": 0.2,
            **overrides,
        }
        settings = Settings(**values)
        app = create_app(settings, database=Database(self.db.url))
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="warning", access_log=False, timeout_graceful_shutdown=3
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [listener]}, name="uvicorn", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            assert time.monotonic() < deadline, "the server did not start in time"
            time.sleep(0.02)
        live = LiveApp(f"http://127.0.0.1:{port}", app, server, thread, settings)
        self.running.append(live)
        return live

    def stop_all(self) -> None:
        for live in self.running:
            if live.thread.is_alive():
                live.stop()
            live.app.state.db.dispose()


@pytest.fixture
def servers(db: Database, tmp_path: Path) -> Iterator[Servers]:
    started = Servers(db, tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


def api_key(db: Database, role: Role = Role.ADMIN) -> str:
    with db.unit_of_work() as session:
        user = security.create_user(
            session,
            Principal.system(),
            UserCreate(email=f"{role.value}-{secrets.token_hex(4)}@example.com", role=role),
        )
        _, key = security.api_keys.issue(
            session, Principal.system(), ApiKeyCreate(name="stream", user_id=user.id)
        )
    return key


def read_frames(
    response: httpx.Response,
    *,
    stop: Callable[[list[Frame]], bool],
    cut_after_bytes: int | None = None,
) -> list[Frame]:
    """Frames as an EventSource dispatches them: only events ended by a blank line count.

    With ``cut_after_bytes`` the reader stops after that many bytes, even mid-frame, as a
    dropped connection would.
    """
    frames: list[Frame] = []
    buffer = ""
    received = 0
    for chunk in response.iter_text():
        if cut_after_bytes is not None and received + len(chunk) > cut_after_bytes:
            chunk = chunk[: cut_after_bytes - received]
            buffer += chunk
            _complete(buffer, frames)
            return frames
        received += len(chunk)
        buffer += chunk
        buffer = _complete(buffer, frames)
        if stop(frames):
            return frames
    return frames


def _complete(buffer: str, frames: list[Frame]) -> str:
    """Parse the complete frames in ``buffer`` into ``frames``; return the incomplete rest."""
    *blocks, rest = buffer.replace("\r\n", "\n").split("\n\n")
    for block in blocks:
        current = Frame()
        data: list[str] = []
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "":
                current.comment = value
            elif name == "id":
                current.id = value
            elif name == "event":
                current.event = value
            elif name == "data":
                data.append(value)
        current.data = "\n".join(data)
        if data or current.comment is not None or current.id is not None:
            frames.append(current)
    return rest
