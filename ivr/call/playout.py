"""Our audio on the caller's line: what was sent, what Twilio has played, what a barge-in cut.

Twilio plays the media we send in order and echoes a ``mark`` when the audio before it has played
(at once, for every mark still queued, after a ``clear``). Each sentence we send is one
:class:`Segment` followed by its own mark, so at a barge-in we know which sentence was cut and
which were never heard. After the cut we *hold* (sentences still arriving from the synthesiser
are kept, not sent) until the session knows whether the interruption was words: then
:meth:`Playout.drop` forgets the prompt, or :meth:`Playout.resume` hands back the cut sentence and
everything after it to send again. Pure state: the session does the sending.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ivr.audio import PHONE_RATE, ulaw_to_pcm16

FRAME = PHONE_RATE // 50  # 20 ms


ECHO_BEFORE_S = 0.3
"""How much later than our estimate Twilio may be playing a frame (its buffer, the network, the
echo path): the echo level at a moment is the loudest of our frames in this window."""
ECHO_AFTER_S = 0.1


@dataclass(frozen=True, slots=True, eq=False)
class Segment:
    mark: str
    ulaw: bytes
    barge_in: bool
    text: str
    levels: np.ndarray
    """RMS (linear PCM16) of each 20 ms frame: what an echo of it is measured against."""
    start: float = 0.0
    """Stream time we expect the caller to start hearing it."""

    @property
    def duration(self) -> float:
        return len(self.ulaw) / PHONE_RATE


def frame_levels(ulaw: bytes) -> np.ndarray:
    pcm = ulaw_to_pcm16(ulaw).astype(np.float32)
    n = pcm.size // FRAME
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    return np.sqrt(np.mean(pcm[: n * FRAME].reshape(n, FRAME) ** 2, axis=1))


def speech_level(ulaw: bytes) -> float:
    """Loudness of a prompt's speech: the 90th percentile of its frame RMS."""
    levels = frame_levels(ulaw)
    return float(np.percentile(levels, 90)) if levels.size else 0.0


class Playout:
    def __init__(self) -> None:
        self._seq = 0
        self._queued: list[Segment] = []  # sent, mark not yet echoed
        self._cut: list[Segment] = []  # cleared by a barge-in, not (fully) heard
        self._held: list[Segment] = []  # arrived after the cut, not sent
        self.holding = False

    # ------------------------------------------------------------------ sending
    def add(self, ulaw: bytes, barge_in: bool, text: str, now: float = 0.0) -> Segment | None:
        """A sentence to play, arriving at stream time ``now``. Returns the segment to send now
        (media, then its mark), or None while a barge-in holds the prompt."""
        seg = self._segment(ulaw, barge_in, text, frame_levels(ulaw), now)
        if self.holding:
            self._held.append(seg)
            return None
        self._queued.append(seg)
        return seg

    def played(self, mark: str) -> bool:
        """Twilio echoed ``mark``; True when nothing of ours is left to play."""
        self._queued = [s for s in self._queued if s.mark != mark]
        return not self._queued

    @property
    def playing(self) -> bool:
        return bool(self._queued)

    @property
    def interruptible(self) -> bool:
        """Every sentence still queued may be talked over (legal notices may not)."""
        return bool(self._queued) and all(s.barge_in for s in self._queued)

    def echo_level(self, now: float) -> float:
        """How loud our audio around stream time ``now`` is (0 when nothing plays): an echo of
        it on the line is some dB below this."""
        level = 0.0
        lo, hi = now - ECHO_BEFORE_S, now + ECHO_AFTER_S
        for s in self._queued:
            if s.start > hi or s.start + s.duration < lo or not s.levels.size:
                continue
            a = max(0, int((lo - s.start) / 0.02))
            b = min(s.levels.size, int((hi - s.start) / 0.02) + 1)
            if b > a:
                level = max(level, float(s.levels[a:b].max()))
        return level

    # ------------------------------------------------------------------ barge-in
    def cut(self) -> bool:
        """The caller barged in: the session sends ``clear``. Returns False if there was nothing
        interruptible playing (then nothing is cleared)."""
        if not self.interruptible:
            return False
        self._cut, self._queued = self._queued, []
        self.holding = True
        return True

    def resume(self, now: float = 0.0) -> list[Segment]:
        """The interruption was not words: the cut sentence and the rest, with fresh marks."""
        again = [self._segment(s.ulaw, s.barge_in, s.text, s.levels, now)
                 for s in self._cut + self._held]
        self._cut, self._held, self.holding = [], [], False
        self._queued.extend(again)
        return again

    def drop(self) -> None:
        """The caller really answered: what was cut or held is never played."""
        self._cut, self._held, self.holding = [], [], False

    def clear_all(self) -> None:
        self._queued = []
        self.drop()

    def _segment(self, ulaw: bytes, barge_in: bool, text: str, levels: np.ndarray,
                 now: float) -> Segment:
        """Segments play back to back: one starts when the one before it ends, or now."""
        self._seq += 1
        start = max([now] + [q.start + q.duration for q in self._queued])
        return Segment(f"say-{self._seq}", ulaw, barge_in, text, levels, start)
