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

What the session decides itself is only glue; the decisions live in the small state machines of
:mod:`ivr.call` (turn-taking, barge-in, echo, playout, keypad; see its docstring for the map).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import numpy as np

from ivr import observability, wire
from ivr.audio import FRAME_MS, PHONE_RATE, ulaw_to_pcm16
from ivr.call import work
from ivr.call.bargein import BargeIn, Voicing
from ivr.call.closing import Closing, apology, decision_for
from ivr.call.echo import EchoCanceller
from ivr.call.items import Audio, Control, EndOfSay, Failed, Heard, Item, Raw, SocketClosed, Timing
from ivr.call.jobs import CallJobs
from ivr.call.keypad import Keypad
from ivr.call.outbound import Outbound
from ivr.call.playout import Playout
from ivr.call.recording import CallRecording, add_turn
from ivr.call.services import Services, WebSocketLike
from ivr.call.speech import SpeechTurns
from ivr.call.timing import TurnTimer
from ivr.call.turntaking import TurnTaker
from ivr.dialog import CallerInput, CallInfo, Directive, Hangup, Listen, Transfer
from ivr.errors import ProtocolError
from ivr.store import CallRecord, Decision, Turn
from ivr.transcript import Speaker, TurnKind
from ivr.vad import FrameClassifier

log = logging.getLogger(__name__)

FRAME_S = FRAME_MS / 1000
__all__ = ["CallSession", "Services", "WebSocketLike"]


