"""The call session with fake models: the order of what goes out on the socket.

Real audio (a human saying "one") drives the real VAD; the ASR and TTS are fakes so this runs in
milliseconds. Real-model, real-socket behaviour is covered by test_calls_e2e.py.
"""

from __future__ import annotations

import base64
import json
import time
from collections import deque
from typing import Any

import numpy as np
import pytest

from ivr.asr import Transcript
from ivr.audio import PHONE_RATE, read_audio, to_phone_ulaw
from ivr.dialog import Hangup
from ivr.session import CallSession

from .conftest import SHARED_DATA
from .fakes import FakeFactory, fake_services

SPEECH = SHARED_DATA / "speech" / "speech_commands_v001_subset" / "audio" / "one"


class FakeTranscriber:
    def __init__(self, text: str) -> None:
        self.text = text
        self.calls: list[int] = []

    def transcribe_phone(self, samples: np.ndarray, hints: tuple[str, ...] = ()) -> Transcript:
        self.calls.append(samples.size)
        return Transcript(self.text, 0.9, samples.size / PHONE_RATE, 0.0)


class FakeSpeaker:
    def render(self, text: str, *, cache: bool = True) -> bytes:
        return b"\xff" * 800  # 100 ms

    def stream(self, text: str) -> Any:
        yield b"\xff" * 800


class FakeTwilio:
    """Plays a scripted caller like Twilio: frames every receive(), echoes marks after playback."""

    def __init__(self, script: list[tuple[str, Any]]) -> None:
        self.script = deque(script)
        self.sent: list[dict[str, Any]] = []
        self.marks: deque[str] = deque()
        self.closed = False
        self.frames = 0
        self.tail = 3000  # 60 s of trailing line silence at most
        self.backlog: Any = None  # the session's backlog(): keep pace with it, like real time

    def receive(self, timeout: float | None = None) -> str | None:
        if self.marks:
            return json.dumps({"event": "mark", "streamSid": "MZ1",
                               "mark": {"name": self.marks.popleft()}})
        time.sleep(0.001)  # a stream paces itself; give the worker pool a chance
        while self.backlog is not None and self.backlog() > 0 and not self.closed:
            time.sleep(0.0002)
        if self.closed:
            raise ConnectionError("closed")
        if not self.script:
            # Like a real line: keep streaming silence until the server ends the call.
            self.tail -= 1
            if self.tail < 0:
                raise ConnectionError("caller gone")
            self.script.append(("frame", b"\xff" * 160))
        kind, value = self.script.popleft()
        if kind == "raw":
            return str(value)
        if kind == "frame":
            self.frames += 1
            return json.dumps({"event": "media", "streamSid": "MZ1",
                               "media": {"track": "inbound", "chunk": str(self.frames),
                                         "timestamp": str(self.frames * 20),
                                         "payload": base64.b64encode(value).decode()}})
        if kind == "dtmf":
            return json.dumps({"event": "dtmf", "streamSid": "MZ1", "dtmf": {"digit": value}})
        raise AssertionError(kind)

    def send(self, data: str) -> None:
        msg = json.loads(data)
        self.sent.append(msg)
        if msg["event"] == "mark":
            self.marks.append(msg["mark"]["name"])
        elif msg["event"] == "clear":
            self.marks.clear()

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        self.closed = True
        self.script.clear()

    def events(self) -> list[str]:
        return [m["event"] for m in self.sent]


def start_msgs(token: str) -> list[tuple[str, Any]]:
    start = {"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
             "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1",
                       "tracks": ["inbound"],
                       "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                       "channels": 1},
                       "customParameters": {"token": token}}}
    return [("raw", '{"event":"connected","protocol":"Call","version":"1.0.0"}'),
            ("raw", json.dumps(start))]


def frames(ulaw: bytes) -> list[tuple[str, Any]]:
    return [("frame", ulaw[i : i + 160]) for i in range(0, len(ulaw) - 159, 160)]


SILENCE = b"\xff" * 160


