"""One phone call: owns its WebSocket and hands what happens on it to small state machines.

Threading model, chosen so no call can block another, no state is shared unlocked, and an idle
call costs no CPU:
- a reader thread per call blocks on ``ws.receive()`` and puts each message on ``self._inbox``;
- model work (ASR, the engine with its NLU and custom actions, TTS) runs on a shared worker pool
  and posts its results to the same inbox;
- the socket thread (:meth:`CallSession.run`) blocks on that one queue, with a timeout only for
  a real deadline (closing the stream), and is the only thread that writes the socket or touches
  call state.
Time inside a call is *stream time*: 20 ms per inbound media frame. Twilio streams continuously,
so timers (no-input, inter-digit) are deterministic and replayed fixtures behave like live calls.

What the session decides itself is only glue; the decisions live in :mod:`ivr.call`:
:class:`~ivr.call.turntaking.TurnTaker` (end of turn, speculation),
:class:`~ivr.call.bargein.BargeIn` (is the caller really talking over us),
:class:`~ivr.call.playout.Playout` (marks, cut, resume), :class:`~ivr.call.keypad.Keypad`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ivr import observability, wire
from ivr.audio import FRAME_MS, PHONE_RATE, ulaw_to_pcm16
from ivr.call.bargein import BargeIn
from ivr.call.items import Audio, Control, EndOfSay, Failed, Heard, Item, Raw, SocketClosed, Timing
from ivr.call.jobs import CallJobs
from ivr.call.keypad import Keypad
from ivr.call.playout import Playout, Segment
from ivr.call.services import Services, WebSocketLike
from ivr.call.turntaking import Act, Action, TakeBack, TurnTaker
from ivr.dialog import (
    CallDialog,
    CallerInput,
    CallInfo,
    DialogFactory,
    Directive,
    Hangup,
    Listen,
    Say,
    Transfer,
)
from ivr.errors import ProtocolError
from ivr.handoff.redact import redact_caller
from ivr.store import CallRecord, Decision, Turn
from ivr.transcript import Speaker, TurnKind
from ivr.vad import FrameClassifier, NeuralVad

log = logging.getLogger(__name__)

FRAME_S = FRAME_MS / 1000
SEND_CHUNK = PHONE_RATE  # bytes of mu-law per outbound media message (1 s)
APOLOGY = "Sorry, something went wrong on our side. Let me connect you with someone who can help."


class CallSession:
    """Runs one call from the ``start`` message to the socket closing."""

    def __init__(self, ws: WebSocketLike, services: Services) -> None:
        self.ws = ws
        self.sv = services
        self._inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._stream_sid = ""
        self._call_sid = ""
        self._dialog: CallDialog | None = None
        self._factory: DialogFactory | None = None
        self.record: CallRecord | None = None
        self._clock = 0.0  # stream seconds
        self._inbound: bytearray | None = bytearray() if services.record_dir else None
        self._sensitive = ""  # the slot a sensitive entry is asked for, until the next Listen
        self._events: list[tuple[float, str, str]] = []
        # collaborators
        self._vad = FrameClassifier(services.vad_aggressiveness)
        self._turns = TurnTaker(services.endpoint, services.end_of_turn, services.may_speculate)
        self._turn_wait_ms: float | None = None  # end-of-turn wait of the turn in flight
        self._last_voiced_at = 0.0  # stream time of the last frame the VAD called speech
        self._barge = BargeIn(services.barge_in)
        self._playout = Playout()
        self._keypad = Keypad()
        self._neural: NeuralVad | None = None
        self._early_speech: np.ndarray | None = None  # said while the bot worked out its reply
        self._take_back: TakeBack | None = None
        self._jobs = CallJobs(services.executor, services.speaker, self._inbox.put,
                              lambda: self._gen, lambda: self._call_sid)
        # dialogue state
        self._gen = 0
        self._busy = False  # a worker is computing the bot's next turn
        self._listen: Listen | None = None
        self._listen_since = 0.0  # stream time the current prompt finished playing
        self._playing_until = 0.0  # wall clock estimate of when sent audio finishes
        self._closing: Decision | None = None
        self._close_deadline = 0.0
        self._turn_started: float | None = None  # wall time the caller's turn ended
        self._pending_timing: Timing | None = None
        self._reading = True
        self._done = False

    def backlog(self) -> int:
        """Messages waiting for the socket thread (a gauge for metrics; lets a simulated line
        keep pace with the session the way real-time streaming does)."""
        return self._inbox.qsize()

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        reader = threading.Thread(target=self._read_socket, daemon=True,
                                  name=f"ws-reader-{id(self):x}")
        reader.start()
        try:
            while not self._done:
                try:
                    item = self._inbox.get(timeout=self._wait_s())
                except queue.Empty:
                    item = None
                if item is not None:
                    self._handle(item)
                self._check_close()
        except Exception as exc:
            log.exception("call %s: session crashed", self._call_sid or "?")
            self._fail_safe(exc)
        finally:
            self._finish()

    def _read_socket(self) -> None:
        """Reader thread: block on the socket, hand every message to the socket thread."""
        while self._reading:
            try:
                raw = self.ws.receive(timeout=None)
            except Exception as exc:  # the socket closed under us
                self._inbox.put(SocketClosed(str(exc) or type(exc).__name__))
                return
            if raw is not None:
                self._inbox.put(Raw(raw))

    def _wait_s(self) -> float | None:
        """How long the loop may sleep: until the close deadline, else until something comes."""
        if self._closing is not None:
            return max(0.0, self._close_deadline - time.monotonic())
        return None

    def _handle(self, item: Item) -> None:
        if isinstance(item, Raw):
            self._on_raw(item.data)
            return
        if isinstance(item, SocketClosed):
            log.info("call %s: socket closed (%s)", self._call_sid or "?", item.reason)
            self._caller_gone()
            return
        if item.gen != self._gen:
            return
        if isinstance(item, Audio):
            self._on_audio(item)
        elif isinstance(item, EndOfSay):
            self._record_turn("bot", item.text, "say")
        elif isinstance(item, Control):
            self._busy = False
            self._on_control(item.directive)
        elif isinstance(item, Timing):
            self._pending_timing = item
        elif isinstance(item, Heard):
            self._on_heard(item)
        elif isinstance(item, Failed):
            self._busy = False
            self._fail_safe(item.error)

    def _on_raw(self, raw: str | bytes) -> None:
        try:
            event = wire.parse_message(raw)
        except ProtocolError as exc:
            log.warning("call %s: dropped malformed frame: %s", self._call_sid or "?", exc)
            if self.record:
                self.record.errors.append(f"protocol: {exc}")
            return
        if isinstance(event, wire.Media):
            if self._dialog is not None:
                self._on_media(event.payload)
        elif isinstance(event, wire.Start):
            self._on_start(event)
        elif isinstance(event, wire.Dtmf):
            # Keys of a sensitive entry (card number, PIN) never reach the recording.
            sensitive = bool(self._sensitive)
            self._events.append((self._clock, "redacted" if sensitive else "dtmf",
                                 "dtmf" if sensitive else event.digit))
            self._on_digit(event.digit)
        elif isinstance(event, wire.Mark):
            if self._playout.played(event.name):
                self._listen_since = self._clock
                self._barge.reset()
                self._release_neural()
        elif isinstance(event, wire.Stop):
            self._caller_gone()

    # ------------------------------------------------------------------ start
    def _on_start(self, start: wire.Start) -> None:
        if self._dialog is not None:
            log.warning("call %s: duplicate start ignored", self._call_sid)
            return
        token = start.custom_parameters.get("token", "")
        owner = self.sv.store.consume_token(token) if token else None
        if owner is None or owner != start.call_sid:
            log.warning("stream for %s refused: bad or reused stream token", start.call_sid)
            self._done = True
            self.ws.close(reason=1008, message="invalid stream token")
            return
        if start.encoding != "audio/x-mulaw" or start.sample_rate != PHONE_RATE:
            log.warning("call %s: unexpected media format %s/%s", start.call_sid,
                        start.encoding, start.sample_rate)
        self._stream_sid = start.stream_sid
        self._call_sid = start.call_sid
        # The socket is read on a reader thread; this thread's log lines need the call too.
        observability.bind_call(start.call_sid)
        self.record = self.sv.store.get_record(start.call_sid) or CallRecord(start.call_sid)
        self._factory = self.sv.plan()
        info = CallInfo(start.call_sid, self.record.from_number, self.record.to_number)
        self._dialog = self._factory.new_call(info)
        log.info("call %s: stream %s started", self._call_sid, self._stream_sid)
        dialog = self._dialog
        self._submit(dialog.start)

    # ------------------------------------------------------------------ audio in
    def _on_media(self, payload: bytes) -> None:
        if self._inbound is not None:  # a sensitive stretch is kept as mu-law silence
            self._inbound += b"\xff" * len(payload) if self._sensitive else payload
        pcm = ulaw_to_pcm16(payload)
        step = PHONE_RATE * FRAME_MS // 1000
        if pcm.size < step:
            return
        for i in range(0, pcm.size - step + 1, step):
            self._on_frame(pcm[i : i + step])
        self._tick()

    def _on_frame(self, frame: np.ndarray) -> None:
        self._clock += FRAME_S
        speech = self._vad.is_speech(frame)
        playing = self._playout.playing
        if playing:
            # While we talk, only what is clearly the caller counts: not our echo, not a cough.
            rms = float(np.sqrt(np.mean(frame.astype(np.float32) ** 2)))
            prob = self._neural.feed(frame) if self._neural is not None else None
            speech = self._barge.counts(speech, rms, self._playout.echo_level(self._clock))
            if (self._playout.interruptible and self._may_barge_in()
                    and self._barge.feed(FRAME_S, speech, prob)):
                self._barge_in("speech")
        accepting = (self._listen is not None and self._listen.speech
                     and not (self._playout.playing and not self._playout.interruptible))
        if speech:
            self._last_voiced_at = self._clock
        action = self._turns.feed(frame, speech, accepting)
        if action is not None:
            self._on_turn(action)

    def _may_barge_in(self) -> bool:
        if self._listen is not None:
            return self._listen.speech
        return self._busy  # the reply is still rendering; its Listen follows

    def _on_turn(self, action: Action) -> None:
        if action.act is Act.STARTED:
            if not self._busy:
                self._turn_started = None  # a turn that had ended by silence goes on
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
            self._turn_started = time.perf_counter()
            self._turn_wait_ms = (self._clock - self._last_voiced_at) * 1000
        elif action.act is Act.COMMIT:
            assert action.heard is not None
            if self._turn_started is None:  # the turn ends now (not earlier, awaiting ASR)
                self._turn_started = time.perf_counter()
                self._turn_wait_ms = (self._clock - self._last_voiced_at) * 1000
            self._commit(action.heard, action.audio)

    def _transcribe(self, seq: int, audio: np.ndarray, ended: bool) -> None:
        """Start ASR on the utterance so far. At a pause this is a guess (``ended`` False) made
        while we keep listening; if the caller stays quiet we already have the words."""
        assert self._listen is not None
        transcriber, gen, model = self.sv.transcriber, self._gen, self.sv.completeness
        hints = self._listen.hints + (self._factory.asr_vocabulary() if self._factory else ())

        def work() -> Iterator[Item]:
            t0 = time.perf_counter()
            heard = transcriber.transcribe_phone(audio, hints)
            asr_ms = (time.perf_counter() - t0) * 1000
            # Only a guess at a pause needs the model: a turn ended by silence is over anyway.
            complete = model(heard.text) if model is not None and heard.text and not ended \
                else None
            yield Heard(gen, seq, heard.text, heard.confidence, heard.dropped, asr_ms, complete)

        if ended:
            self._turn_started = time.perf_counter()
        self._jobs.submit(work, gen)

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
            tb = TakeBack(self._clock, audio, listen)
        self._take_back = tb

        def work() -> Iterator[Item]:
            t0 = time.perf_counter()
            if tb is not None:
                tb.snapshot = dialog.snapshot()  # type: ignore[attr-defined]
            turn = dialog.handle(event)
            yield Timing(gen, heard.asr_ms, (time.perf_counter() - t0) * 1000)
            yield from self._jobs.render(turn, gen)

        self._busy = True
        self._jobs.engine(work, gen)

    # ------------------------------------------------------------------ keys
    def _on_digit(self, digit: str) -> None:
        if self._dialog is None:
            return
        waiting = self._busy or self._playout.playing
        result = self._keypad.press(digit, self._clock, self._listen, waiting)
        if result.barge:
            self._barge_in("dtmf")
            self._playout.drop()  # a key is an answer, never a false alarm
        if result.submit is not None:
            self._submit_digits(result.submit)

    def _submit_digits(self, digits: str) -> None:
        self._record_turn("caller", digits or "#", "dtmf")
        self._deliver(CallerInput("dtmf", digits=digits))

    # ------------------------------------------------------------------ timers
    def _tick(self) -> None:
        tb = self._take_back
        if tb is not None and self._clock - tb.at > self.sv.take_back_s:
            self._take_back = None
            if tb.deferred is not None:
                self._on_control(tb.deferred)
        listen = self._listen
        if listen is None or self._busy:
            return
        digits = self._keypad.due(self._clock, listen)
        if digits is not None:
            self._submit_digits(digits)
            return
        if (self._playout.playing or self._playout.holding or self._turns.in_speech
                or self._keypad.digits or self._turns.pending):
            return
        if self._clock - self._listen_since >= listen.timeout_s:
            self._record_turn("caller", "", "no_input")
            self._deliver(CallerInput("no_input"))

    # ------------------------------------------------------------------ turns
    def _next_turn(self) -> None:
        """The caller's input is final: results and audio of the turn before are void."""
        self._gen += 1
        self._early_speech = None
        self._listen = None
        self._turns.cancel()
        self._playout.drop()

    def _deliver(self, event: CallerInput) -> None:
        """Hand a non-speech input to the engine (speech goes through ASR first)."""
        assert self._dialog is not None
        self._next_turn()
        self._take_back = None
        self._turn_started = time.perf_counter()
        dialog = self._dialog
        self._submit(lambda: dialog.handle(event))

    def _submit(self, compute: Callable[[], list[Directive]]) -> None:
        gen = self._gen

        def work() -> Iterator[Item]:
            t0 = time.perf_counter()
            turn = compute()
            yield Timing(gen, 0.0, (time.perf_counter() - t0) * 1000)
            yield from self._jobs.render(turn, gen)

        self._busy = True
        self._jobs.engine(work, gen)

    def _undo_turn(self, tb: TakeBack) -> None:
        """The caller went on right after we ended their turn: cancel the reply (clear it if it
        started playing), restore the engine, and let the new words continue the old ones."""
        log.info("call %s: caller went on; taking the turn back", self._call_sid)
        self._take_back = None
        self._gen += 1
        self._busy = False
        if self._playout.playing or self._playout.holding:
            self.ws.send(wire.clear_message(self._stream_sid))
            self._playout.clear_all()
            self._release_neural()
        self._turn_started = None
        self._listen = tb.listen
        self._listen_since = self._clock
        self._turns.prepend(tb.audio)
        self._record_turn("bot", "(taken back)", "take_back")
        assert self._dialog is not None
        dialog = self._dialog

        def work() -> Iterator[Item]:
            if tb.snapshot is not None:
                dialog.restore(tb.snapshot)  # type: ignore[attr-defined]
            yield from ()

        self._jobs.engine(work, self._gen)

    # ------------------------------------------------------------------ audio out
    def _on_audio(self, item: Audio) -> None:
        if self._turn_started is not None:
            elapsed = (time.perf_counter() - self._turn_started) * 1000
            self._turn_started = None
            if self.record is not None:
                self.record.latency_ms.append(round(elapsed, 1))
                t = self._pending_timing
                if t is not None:
                    timing = {"turn_ms": round(elapsed, 1), "asr_ms": round(t.asr_ms, 1),
                              "nlu_ms": round(t.nlu_ms, 1)}
                    if self._turn_wait_ms is not None:
                        # stream time from the caller's last voiced frame to our decision
                        timing["wait_ms"] = round(self._turn_wait_ms, 1)
                    self.record.timings.append(timing)
            self._turn_wait_ms = None
        segment = self._playout.add(item.ulaw, item.barge_in, item.text, self._clock)
        if segment is not None:
            self._send_segment(segment)

    def _send_segment(self, seg: Segment) -> None:
        data = seg.ulaw
        for i in range(0, len(data), SEND_CHUNK):
            self.ws.send(wire.media_message(self._stream_sid, data[i : i + SEND_CHUNK]))
        self.ws.send(wire.mark_message(self._stream_sid, seg.mark))
        now = time.monotonic()
        self._playing_until = max(self._playing_until, now) + len(data) / PHONE_RATE
        if self._neural is None and self.sv.neural_vad is not None and seg.barge_in:
            self._neural = self.sv.neural_vad.acquire()

    def _release_neural(self) -> None:
        if self._neural is not None and self.sv.neural_vad is not None:
            self.sv.neural_vad.release(self._neural)
        self._neural = None

    def _barge_in(self, why: str) -> None:
        """The caller spoke or keyed over us: stop our audio now and hold the rest of the prompt
        until we know whether it was words (then it is dropped) or not (then it resumes)."""
        if not self._playout.cut():
            return
        log.info("call %s: barge-in by %s", self._call_sid, why)
        self.ws.send(wire.clear_message(self._stream_sid))
        self._playing_until = time.monotonic()
        self._listen_since = self._clock
        self._release_neural()
        if self.record is not None:
            self.record.turns.append(Turn("bot", "(interrupted)", "barge_in", self._clock))

    def _resume(self, why: str) -> None:
        """A barge-in that was not the caller speaking: replay from the sentence that was cut."""
        again = self._playout.resume(self._clock)
        self._barge.reset()
        log.info("call %s: resuming the prompt (%s)", self._call_sid, why)
        if self.record is not None:
            self.record.turns.append(Turn("bot", "(resumed)", "resume", round(self._clock, 2)))
        for seg in again:
            self._send_segment(seg)
        if not again:
            self._listen_since = self._clock

    def _on_control(self, d: Listen | Transfer | Hangup) -> None:
        if isinstance(d, Listen):
            self._listen = d
            self._sensitive = d.sensitive
            if not self._playout.playing:
                self._listen_since = self._clock
            early_speech, self._early_speech = self._early_speech, None
            if early_speech is not None and d.speech:
                self._on_turn(self._turns.late(early_speech))
                return
            for digit in self._keypad.new_listen():
                if self._listen is None:
                    break
                self._on_digit(digit)
            return
        assert self._factory is not None
        tb = self._take_back
        if tb is not None and tb.deferred is None:
            tb.deferred = d  # decided once the caller can no longer take the turn back
            return
        if isinstance(d, Transfer):
            target = self._factory.agent_group(d.group)
            decision = Decision("transfer", target, dict(d.context))
            outcome = f"transfer: {d.group}"
            intent = d.context.get("intent")
            if self.record is not None and isinstance(intent, str):
                self.record.intent = intent
        else:
            decision = Decision("hangup", None, {"reason": d.reason})
            outcome = "hangup"
        self._decide(decision, outcome)

    def _decide(self, decision: Decision, outcome: str) -> None:
        """Store the decision now (the caller may hang up mid hand-off); close once it played."""
        self.sv.store.put_decision(self._call_sid, decision)
        if self.record is not None:
            self.record.outcome = outcome
        self._closing = decision
        self._listen = None
        self._close_deadline = max(self._playing_until, time.monotonic()) + 3.0

    def _check_close(self) -> None:
        if self._closing is None or self._done:
            return
        if ((self._playout.playing or self._playout.holding)
                and time.monotonic() < self._close_deadline):
            return
        log.info("call %s: closing stream (%s)", self._call_sid,
                 self.record.outcome if self.record else "?")
        self._done = True
        self.ws.close(reason=1000, message="done")

    def _fail_safe(self, error: BaseException) -> None:
        """Something broke: apologise and hand the caller to a person; never drop them silently."""
        if self.record is not None:
            self.record.errors.append(f"{type(error).__name__}: {error}")
        if self._done or self._closing is not None or self._factory is None:
            return
        group = self._factory.default_group
        self._gen += 1
        self._playout.drop()
        gen = self._gen
        self._busy = True

        def work() -> Iterator[Item]:
            apology: list[Directive] = [Say(APOLOGY), Transfer(group, {"error": str(error)})]
            yield from self._jobs.render(apology, gen)

        try:
            self._jobs.submit(work, gen)
        except RuntimeError:  # pool shut down: decide without speaking
            self._on_control(Transfer(group, {"error": str(error)}))

    def _caller_gone(self) -> None:
        self._done = True
        if self.record is not None and self.record.outcome is None:
            self.record.outcome = "caller_hangup"

    def _record_turn(self, speaker: Speaker, text: str, kind: TurnKind) -> None:
        if speaker == "caller" and text:
            said = [t.text for t in self.record.turns if t.speaker == "bot"] if self.record else []
            text = redact_caller(text, kind, self._sensitive, said[-1] if said else "")
        if self.record is not None:
            self.record.turns.append(Turn(speaker, text, kind, round(self._clock, 2)))

    def _finish(self) -> None:
        self._gen += 1  # stop any worker still rendering for us
        self._reading = False
        self._release_neural()
        if self.record is None:
            return
        try:
            self.sv.store.finish(self.record)
        except Exception:
            log.exception("call %s: could not store the call record", self._call_sid)
        if self.sv.record_dir is not None and self._inbound is not None:
            self._save_recording()

    def _save_recording(self) -> None:
        try:
            from ivr.caller.fixture import write_recording

            assert self.record is not None and self._inbound is not None
            meta: dict[str, Any] = {"call_sid": self._call_sid, "intent": self.record.intent,
                                    "turns": [t.text for t in self.record.turns]}
            path = write_recording(self.sv.record_dir / self._call_sid,  # type: ignore[operator]
                                   bytes(self._inbound), self._events, self.record.outcome, meta)
            log.info("call %s: recorded to %s", self._call_sid, path)
        except Exception:
            log.exception("call %s: could not save the recording", self._call_sid)
