"""Admission control and graceful drain for one server process.

A process takes at most ``max_calls`` live calls: beyond it every live call would get slower (the
models share the CPU), so a new call is better served by going straight to a person. A call
counts from the voice webhook (a short reservation, until its stream opens) to the end of its
WebSocket session. On SIGTERM the process drains: new calls are refused the same way, ``/healthz``
says ``draining`` (non-200) so a load balancer moves on, and the process waits for its live calls
to end (no polling: a condition variable wakes the waiter when the last call ends).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Literal, Protocol

log = logging.getLogger(__name__)

RESERVE_S = 15.0
"""How long a call admitted by the voice webhook holds its slot before its stream opens. Twilio
opens the stream within a second or two; a stream that went to another process (multi-process
deployments) must not hold this process's slot for long."""

Refusal = Literal["busy", "draining"]


class Closable(Protocol):
    def close(self, reason: int | None = None, message: str | None = None) -> None: ...


class Admission:
    """Thread-safe counts of this process's live calls, reservations and drain state."""

    def __init__(self, max_calls: int, reserve_s: float = RESERVE_S) -> None:
        self.max_calls = max_calls
        self._reserve_s = reserve_s
        self._cond = threading.Condition()
        self._reserved: deque[float] = deque()  # expiry times (monotonic), oldest first
        self._live: set[Closable] = set()
        self._draining = False
        self._last_end = float("-inf")  # monotonic time the latest call ended

    # -- the voice webhook
    def admit(self) -> Refusal | None:
        """Reserve a slot for a new call; None if admitted, else why it is refused."""
        with self._cond:
            if self._draining:
                return "draining"
            self._expire()
            if len(self._live) + len(self._reserved) >= self.max_calls:
                return "busy"
            self._reserved.append(time.monotonic() + self._reserve_s)
            return None

    # -- the media route
    def call_started(self, ws: Closable) -> None:
        """A stream opened: it takes the oldest reservation's place (or a new slot: a stream
        whose webhook reached another process is never refused here, its caller is talking)."""
        with self._cond:
            self._expire()
            if self._reserved:
                self._reserved.popleft()
            self._live.add(ws)

    def call_ended(self, ws: Closable) -> None:
        with self._cond:
            self._live.discard(ws)
            self._last_end = time.monotonic()
            if not self._live:
                self._cond.notify_all()

    # -- state
    @property
    def active(self) -> int:
        with self._cond:
            return len(self._live)

    @property
    def draining(self) -> bool:
        with self._cond:
            return self._draining

    def begin_drain(self) -> None:
        with self._cond:
            if not self._draining:
                log.warning("draining: no new calls; %d live call(s) may finish", len(self._live))
            self._draining = True
            self._reserved.clear()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no call is live (True) or ``timeout_s`` passed (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._live, timeout=timeout_s)

    def since_last_call_s(self) -> float:
        """Seconds since the latest call's stream ended (inf if none ever did)."""
        with self._cond:
            return time.monotonic() - self._last_end

    def close_all(self, message: str = "server shutting down") -> int:
        """Close every live call's stream (drain time is up): Twilio then requests the action
        URL, which with no decision sends the caller to the default group. Returns how many."""
        with self._cond:
            live = list(self._live)
        for ws in live:
            try:
                ws.close(reason=1001, message=message)
            except Exception:
                log.exception("could not close a live stream while draining")
        return len(live)

    def _expire(self) -> None:
        now = time.monotonic()
        while self._reserved and self._reserved[0] <= now:
            self._reserved.popleft()