def speech_ulaw() -> bytes:
    wavs = sorted(SPEECH.glob("*.wav"))
    if not wavs:
        pytest.skip("shared speech data missing")
    audio, rate = read_audio(wavs[0])
    return to_phone_ulaw(audio, rate)


def play(ws: FakeTwilio, services: Any) -> CallSession:
    """Run a session on the fake line, the line pacing itself on what the session has taken."""
    session = CallSession(ws, services)
    ws.backlog = session.backlog
    session.run()
    return session


def run_call(script: list[tuple[str, Any]], text: str = "billing please"
             ) -> tuple[FakeTwilio, Any, FakeTranscriber]:
    asr = FakeTranscriber(text)
    services = fake_services(transcriber=asr, speaker=FakeSpeaker())
    token = services.store.issue_token("CA1")
    ws = FakeTwilio(start_msgs(token) + script)
    play(ws, services)
    return ws, services, asr


def test_speech_turn_transfers_after_handoff_line_played() -> None:
    script = [("frame", SILENCE)] * 25 + frames(speech_ulaw()) + [("frame", SILENCE)] * 150
    ws, services, asr = run_call(script)
    ev = ws.events()
    # greeting audio + mark, then (after speech) hand-off audio + mark, then close
    assert ev[:2] == ["media", "mark"]
    assert ev.count("mark") == 2 and ws.closed
    assert len(asr.calls) == 1 and asr.calls[0] >= 0.3 * PHONE_RATE  # utterance incl. pre-roll
    decision = services.store.get_decision("CA1")
    assert decision is not None and decision.target is not None
    assert decision.target.name == "billing"
    record = services.store.get_record("CA1")
    assert record.outcome == "transfer: billing"
    assert [t.speaker for t in record.turns] == ["bot", "caller", "bot"]
    assert record.latency_ms and record.timings
    # the end-of-turn wait (stream time after the last voiced frame) feeds its histogram
    wait = record.timings[0]["wait_ms"]
    assert 0 < wait <= services.endpoint.end_silence_s * 1000 + 20


def test_dtmf_menu_choice() -> None:
    ws, services, _ = run_call([("frame", SILENCE)] * 20 + [("dtmf", "1")] +
                               [("frame", SILENCE)] * 100)
    assert services.store.get_record("CA1").outcome == "transfer: billing"
    assert ws.closed


def test_speech_over_prompt_sends_clear() -> None:
    # The caller starts talking at once, while the greeting is still "playing" (mark not echoed).
    asr = FakeTranscriber("billing")
    services = fake_services(transcriber=asr, speaker=FakeSpeaker())
    token = services.store.issue_token("CA1")
    ws = FakeTwilio(start_msgs(token) + [("frame", SILENCE)] * 10 + frames(speech_ulaw())
                    + [("frame", SILENCE)] * 150)
    held: list[str] = []
    original_send = ws.send

    def send(data: str) -> None:
        original_send(data)
        if json.loads(data)["event"] == "mark" and len(held) == 0:
            held.append(ws.marks.pop())  # Twilio is still playing the greeting

    ws.send = send  # type: ignore[method-assign]
    play(ws, services)
    assert "clear" in ws.events()
    assert ws.events().index("clear") < len(ws.events()) - 1
    record = services.store.get_record("CA1")
    assert any(t.kind == "barge_in" for t in record.turns)
    assert record.outcome == "transfer: billing"


def test_silent_caller_gets_no_input_then_transfer() -> None:
    ws, services, asr = run_call([("frame", SILENCE)] * 200)
    assert asr.calls == []
    record = services.store.get_record("CA1")
    assert record.outcome == "transfer: general"
    assert any(t.kind == "no_input" for t in record.turns)


def test_bad_token_closes_without_processing() -> None:
    services = fake_services(transcriber=FakeTranscriber("x"), speaker=FakeSpeaker())
    ws = FakeTwilio(start_msgs("forged") + [("frame", SILENCE)] * 5)
    play(ws, services)
    assert ws.closed and ws.sent == []
    assert services.store.get_record("CA1") is None


