"""Where a turn's time went: from the end of the caller's turn to our first audio frame.

The end of a turn is known on the socket thread in stream time (the last voiced frame, the
moment the turn-taker decided), the rest in wall time (ASR and engine work on the pool). This
keeps the few fields that measure it together, so the session only says what happened.
"""

from __future__ import annotations

import time

from ivr.call.items import Timing
from ivr.store import CallRecord


class TurnTimer:
    def __init__(self) -> None:
        self.started: float | None = None  # wall time the caller's turn ended
        self.wait_ms: float | None = None  # end-of-turn wait of the turn in flight
        self.last_voiced_at = 0.0  # stream time of the last frame the VAD called speech
        self.pending: Timing | None = None

    def voiced(self, clock: float) -> None:
        self.last_voiced_at = clock

    def start(self) -> None:
        """The caller's input is in (a key, a final decode started): the reply clock runs."""
        self.started = time.perf_counter()

    def ended(self, clock: float) -> None:
        """The turn-taker ended the turn at stream time ``clock``."""
        self.started = time.perf_counter()
        self.wait_ms = (clock - self.last_voiced_at) * 1000

    def commit(self, clock: float) -> None:
        """The words are in: the turn ends now unless it already ended (awaiting ASR)."""
        if self.started is None:
            self.ended(clock)

    def cancel(self) -> None:
        """The caller went on: there is no reply to time yet."""
        self.started = None

    @staticmethod
    def taken_back(record: CallRecord | None, booked: int) -> None:
        """The turn committed when ``record`` had ``booked`` timings was taken back: if its
        reply had started (its timing was booked), mark it, so the record's timings still
        pair one to one with the caller's finished turns."""
        if record is not None and len(record.timings) > booked:
            record.timings[booked]["taken_back"] = 1.0

    def first_audio(self, record: CallRecord | None) -> None:
        """Our first audio frame of the reply is going out: book the turn's latency."""
        if self.started is None:
            return
        elapsed = (time.perf_counter() - self.started) * 1000
        self.started = None
        if record is not None:
            record.latency_ms.append(round(elapsed, 1))
            t = self.pending
            if t is not None:
                timing = {"turn_ms": round(elapsed, 1), "asr_ms": round(t.asr_ms, 1),
                          "nlu_ms": round(t.nlu_ms, 1)}
                if self.wait_ms is not None:
                    # stream time from the caller's last voiced frame to our decision
                    timing["wait_ms"] = round(self.wait_ms, 1)
                record.timings.append(timing)
        self.wait_ms = None
