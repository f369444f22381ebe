"""The SIGTERM drain hooks of `ivr serve` with a stand-in gunicorn worker (the real-server drain
with a call in progress is in test_admission_drain_metrics_e2e.py)."""

from __future__ import annotations

import signal
import threading
from types import SimpleNamespace
from typing import Any

import pytest

from ivr import server
from ivr.admission import Admission


class LiveCall:
    """A call's socket: closing it ends the call, as the session does when its socket closes."""

    def __init__(self, admission: Admission) -> None:
        self.admission = admission
        self.closed_with: int | None = None
        admission.call_started(self)

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        self.closed_with = reason
        self.admission.call_ended(self)


def worker(admission: Admission) -> Any:
    return SimpleNamespace(alive=True, wsgi=SimpleNamespace(config={"IVR_ADMISSION": admission}))


@pytest.fixture(autouse=True)
def keep_sigterm() -> Any:
    saved = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, saved)


def test_sigterm_starts_a_drain_instead_of_stopping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "DRAIN_LINGER_S", 0.0)
    admission = Admission(4)
    call = LiveCall(admission)
    w = worker(admission)
    server._drain_on_sigterm(w, drain_s=30)
    handler = signal.getsignal(signal.SIGTERM)
    assert callable(handler)
    handler(signal.SIGTERM, None)
    assert admission.draining and w.alive  # still serving: /healthz says draining
    assert admission.admit() == "draining"
    admission.call_ended(call)  # the live call finishes normally
    drain = next(t for t in threading.enumerate() if t.name == "drain")
    drain.join(timeout=5)
    assert not w.alive and call.closed_with is None  # stopped after the call, not cutting it


def test_drain_time_up_closes_remaining_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "DRAIN_LINGER_S", 0.0)
    admission = Admission(4)
    calls = [LiveCall(admission), LiveCall(admission)]
    w = worker(admission)
    admission.begin_drain()
    server._drain(w, admission, drain_s=0.05)
    assert [c.closed_with for c in calls] == [1001, 1001]  # Twilio then asks the action URL
    assert admission.active == 0 and not w.alive


def test_gunicorn_waits_longer_than_the_drain() -> None:
    from pathlib import Path

    from ivr.config import Settings

    opts = server.ops_gunicorn_options(Settings(dialplan=Path("x.yaml"), drain_s=42.5))
    assert opts["graceful_timeout"] >= 52 and isinstance(opts["graceful_timeout"], int)
    assert "when_ready" not in opts  # no metrics port, no metrics server
    with_metrics = server.ops_gunicorn_options(Settings(dialplan=Path("x.yaml"), metrics_port=9))
    assert callable(with_metrics["when_ready"]) and callable(with_metrics["child_exit"])
