"""Our side of the line: sends the segments :class:`~ivr.call.playout.Playout` hands out (media
in 1 s messages, then the segment's mark), ``clear`` at a barge-in, and holds a Silero VAD from
the pool while an interruptible prompt plays (only then does barge-in need it).

The decisions (what to send, what was cut, what resumes) stay in Playout and BargeIn; this is the
socket-writing half, run on the socket thread only. Every segment sent and every ``clear`` is told
to the :class:`~ivr.call.echo.EchoCanceller`, which needs to know what plays when.
"""

from __future__ import annotations

import numpy as np

from ivr import wire
from ivr.audio import PHONE_RATE
from ivr.call.closing import Closing
from ivr.call.echo import EchoCanceller
from ivr.call.playout import Playout, Segment
from ivr.call.services import WebSocketLike
from ivr.vad import NeuralVad, NeuralVadPool

SEND_CHUNK = PHONE_RATE  # bytes of mu-law per outbound media message (1 s)


class Outbound:
    def __init__(self, ws: WebSocketLike, playout: Playout, closing: Closing,
                 neural_pool: NeuralVadPool | None, echo: EchoCanceller) -> None:
        self.ws = ws
        self._echo = echo
        self.stream_sid = ""
        self._playout = playout
        self._closing = closing
        self._pool = neural_pool
        self._neural: NeuralVad | None = None

    def send(self, seg: Segment) -> None:
        data = seg.ulaw
        for i in range(0, len(data), SEND_CHUNK):
            self.ws.send(wire.media_message(self.stream_sid, data[i : i + SEND_CHUNK]))
        self.ws.send(wire.mark_message(self.stream_sid, seg.mark))
        self._closing.sent(len(data) / PHONE_RATE)
        self._echo.play(seg.start, data)
        if self._neural is None and self._pool is not None and seg.barge_in:
            self._neural = self._pool.acquire()

    def speech_prob(self, frame: np.ndarray) -> float | None:
        """Silero's speech probability for an inbound frame (None: no neural VAD held)."""
        return self._neural.feed(frame) if self._neural is not None else None

    def release_neural(self) -> None:
        if self._neural is not None and self._pool is not None:
            self._pool.release(self._neural)
        self._neural = None

    def clear(self, clock: float) -> None:
        """Twilio drops everything queued and echoes its marks."""
        self.ws.send(wire.clear_message(self.stream_sid))
        self._echo.stop(clock)
        self.release_neural()

    def cut(self, clock: float) -> bool:
        """A barge-in: stop our audio now, hold the rest. False if nothing interruptible played."""
        if not self._playout.cut():
            return False
        self.ws.send(wire.clear_message(self.stream_sid))
        self._echo.stop(clock)
        self._closing.stopped()
        self.release_neural()
        return True

    def resume(self, clock: float) -> list[Segment]:
        """Replay from the cut sentence; returns what was sent again."""
        again = self._playout.resume(clock)
        for seg in again:
            self.send(seg)
        return again
