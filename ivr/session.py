"""One phone call: owns its WebSocket loop and drives VAD -> ASR -> engine -> TTS.

Threading model, chosen so no call can block another and no state is shared unlocked:
- the socket thread (this object's :meth:`run`) is the only one that reads or writes the socket and
  the only one that touches session state;
- model work (ASR, the engine with its NLU and custom actions, TTS) runs on a shared worker pool;
  workers talk back only through ``self._inbox`` (a thread-safe queue) which the socket thread
  drains between frames.
Time inside a call is *stream time*: 20 ms per inbound media frame. Twilio streams continuously,
so timers (no-input, inter-digit) are deterministic and replayed fixtures behave like live calls.
"""

from __future__ import annotations

import logging
import queue
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ivr import wire
from ivr.asr import Transcriber
from ivr.audio import FRAME_MS, PHONE_RATE, ulaw_to_pcm16
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
from ivr.store import CallRecord, CallStore, Decision, Turn
from ivr.tts import Speaker
from ivr.vad import EndpointConfig, Endpointer, EndpointEvent, FrameClassifier, sounds_complete

log = logging.getLogger(__name__)

FRAME_S = FRAME_MS / 1000
PREROLL_S = 0.3
SEND_CHUNK = PHONE_RATE  # bytes of mu-law per outbound media message (1 s)
HASH_GRACE_S = 2.0
APOLOGY = "Sorry, something went wrong on our side. Let me connect you with someone who can help."


class WebSocketLike(Protocol):
    def receive(self, timeout: float | None = None) -> str | bytes | None: ...
    def send(self, data: str) -> None: ...
    def close(self, reason: int | None = None, message: str | None = None) -> None: ...


@dataclass
class Services:
    """What every call shares: models, the worker pool, the store, the current dialplan."""

    transcriber: Transcriber
    speaker: Speaker
    executor: Executor
    store: CallStore
    plan: Callable[[], DialogFactory]
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    vad_aggressiveness: int = 2
    record_dir: Path | None = None


# Items workers post to the socket thread. ``gen`` ties audio to the prompt generation so audio
# rendered before a barge-in is dropped instead of played.
@dataclass(frozen=True, slots=True)
class _Audio:
    gen: int
    ulaw: bytes
    barge_in: bool
    text: str


@dataclass(frozen=True, slots=True)
class _EndOfSay:
    gen: int
    text: str


@dataclass(frozen=True, slots=True)
class _Control:
    gen: int
    directive: Listen | Transfer | Hangup


@dataclass(frozen=True, slots=True)
class _Heard:
    """What ASR made of an utterance (speculation ``seq``); empty text means noise."""

    gen: int
    seq: int
    text: str
    confidence: float
    dropped: str
    asr_ms: float


@dataclass(slots=True)
class _Speculation:
    """One ASR run on the current utterance; ``ended``: the caller's turn is known to be over."""

    seq: int
    ended: bool
    result: _Heard | None = None


@dataclass(frozen=True, slots=True)
class _Failed:
    gen: int
    error: BaseException


@dataclass(frozen=True, slots=True)
class _Timing:
    """Where a turn's time went (ms); the socket thread completes it at the first audio frame."""

    gen: int
    asr_ms: float
    nlu_ms: float


_Item = _Audio | _EndOfSay | _Control | _Heard | _Failed | _Timing


