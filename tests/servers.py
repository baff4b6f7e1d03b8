"""Real servers for the tests: uvicorn in a thread, and waiting for a ``conflict-ie serve`` process."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from typing import Any

import httpx
import uvicorn

from inference.results import Entity


class ServerThread:
    """uvicorn serving an app in a background thread, on a port the OS picked."""

    def __init__(self, app: Any) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.socket.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(process: subprocess.Popen, port: int, seconds: float, poll: float) -> None:
    """Until ``/health`` answers 200; fails with the server's output if it dies or times out."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "server did not come up"
        time.sleep(poll)


class Echo:
    """A stand-in extractor: one CASUALTY_COUNT entity per text, no model."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def extract(self, texts: list[str]) -> list[list[Entity]]:
        time.sleep(self.delay)
        return [[Entity("CASUALTY_COUNT", 0, 1, t[:1], 0.9)] for t in texts]
