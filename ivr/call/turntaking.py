"""The caller's side of the floor: when an utterance starts and ends, and when to guess early.

A pure state machine around :class:`~ivr.vad.Endpointer`: fed one 20 ms frame (and whether it is
speech) at a time, it keeps the utterance audio (with a little pre-roll), asks for a speculative
transcription at a short pause, and, given that transcript, decides with
:class:`~ivr.call.endofturn.EndOfTurnPolicy` to end the turn at once, to wait the usual silence
or to hold on longer for a fragment. It returns what the session should do; it never touches a
socket, a model or a clock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np

from ivr.audio import FRAME_MS
from ivr.call.endofturn import EndOfTurnPolicy, Verdict
from ivr.call.items import Heard
from ivr.dialog import Hangup, Listen, Transfer
from ivr.vad import EndpointConfig, Endpointer, EndpointEvent

FRAME_S = FRAME_MS / 1000
PREROLL_S = 0.3


class Act(Enum):
    STARTED = "started"
    """The caller started talking (maybe over us)."""
    NOISE = "noise"
    """What started was too short to be words, or came while we took no answer (then
    ``audio`` holds it)."""
    TRANSCRIBE = "transcribe"
    """Run ASR on ``audio`` as speculation ``seq``; ``ended``: the turn is already over."""
    ENDED = "ended"
    """The turn is over by silence; its transcript is still being computed."""
    COMMIT = "commit"
    """The turn is over and ``heard`` is what the caller said (empty text: it was noise);
    ``audio`` is the utterance, kept in case the turn must be taken back."""
    HOLD = "hold"
    """The words so far are a fragment: the wait for the end of turn was lengthened."""


@dataclass(frozen=True, slots=True)
class Action:
    act: Act
    seq: int = 0
    audio: np.ndarray | None = None
    ended: bool = False
    heard: Heard | None = None
    early: bool = False
    """COMMIT before the full end-of-turn silence (the words sounded complete)."""


@dataclass
class TakeBack:
    """What is needed to undo a committed speech turn (``Services.take_back_s``): when it was
    committed, its audio (the caller's next words continue it), the Listen it answered, the
    engine's snapshot from before it, and the reply's decision, held until the turn can no
    longer be taken back."""

    at: float
    audio: np.ndarray
    listen: Listen
    snapshot: Any = None
    deferred: Transfer | Hangup | None = None
    timings: int = 0
    """How many turn timings the call record held at the commit (the reply's is the next)."""


@dataclass(slots=True)
class _Speculation:
    seq: int
    ended: bool
    audio: np.ndarray
    result: Heard | None = None
    ended_at: float = 0.0


class TurnTaker:
    """``may_speculate``: asked at each pause whether a speculative decode may start now (the
    server answers no while the ASR is saturated: under load a guess would only queue behind
    other calls' decodes and push them back, so the turn falls back to one decode at its end).
    None: always."""

    def __init__(self, config: EndpointConfig | None = None,
                 policy: EndOfTurnPolicy | None = None,
                 may_speculate: Callable[[], bool] | None = None) -> None:
        self.endpointer = Endpointer(config)
        self.policy = policy or EndOfTurnPolicy()
        self._may_speculate = may_speculate
        self.speculated = 0
        """Speculative decodes asked for (figures for benchmarks)."""
        self.skipped = 0
        """Pauses where ``may_speculate`` said no."""
        self._preroll: deque[np.ndarray] = deque(maxlen=int(PREROLL_S / FRAME_S))
        self._utterance: list[np.ndarray] = []
        self._spec: _Speculation | None = None
        self._seq = 0
        self._prefix: np.ndarray | None = None  # a taken-back turn the next utterance continues
        self._t = 0.0
        self._held: tuple[Heard, float] | None = None  # a fragment's words, and until when

    @property
    def in_speech(self) -> bool:
        return self.endpointer.in_speech

    @property
    def pending(self) -> bool:
        """A transcription of the caller's words is outstanding, or a fragment is held."""
        return self._spec is not None or self._held is not None

    def feed(self, frame: np.ndarray, speech: bool, accepting: bool) -> Action | None:
        """One frame. ``accepting``: the bot takes speech as an answer now (a speech Listen,
        and not talking over a prompt that may not be interrupted)."""
        self._t += FRAME_S
        if self._held is not None and self._t >= self._held[1] - 1e-9:
            heard, self._held = self._held[0], None
            return self._commit(heard, early=False)
        if self.endpointer.in_speech:
            self._utterance.append(frame)
            if speech and self._spec is not None and not self._spec.ended:
                self._spec = None  # the caller went on talking: that guess is stale
        else:
            self._preroll.append(frame)
        ep = self.endpointer.feed(FRAME_S, speech)
        if ep is None:
            return None
        if ep.event is EndpointEvent.SPEECH_STARTED:
            self._utterance = list(self._preroll)
            self._preroll.clear()
            self._held = None  # the fragment goes on: the new words continue it
            spec = self._spec
            if spec is not None and spec.ended and spec.result is None:
                # The silence ran out but the caller went on before we had their words: it
                # was a pause, not the end. The new words continue the old ones.
                self._prefix, self._spec = spec.audio, None
            return Action(Act.STARTED)
        if ep.event is EndpointEvent.SPEECH_DISCARDED:
            self._utterance, self._spec = [], None
            return Action(Act.NOISE)
        usable = accepting and bool(self._utterance)
        if ep.event is EndpointEvent.SPEECH_PAUSED:
            if usable and self._spec is None:
                if self._may_speculate is not None and not self._may_speculate():
                    self.skipped += 1
                    return None
                self.speculated += 1
                return self._transcribe(self._joined(), ended=False)
            return None
        # SPEECH_ENDED
        audio = self._joined() if self._utterance else None
        self._utterance = []
        if not usable or audio is None:
            self._spec = None
            return Action(Act.NOISE, audio=audio)
        spec = self._spec
        if spec is None:
            return self._transcribe(audio, ended=True)
        spec.ended = True  # the speculative transcript of the same audio stands
        spec.ended_at = self._t
        if spec.result is not None:
            return self._commit(spec.result, early=False)
        return Action(Act.ENDED)

    def heard(self, heard: Heard, expect_digits: int = 1) -> Action | None:
        """ASR finished speculation ``heard.seq``. ``expect_digits``: the Listen's
        ``dtmf_max_digits``."""
        spec = self._spec
        if spec is None or spec.seq != heard.seq:
            return None  # stale: the caller kept talking, or the turn already moved on
        spec.result = heard
        if spec.ended:
            # The silence ran out while this decode was running: if it is a fragment, hold on
            # (as the endpointer would have) and let new words continue it.
            if (heard.text and self.policy.lengthen
                    and self.policy.judge(heard.text, expect_digits, heard.complete)
                    is Verdict.HOLD):
                spoke_until = spec.ended_at - self.endpointer.config.end_silence_s
                until = spoke_until + max(self.policy.hold_s,
                                          self.endpointer.config.end_silence_s)
                if until > self._t:
                    self._held = (heard, until)
                    self._prefix, self._spec = spec.audio, None
                    return Action(Act.HOLD)
            return self._commit(heard, early=False)
        if not heard.text:
            return None  # noise so far; the silence decides
        verdict = self.policy.judge(heard.text, expect_digits, heard.complete)
        if verdict is Verdict.END and self.endpointer.end_now() is not None:
            self._utterance = []
            return self._commit(heard, early=True)
        if verdict is Verdict.HOLD:
            self.endpointer.hold(max(self.policy.hold_s, self.endpointer.config.end_silence_s))
            return Action(Act.HOLD)
        self.endpointer.hold(None)
        return None

    def wanted(self, seq: int) -> bool:
        """Is decode ``seq`` still of use? Read by the worker before it starts the decode (a
        guess whose caller went on talking, or a turn that moved on, is skipped instead of
        taking a core from live decodes). Safe from another thread: one attribute read; a
        stale answer only costs the decode it would have saved."""
        spec = self._spec
        return spec is not None and spec.seq == seq

    def prepend(self, audio: np.ndarray) -> None:
        """The caller went on after a turn we had ended: the utterance now being spoken
        continues ``audio``, and is transcribed with it as one turn."""
        self._prefix = audio

    def late(self, audio: np.ndarray) -> Action:
        """Transcribe an utterance that ended while the bot took no answer (it was still
        working out its reply): it answers the Listen that has just arrived."""
        return self._transcribe(audio, ended=True)

    def cancel(self) -> None:
        """The turn moved on without the caller's words (keys, timeout): forget the guess."""
        self._spec = None
        self._prefix = None
        self._held = None

    def _transcribe(self, audio: np.ndarray, ended: bool) -> Action:
        self._seq += 1
        self._spec = _Speculation(self._seq, ended, audio, ended_at=self._t)
        return Action(Act.TRANSCRIBE, seq=self._seq, audio=audio, ended=ended)

    def _joined(self) -> np.ndarray:
        parts = ([self._prefix] if self._prefix is not None else []) + self._utterance
        return np.concatenate(parts)

    def _commit(self, heard: Heard, early: bool) -> Action:
        audio = self._spec.audio if self._spec is not None else None
        self._spec = None
        self._prefix = None
        return Action(Act.COMMIT, heard=heard, early=early, audio=audio)