class CallSession(SpeechTurns):
    """Runs one call from the ``start`` message to the socket closing."""

    def __init__(self, ws: WebSocketLike, services: Services) -> None:
        self.ws = ws
        self.sv = services
        self._inbox: queue.SimpleQueue[Item] = queue.SimpleQueue()
        self._stream_sid = ""
        self._call_sid = ""
        self._dialog = None
        self._factory = None
        self.record: CallRecord | None = None
        self._clock = 0.0  # stream seconds
        self._sensitive = ""  # the slot a sensitive entry is asked for, until the next Listen
        # collaborators
        self._recording = CallRecording(bool(services.record_dir))
        self._vad = FrameClassifier(services.vad_aggressiveness)
        self._turns = TurnTaker(services.endpoint, services.end_of_turn, services.may_speculate)
        self._timer = TurnTimer()
        self._barge = BargeIn(services.barge_in)
        self._voicing = Voicing()
        self._playout = Playout()
        self._closing = Closing()
        self._echo = EchoCanceller(services.barge_in.echo)
        self._out = Outbound(ws, self._playout, self._closing, services.neural_vad, self._echo)
        self._keypad = Keypad()
        self._early_speech = None  # said while the bot worked out its reply
        self._take_back = None
        self._unhandled, self._unhandled_lock = 0, threading.Lock()  # see backlog()
        self._jobs = CallJobs(services.executor, services.speaker, self._post,
                              lambda: self._gen, lambda: self._call_sid)
        # dialogue state
        self._gen = 0
        self._busy = False  # a worker is computing the bot's next turn
        self._listen = None
        self._listen_since = 0.0  # stream time the current prompt finished playing
        self._reading = True
        self._done = False

    def backlog(self) -> int:
        """Inbox items not yet fully handled (a simulated line waits for 0, as real-time
        streaming paces us; counted to the end of the handling so a run is repeatable)."""
        return self._unhandled

    def _post(self, item: Item) -> None:
        with self._unhandled_lock:
            self._unhandled += 1
        self._inbox.put(item)

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        reader = threading.Thread(target=self._read_socket, daemon=True,
                                  name=f"ws-reader-{id(self):x}")
        reader.start()
        try:
            while not self._done:
                try:
                    item = self._inbox.get(timeout=self._closing.wait_s())
                except queue.Empty:
                    item = None
                if item is not None:
                    try:
                        self._handle(item)
                    finally:
                        with self._unhandled_lock:
                            self._unhandled -= 1
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
                self._post(SocketClosed(str(exc) or type(exc).__name__))
                return
            if raw is not None:
                self._post(Raw(raw))

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
            self._timer.pending = item
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
            self._recording.key(self._clock, event.digit, bool(self._sensitive))
            self._on_digit(event.digit)
        elif isinstance(event, wire.Mark):
            if self._playout.played(event.name):
                self._listen_since = self._clock
                self._barge.reset()
                self._out.release_neural()
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
        self._stream_sid = self._out.stream_sid = start.stream_sid
        self._call_sid = start.call_sid
        # The socket is read on a reader thread; this thread's log lines need the call too.
        observability.bind_call(start.call_sid)
        self.record = self.sv.store.get_record(start.call_sid) or CallRecord(start.call_sid)
        self._factory = self.sv.plan()
        info = CallInfo(start.call_sid, self.record.from_number, self.record.to_number)
        self._dialog = self._factory.new_call(info)
        log.info("call %s: stream %s started", self._call_sid, self._stream_sid)
        self._submit(self._dialog.start)

    # ------------------------------------------------------------------ audio in
    def _on_media(self, payload: bytes) -> None:
        self._recording.media(payload, bool(self._sensitive))
        pcm = ulaw_to_pcm16(payload)
        step = PHONE_RATE * FRAME_MS // 1000
        if pcm.size < step:
            return
        for i in range(0, pcm.size - step + 1, step):
            self._on_frame(pcm[i : i + step])
        self._tick()

    def _on_frame(self, frame: np.ndarray) -> None:
        self._clock += FRAME_S
        end = int(round(self._clock * PHONE_RATE))
        if self._echo.active(end):  # our prompt may be echoing: hear the caller through it
            frame = self._echo.process(frame, end)
        speech = self._vad.is_speech(frame)
        playing = self._playout.playing
        if playing:
            # While we talk, only what is clearly the caller counts: not our echo, not a cough.
            rms = float(np.sqrt(np.mean(frame.astype(np.float32) ** 2)))
            prob = self._out.speech_prob(frame)
            speech = self._barge.counts(speech, rms, self._playout.echo_level(self._clock))
            pitch = (self._voicing.feed(frame, measure=speech)
                     if self._barge.config.min_periodic_frames else None)
            if (self._playout.interruptible and self._may_barge_in()
                    and self._barge.feed(FRAME_S, speech, prob, pitch)):
                self._barge_in("speech")
        accepting = (self._listen is not None and self._listen.speech
                     and not (self._playout.playing and not self._playout.interruptible))
        if speech:
            self._timer.voiced(self._clock)
        action = self._turns.feed(frame, speech, accepting)
        if action is not None:
            self._on_turn(action)

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
        self._timer.start()
        dialog = self._dialog
        self._submit(lambda: dialog.handle(event))

    def _submit(self, compute: Callable[[], list[Directive]]) -> None:
        self._busy = True
        self._jobs.engine(work.turn(self._jobs, compute, self._gen), self._gen)

    # ------------------------------------------------------------------ audio out
    def _on_audio(self, item: Audio) -> None:
        self._timer.first_audio(self.record)
        segment = self._playout.add(item.ulaw, item.barge_in, item.text, self._clock)
        if segment is not None:
            self._out.send(segment)

    def _barge_in(self, why: str) -> None:
        """The caller spoke or keyed over us: stop our audio now and hold the rest of the prompt
        until we know whether it was words (then it is dropped) or not (then it resumes)."""
        if not self._out.cut(self._clock):
            return
        log.info("call %s: barge-in by %s", self._call_sid, why)
        self._listen_since = self._clock
        if self.record is not None:
            self.record.turns.append(Turn("bot", "(interrupted)", "barge_in", self._clock))

    def _resume(self, why: str) -> None:
        """A barge-in that was not the caller speaking: replay from the sentence that was cut."""
        again = self._out.resume(self._clock)
        self._barge.reset()
        log.info("call %s: resuming the prompt (%s)", self._call_sid, why)
        if self.record is not None:
            self.record.turns.append(Turn("bot", "(resumed)", "resume", round(self._clock, 2)))
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
        decision, outcome, intent = decision_for(d, self._factory)
        if self.record is not None and intent is not None:
            self.record.intent = intent
        self._decide(decision, outcome)

    def _decide(self, decision: Decision, outcome: str) -> None:
        """Store the decision now (the caller may hang up mid hand-off); close once it played."""
        self.sv.store.put_decision(self._call_sid, decision)
        if self.record is not None:
            self.record.outcome = outcome
        self._closing.decide(decision)
        self._listen = None

    def _check_close(self) -> None:
        if self._done or not self._closing.due(self._playout.playing or self._playout.holding):
            return
        log.info("call %s: closing stream (%s)", self._call_sid,
                 self.record.outcome if self.record else "?")
        self._done = True
        self.ws.close(reason=1000, message="done")

    def _fail_safe(self, error: BaseException) -> None:
        """Something broke: apologise and hand the caller to a person; never drop them silently."""
        if self.record is not None:
            self.record.errors.append(f"{type(error).__name__}: {error}")
        if self._done or self._closing.decision is not None or self._factory is None:
            return
        group = self._factory.default_group
        self._gen += 1
        self._playout.drop()
        self._busy = True
        try:
            self._jobs.submit(work.render(self._jobs, apology(group, error), self._gen), self._gen)
        except RuntimeError:  # pool shut down: decide without speaking
            self._on_control(Transfer(group, {"error": str(error)}))

    def _caller_gone(self) -> None:
        self._done = True
        if self.record is not None and self.record.outcome is None:
            self.record.outcome = "caller_hangup"

    def _record_turn(self, speaker: Speaker, text: str, kind: TurnKind) -> None:
        add_turn(self.record, speaker, text, kind, self._clock, self._sensitive)

    def _finish(self) -> None:
        self._gen += 1  # stop any worker still rendering for us
        self._reading = False
        self._out.release_neural()
        if self.record is None:
            return
        try:
            self.sv.store.finish(self.record)
        except Exception:
            log.exception("call %s: could not store the call record", self._call_sid)
        if self.sv.record_dir is not None:
            self._recording.save(self.sv.record_dir, self._call_sid, self.record)
