"""Live seat counts per agent group, fed by Twilio's ``<Dial>`` callbacks.

A seat is held per call with an expiry: claimed for the ring time when we send a ``<Dial>``,
extended when the agent answers, released when the leg completes. If a callback is lost the
seat frees itself when its expiry passes, so no group stays "full" forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol


class Occupancy(Protocol):
    """Shared seat counts. ``try_claim`` must be atomic across every server process."""

    def try_claim(self, group: str, call_sid: str, capacity: int | None, ttl_s: float) -> bool:
        """Take a seat for ``call_sid`` if one is free (``capacity`` None: unlimited)."""
        ...

    def hold(self, group: str, call_sid: str, ttl_s: float) -> None:
        """(Re)set ``call_sid``'s seat to expire ``ttl_s`` from now (answered: talk time)."""
        ...

    def release(self, group: str, call_sid: str) -> None: ...

    def busy(self, group: str) -> int:
        """Seats held right now (expired ones not counted)."""
        ...


class MemoryOccupancy:
    """One process's seat counts (tests, single-process servers, the benchmark's clock)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seats: dict[str, dict[str, float]] = {}

    def _live(self, group: str) -> dict[str, float]:
        now = self._clock()
        seats = self._seats.setdefault(group, {})
        for sid in [s for s, exp in seats.items() if exp <= now]:
            del seats[sid]
        return seats

    def try_claim(self, group: str, call_sid: str, capacity: int | None, ttl_s: float) -> bool:
        with self._lock:
            seats = self._live(group)
            if call_sid not in seats and capacity is not None and len(seats) >= capacity:
                return False
            seats[call_sid] = self._clock() + ttl_s
            return True

    def hold(self, group: str, call_sid: str, ttl_s: float) -> None:
        with self._lock:
            self._live(group)[call_sid] = self._clock() + ttl_s

    def release(self, group: str, call_sid: str) -> None:
        with self._lock:
            self._live(group).pop(call_sid, None)

    def busy(self, group: str) -> int:
        with self._lock:
            return len(self._live(group))