class CallSession:
    """Runs one call from the ``start`` message to the socket closing."""

    def __init__(self, ws: WebSocketLike, services: Services) -> None:
        self.ws = ws
        self.sv = services
        self._inbox: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._stream_sid = ""
        self._call_sid = ""
        self._dialog: CallDialog | None = None
        self._factory: DialogFactory | None = None
        self.record: CallRecord | None = None
        # audio in
        self._vad = FrameClassifier(services.vad_aggressiveness)
        self._endpointer = Endpointer(services.endpoint)
        self._preroll: deque[np.ndarray] = deque(maxlen=int(PREROLL_S / FRAME_S))
        self._utterance: list[np.ndarray] = []
        self._clock = 0.0  # stream seconds
        self._inbound: bytearray | None = bytearray() if services.record_dir else None
        self._events: list[tuple[float, str, str]] = []
        self._sensitive = ""  # the slot a sensitive entry is asked for, until the next Listen
        # dialogue state
        self._gen = 0
        self._busy = False  # a worker is computing the bot's next turn
        self._listen: Listen | None = None
        self._listen_since = 0.0  # stream time the current prompt finished playing
        self._digits = ""
        self._last_digit_at = 0.0
        self._early_digits: list[str] = []
        self._full_entry_at = -1.0  # stream time a keyed entry completed by its length
        # audio out
        self._pending_marks: set[str] = set()
        self._mark_seq = 0
        self._barge_in_ok = True
        self._playing_until = 0.0  # wall clock estimate of when sent audio finishes
        self._closing: Decision | None = None
        self._close_deadline = 0.0
        self._turn_started: float | None = None  # wall time the caller's turn ended
        self._pending_timing: _Timing | None = None
        self._spec: _Speculation | None = None
        self._spec_seq = 0
        self._done = False

    # ------------------------------------------------------------------ loop
    def run(self) -> None:
        try:
            while not self._done:
                try:
                    raw = self.ws.receive(timeout=0.01)
                except Exception as exc:  # the socket closed under us
                    log.info("call %s: socket closed (%s)", self._call_sid or "?", exc)
                    self._caller_gone()
                    break
                if raw is not None:
                    self._on_raw(raw)
                self._drain()
                self._check_close()
        except Exception as exc:
            log.exception("call %s: session crashed", self._call_sid or "?")
            self._fail_safe(exc)
        finally:
            self._finish()

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
            self._pending_marks.discard(event.name)
            if not self._pending_marks:
                self._listen_since = self._clock
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
        n = pcm.size
        if n == 0:
            return
        step = PHONE_RATE * FRAME_MS // 1000
        for i in range(0, n - step + 1, step):
            self._on_frame(pcm[i : i + step])
        self._tick()

    def _on_frame(self, frame: np.ndarray) -> None:
        self._clock += FRAME_S
        speech = self._vad.is_speech(frame)
        if self._endpointer.in_speech:
            self._utterance.append(frame)
            if speech and self._spec is not None and not self._spec.ended:
                self._spec = None  # the caller went on talking: that guess is stale
        else:
            self._preroll.append(frame)
        ep = self._endpointer.feed(FRAME_S, speech)
        if ep is not None:
            self._on_endpoint(ep.event)

    def _on_endpoint(self, event: EndpointEvent) -> None:
        if event is EndpointEvent.SPEECH_STARTED:
            self._utterance = list(self._preroll)
            self._preroll.clear()
            if self._listen is not None and self._listen.speech:
                self._barge_in("speech")
            return
        if event is EndpointEvent.SPEECH_DISCARDED:
            self._utterance = []
            return
        talking_over_us = bool(self._pending_marks) and not self._barge_in_ok
        listening = self._listen is not None and self._listen.speech
        # Speech over a prompt that may not be interrupted is not an answer to it.
        usable = listening and not talking_over_us and bool(self._utterance)
        if event is EndpointEvent.SPEECH_PAUSED:
            if usable and self._spec is None:
                self._transcribe(np.concatenate(self._utterance), ended=False)
            return
        # SPEECH_ENDED
        audio = np.concatenate(self._utterance) if self._utterance else None
        self._utterance = []
        if not usable or audio is None:
            self._spec = None
            return
        spec = self._spec
        if spec is None:
            self._transcribe(audio, ended=True)
            return
        spec.ended = True  # the speculative transcript of the same audio stands
        self._turn_started = time.perf_counter()
        if spec.result is not None:
            self._commit(spec.result)

    def _transcribe(self, audio: np.ndarray, ended: bool) -> None:
        """Start ASR on the utterance so far. At a pause this is a guess (``ended`` False) made
        while we keep listening; if the caller stays quiet we already have the words."""
        assert self._listen is not None
        self._spec_seq += 1
        spec = _Speculation(self._spec_seq, ended)
        self._spec = spec
        transcriber, gen, seq = self.sv.transcriber, self._gen, spec.seq
        hints = self._listen.hints + (self._factory.asr_vocabulary() if self._factory else ())

        def work() -> Iterator[_Item]:
            t0 = time.perf_counter()
            heard = transcriber.transcribe_phone(audio, hints)
            yield _Heard(gen, seq, heard.text, heard.confidence, heard.dropped,
                         (time.perf_counter() - t0) * 1000)

        if ended:
            self._turn_started = time.perf_counter()
        self.sv.executor.submit(self._guard(work, gen))

    def _on_heard(self, heard: _Heard) -> None:
        spec = self._spec
        if spec is None or spec.seq != heard.seq or self._listen is None:
            return  # stale: the caller kept talking, or the turn already moved on
        spec.result = heard
        if spec.ended:
            self._commit(heard)
            return
        # Adaptive end of turn: words that sound finished need no more silence.
        if (heard.text and self._listen.dtmf_max_digits <= 1 and sounds_complete(heard.text)
                and self._endpointer.end_now() is not None):
            self._utterance = []
            spec.ended = True
            self._turn_started = time.perf_counter()
            self._commit(heard)

    def _commit(self, heard: _Heard) -> None:
        """The caller's turn is over: hand the words to the engine (or resume on noise)."""
        self._spec = None
        if not heard.text:
            log.info("call %s: ignored unusable speech (%s)", self._call_sid, heard.dropped)
            self._listen_since = self._clock  # the caller was talking: restart no-input
            return
        assert self._dialog is not None
        self._listen = None
        self._record_turn("caller", heard.text, "speech")
        dialog, gen = self._dialog, self._gen
        event = CallerInput("speech", text=heard.text, confidence=heard.confidence)

        def work() -> Iterator[_Item]:
            t0 = time.perf_counter()
            turn = dialog.handle(event)
            yield _Timing(gen, heard.asr_ms, (time.perf_counter() - t0) * 1000)
            yield from self._render(turn, gen)

        self._busy = True
        self.sv.executor.submit(self._guard(work, gen))

    # ------------------------------------------------------------------ keys
    def _on_digit(self, digit: str) -> None:
        if self._dialog is None:
            return
        if digit == "#" and self._clock - self._full_entry_at < HASH_GRACE_S:
            # "123456#" where 6 digits already completed the entry: the # just says "done".
            self._full_entry_at = -1.0
            return
        listen = self._listen
        if listen is None:
            if self._busy or self._pending_marks:
                self._early_digits.append(digit)  # typed ahead; applies to the next Listen
            return
        self._barge_in("dtmf")
        if listen.dtmf_max_digits > 1 and digit == listen.dtmf_finish_key:
            self._submit_digits()
            return
        self._digits += digit
        self._last_digit_at = self._clock
        if len(self._digits) >= listen.dtmf_max_digits:
            if listen.dtmf_max_digits > 1:
                self._full_entry_at = self._clock
            self._submit_digits()

    def _submit_digits(self) -> None:
        digits, self._digits = self._digits, ""
        self._record_turn("caller", digits or "#", "dtmf")
        self._deliver(CallerInput("dtmf", digits=digits))

    # ------------------------------------------------------------------ timers
    def _tick(self) -> None:
        listen = self._listen
        if listen is None or self._busy:
            return
        if self._digits and self._clock - self._last_digit_at >= listen.dtmf_inter_digit_s:
            self._submit_digits()
            return
        playing = bool(self._pending_marks)
        if playing or self._endpointer.in_speech or self._digits or self._spec is not None:
            return
        if self._clock - self._listen_since >= listen.timeout_s:
            self._record_turn("caller", "", "no_input")
            self._deliver(CallerInput("no_input"))

    # ------------------------------------------------------------------ turns
    def _deliver(self, event: CallerInput) -> None:
        """Hand a non-speech input to the engine (speech goes through ASR first)."""
        assert self._dialog is not None
        self._listen = None
        self._turn_started = time.perf_counter()
        dialog = self._dialog
        self._submit(lambda: dialog.handle(event))

    def _submit(self, compute: Callable[[], list[Directive]]) -> None:
        gen = self._gen

        def work() -> Iterator[_Item]:
            t0 = time.perf_counter()
            turn = compute()
            yield _Timing(gen, 0.0, (time.perf_counter() - t0) * 1000)
            yield from self._render(turn, gen)

        self._busy = True
        self.sv.executor.submit(self._guard(work, gen))

    def _guard(self, work: Callable[[], Iterator[_Item]], gen: int) -> Callable[[], None]:
        """Run a worker job, posting its items; any exception becomes a _Failed item, never lost."""

        def run() -> None:
            try:
                for item in work():
                    self._inbox.put(item)
            except BaseException as exc:
                log.exception("call %s: turn failed", self._call_sid)
                self._inbox.put(_Failed(gen, exc))

        return run

    def _render(self, turn: list[Directive], gen: int) -> Iterator[_Item]:
        """Worker side: synthesise Says in order, then pass the control directive through."""
        for d in turn:
            if gen != self._gen:
                return  # barged in while rendering: the caller has moved on
            if isinstance(d, Say):
                if not d.text.strip():
                    continue
                if d.static:
                    yield _Audio(gen, self.sv.speaker.render(d.text), d.barge_in, d.text)
                else:
                    for chunk in self.sv.speaker.stream(d.text):
                        yield _Audio(gen, chunk, d.barge_in, d.text)
                yield _EndOfSay(gen, d.text)
            else:
                yield _Control(gen, d)

    # ------------------------------------------------------------------ socket-thread side
    def _drain(self) -> None:
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                return
            if item.gen != self._gen:
                continue
            if isinstance(item, _Audio):
                self._send_audio(item)
            elif isinstance(item, _EndOfSay):
                self._record_turn("bot", item.text, "say")
                self._send_mark()
            elif isinstance(item, _Control):
                self._busy = False
                self._on_control(item.directive)
            elif isinstance(item, _Timing):
                self._pending_timing = item
            elif isinstance(item, _Heard):
                self._on_heard(item)
            elif isinstance(item, _Failed):
                self._busy = False
                self._fail_safe(item.error)

    def _send_audio(self, item: _Audio) -> None:
        self._barge_in_ok = item.barge_in
        if self._turn_started is not None:
            elapsed = (time.perf_counter() - self._turn_started) * 1000
            self._turn_started = None
            if self.record is not None:
                self.record.latency_ms.append(round(elapsed, 1))
                t = self._pending_timing
                if t is not None:
                    self.record.timings.append(
                        {"turn_ms": round(elapsed, 1), "asr_ms": round(t.asr_ms, 1),
                         "nlu_ms": round(t.nlu_ms, 1)}
                    )
        data = item.ulaw
        for i in range(0, len(data), SEND_CHUNK):
            self.ws.send(wire.media_message(self._stream_sid, data[i : i + SEND_CHUNK]))
        now = time.monotonic()
        self._playing_until = max(self._playing_until, now) + len(data) / PHONE_RATE

    def _send_mark(self) -> None:
        self._mark_seq += 1
        name = f"say-{self._mark_seq}"
        self._pending_marks.add(name)
        self.ws.send(wire.mark_message(self._stream_sid, name))

    def _barge_in(self, why: str) -> None:
        """The caller spoke or keyed over us: stop our audio now, drop what is still rendering."""
        if not self._pending_marks or not self._barge_in_ok:
            return
        log.info("call %s: barge-in by %s", self._call_sid, why)
        self.ws.send(wire.clear_message(self._stream_sid))
        self._pending_marks.clear()
        self._playing_until = time.monotonic()
        self._listen_since = self._clock
        if self.record is not None:
            self.record.turns.append(Turn("bot", "(interrupted)", self._clock, "barge_in"))

    def _on_control(self, d: Listen | Transfer | Hangup) -> None:
        if isinstance(d, Listen):
            self._listen = d
            self._sensitive = d.sensitive
            self._digits = ""
            if not self._pending_marks:
                self._listen_since = self._clock
            early, self._early_digits = self._early_digits, []
            for digit in early:
                if self._listen is None:
                    break
                self._on_digit(digit)
            return
        assert self._factory is not None
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
        if self._pending_marks and time.monotonic() < self._close_deadline:
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
        gen = self._gen
        self._busy = True

        def work() -> Iterator[_Item]:
            yield from self._render([Say(APOLOGY), Transfer(group, {"error": str(error)})], gen)

        try:
            self.sv.executor.submit(self._guard(work, gen))
        except RuntimeError:  # pool shut down: decide without speaking
            self._on_control(Transfer(group, {"error": str(error)}))

    def _caller_gone(self) -> None:
        self._done = True
        if self.record is not None and self.record.outcome is None:
            self.record.outcome = "caller_hangup"

    def _record_turn(self, role: Literal["caller", "bot"], text: str, kind: str) -> None:
        if role == "caller" and text:
            said = [t.text for t in self.record.turns if t.role == "bot"] if self.record else []
            text = redact_caller(text, kind, self._sensitive, said[-1] if said else "")
        if self.record is not None:
            self.record.turns.append(Turn(role, text, round(self._clock, 2), kind))

    def _finish(self) -> None:
        self._gen += 1  # stop any worker still rendering for us
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
