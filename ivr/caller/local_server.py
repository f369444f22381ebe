"""Start a real `ivr serve` process on loopback, for `ivr demo`, the tests and the benchmarks.

The server runs exactly as in production (gunicorn, signatures checked with a fresh random auth
token, real models); only the address is local.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

from twilio.request_validator import RequestValidator


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


class LocalServer:
    """``with LocalServer(dialplan) as srv: play_call(fixture, srv.url, srv.token)``."""

    def __init__(self, dialplan: str | Path, extra_args: list[str] | None = None,
                 workdir: Path | None = None, port: int = 0, env: dict[str, str] | None = None,
                 log_to_console: bool = False) -> None:
        self.token = secrets.token_hex(16)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="ivr-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.workdir / "server.log"
        full_env = dict(os.environ, TWILIO_AUTH_TOKEN=self.token, IVR_PUBLIC_URL=self.url)
        full_env.setdefault("IVR_PROMPT_CACHE", str(self.workdir / "cache"))
        full_env.setdefault("IVR_DB_URL", f"sqlite:///{self.workdir / 'calls.db'}")
        # A test or benchmark server measures calls, not a background speech build beside them.
        full_env.setdefault("IVR_NOISED", "cached")
        full_env.update(env or {})
        self._log = None if log_to_console else self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ivr", "serve", "--dialplan", str(dialplan),
             "--host", "127.0.0.1", "--port", str(self.port), *(extra_args or [])],
            env=full_env, stdout=self._log, stderr=subprocess.STDOUT if self._log else None,
        )

    def start(self, timeout_s: float = 240) -> LocalServer:
        if not wait_healthy(self.url, self.proc, timeout_s):
            self.stop()
            raise RuntimeError("ivr serve did not start:\n" + self.output())
        return self

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return ""

    def get_record(self, call_sid: str) -> dict[str, object]:
        """The server's record of a call (GET /calls/<sid>, signed like Twilio would)."""
        url = f"{self.url}/calls/{call_sid}"
        sig = RequestValidator(self.token).compute_signature(url, {})
        req = urllib.request.Request(url, headers={"X-Twilio-Signature": sig})
        with urllib.request.urlopen(req, timeout=5) as resp:
            data: dict[str, object] = json.load(resp)
            return data

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
