"""The speech half of a call: what the session does with the turn-taker's verdicts.

:class:`~ivr.call.turntaking.TurnTaker` decides (pure: frames and booleans in, an
:class:`~ivr.call.turntaking.Action` out); this mixin carries each action out on the socket thread:
start a (speculative) decode, commit the words to the engine, resume a prompt a noise cut, keep
speech said while we think for the next Listen, or take a committed turn back when the caller
goes on. It shares the call's dialogue state with :class:`~ivr.call.session.CallSession`
(generation, Listen, busy), which is why it is a mixin and not an object of its own.
"""

from __future__ import annotations

import logging

import numpy as np

from ivr.call import work
from ivr.call.items import Heard
from ivr.call.jobs import CallJobs
from ivr.call.outbound import Outbound
from ivr.call.playout import Playout
from ivr.call.services import Services
from ivr.call.timing import TurnTimer
from ivr.call.turntaking import Act, Action, TakeBack, TurnTaker
from ivr.dialog import CallDialog, CallerInput, DialogFactory, Directive, Listen
from ivr.store import CallRecord
from ivr.transcript import Speaker, TurnKind

log = logging.getLogger("ivr.call.session")  # one logger for the call's socket thread


class SpeechTurns:
    sv: Services
    _call_sid: str
    _clock: float
    _gen: int
    _busy: bool
    _listen: Listen | None
    _listen_since: float
    _dialog: CallDialog | None
    _factory: DialogFactory | None
    _turns: TurnTaker
    _timer: TurnTimer
    _playout: Playout
    _out: Outbound
    _jobs: CallJobs
    _early_speech: np.ndarray | None
    _take_back: TakeBack | None
    record: CallRecord | None

    def _resume(self, why: str) -> None:
        raise NotImplementedError

    def _next_turn(self) -> None:
        raise NotImplementedError

    def _record_turn(self, speaker: Speaker, text: str, kind: TurnKind) -> None:
        raise NotImplementedError

    def _may_barge_in(self) -> bool:
        if self._listen is not None:
            return self._listen.speech
        return self._busy  # the reply is still rendering; its Listen follows

    def _on_turn(self, action: Action) -> None:
        if action.act is Act.STARTED:
            if not self._busy:
                self._timer.cancel()  # a turn that had ended by silence goes on
            tb = self._take_back
            if tb is not None and self._clock - tb.at <= self.sv.take_back_s:
                self._undo_turn(tb)
            return
        if action.act is Act.NOISE:
            if self._playout.holding:
                self._resume("not speech")
            elif (action.audio is not None and self._busy and self._listen is None
                  and not self._playout.playing):
                # Said in the silence while we compute the reply (often right after a key
                # barged in): like keys typed ahead, it answers the next Listen.
                self._early_speech = action.audio
        elif action.act is Act.TRANSCRIBE:
            assert action.audio is not None
            self._transcribe(action.seq, action.audio, action.ended)
        elif action.act is Act.ENDED:
            self._timer.ended(self._clock)
        elif action.act is Act.COMMIT:
            assert action.heard is not None
            self._timer.commit(self._clock)  # the turn ends now unless it ended awaiting ASR
            self._commit(action.heard, action.audio)

    def _transcribe(self, seq: int, audio: np.ndarray, ended: bool) -> None:
        """Start ASR on the utterance so far. At a pause this is a guess (``ended`` False) made
        while we keep listening; if the caller stays quiet we already have the words."""
        assert self._listen is not None
        hints = self._listen.hints + (self._factory.asr_vocabulary() if self._factory else ())
        turns, policy, digits = self._turns, self.sv.end_of_turn, self._listen.dtmf_max_digits
        job = work.transcribe(self.sv.transcriber, audio, hints, self._gen, seq,
                              self.sv.completeness, ended, lambda: turns.wanted(seq),
                              lambda text: policy.needs_model(text, digits))
        if ended:
            self._timer.start()
        self._jobs.submit(job, self._gen)

    def _on_heard(self, heard: Heard) -> None:
        if self._listen is None:
            return  # the turn already moved on
        action = self._turns.heard(heard, self._listen.dtmf_max_digits)
        if action is not None:
            self._on_turn(action)
        elif not heard.text and self._playout.holding:
            self._resume("no words")  # the decode at the pause found none: do not wait

    def _commit(self, heard: Heard, audio: np.ndarray | None = None) -> None:
        """The caller's turn is over: hand the words to the engine (or resume on noise)."""
        if not heard.text:
            log.info("call %s: ignored unusable speech (%s)", self._call_sid, heard.dropped)
            self._listen_since = self._clock  # the caller was talking: restart no-input
            if self._playout.holding:
                self._resume("no words")
            return
        assert self._dialog is not None
        listen = self._listen
        self._next_turn()
        self._record_turn("caller", heard.text, "speech")
        dialog, gen = self._dialog, self._gen
        event = CallerInput("speech", text=heard.text, confidence=heard.confidence)
        snapshot = getattr(dialog, "snapshot", None)
        tb = None
        if (self.sv.take_back_s > 0 and callable(snapshot) and audio is not None
                and listen is not None):
            tb = TakeBack(self._clock, audio, listen,
                          timings=len(self.record.timings) if self.record else 0)
        self._take_back = tb

        def compute() -> list[Directive]:
            if tb is not None:
                tb.snapshot = dialog.snapshot()  # type: ignore[attr-defined]
            return dialog.handle(event)

        self._busy = True
        self._jobs.engine(work.turn(self._jobs, compute, gen, heard.asr_ms), gen)

    def _undo_turn(self, tb: TakeBack) -> None:
        """The caller went on right after we ended their turn: cancel the reply (clear it if it
        started playing), restore the engine, and let the new words continue the old ones."""
        log.info("call %s: caller went on; taking the turn back", self._call_sid)
        self._take_back = None
        self._gen += 1
        self._busy = False
        if self._playout.playing or self._playout.holding:
            self._out.clear(self._clock)
            self._playout.clear_all()
        self._timer.cancel()
        self._timer.taken_back(self.record, tb.timings)
        self._listen = tb.listen
        self._listen_since = self._clock
        self._turns.prepend(tb.audio)
        self._record_turn("bot", "(taken back)", "take_back")
        assert self._dialog is not None
        self._jobs.engine(work.restore(self._dialog, tb), self._gen)