def test_malformed_frames_are_logged_not_fatal() -> None:
    ws, services, _ = run_call([("raw", "garbage"), ("raw", '{"event":"media"}')] +
                               [("frame", SILENCE)] * 20 + [("dtmf", "1")] +
                               [("frame", SILENCE)] * 100)
    record = services.store.get_record("CA1")
    assert record.outcome == "transfer: billing"
    assert len([e for e in record.errors if e.startswith("protocol")]) == 2


def test_engine_crash_apologises_and_transfers() -> None:
    factory = FakeFactory()
    services = fake_services(factory, transcriber=FakeTranscriber("x"), speaker=FakeSpeaker())

    def boom(event: Any) -> Any:
        raise RuntimeError("engine exploded")

    token = services.store.issue_token("CA1")
    ws = FakeTwilio(start_msgs(token) + [("frame", SILENCE)] * 20 + [("dtmf", "5")]
                    + [("frame", SILENCE)] * 100)
    orig_new_call = factory.new_call

    def new_call(info: Any) -> Any:
        d = orig_new_call(info)
        d.handle = boom  # type: ignore[method-assign]
        return d

    factory.new_call = new_call  # type: ignore[method-assign]
    play(ws, services)
    record = services.store.get_record("CA1")
    assert record.outcome == "transfer: general"
    assert any("engine exploded" in e for e in record.errors)
    assert any("went wrong" in t.text for t in record.turns if t.speaker == "bot")


def _early_commit_call(text: str) -> tuple[float, float]:
    """Returns (stream time the caller's speech ended, stream time its turn was committed)."""
    from ivr.vad import EndpointConfig

    services = fake_services(transcriber=FakeTranscriber(text), speaker=FakeSpeaker())
    services.endpoint = EndpointConfig(end_silence_s=2.0, pause_s=0.2)
    token = services.store.issue_token("CA1")
    speech = frames(speech_ulaw())
    lead = 25
    ws = FakeTwilio(start_msgs(token) + [("frame", SILENCE)] * lead + speech
                    + [("frame", SILENCE)] * 300)
    play(ws, services)
    record = services.store.get_record("CA1")
    caller = [t for t in record.turns if t.speaker == "caller"]
    assert caller, record
    return (lead + len(speech)) * 0.02, caller[0].t


def test_complete_sounding_words_end_the_turn_after_a_short_pause() -> None:
    spoken_end, committed = _early_commit_call("Billing, please.")
    assert committed < spoken_end + 1.0  # far less than the 2 s end-of-turn silence


def test_unfinished_words_wait_for_the_full_silence() -> None:
    spoken_end, committed = _early_commit_call("I want to")
    assert committed >= spoken_end + 1.5


def test_hash_after_a_full_keyed_entry_is_not_a_new_input() -> None:
    from ivr.dialog import CallerInput, Listen, Say

    class Entry:
        def __init__(self) -> None:
            self.inputs: list[CallerInput] = []

        def start(self) -> list:  # type: ignore[type-arg]
            return [Say("Key your order number."), Listen(timeout_s=5.0, dtmf_max_digits=6)]

        def handle(self, event: CallerInput) -> list:  # type: ignore[type-arg]
            self.inputs.append(event)
            if len(self.inputs) == 1:
                return [Say("Press 1 if that is right."), Listen(timeout_s=1.0)]
            return [Say("Bye."), Hangup()]

    factory = FakeFactory()
    entry = Entry()
    factory.new_call = lambda info: entry  # type: ignore[method-assign]
    services = fake_services(factory, transcriber=FakeTranscriber("x"), speaker=FakeSpeaker())
    token = services.store.issue_token("CA1")
    keys = [("dtmf", d) for d in "123456#"]
    ws = FakeTwilio(start_msgs(token) + [("frame", SILENCE)] * 10 + keys
                    + [("frame", SILENCE)] * 100)
    play(ws, services)
    assert [e.digits for e in entry.inputs][:1] == ["123456"]
    assert [e.kind for e in entry.inputs][1:] == ["no_input"]  # the # did not answer "press 1"
