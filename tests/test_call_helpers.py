"""The small helpers split out of the call session: recording, closing, turn timing."""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.call.closing import APOLOGY, Closing, apology, decision_for
from ivr.call.items import Timing
from ivr.call.recording import CallRecording, add_turn
from ivr.call.timing import TurnTimer
from ivr.caller.fixture import load_fixture
from ivr.dialog import Hangup, Say, Transfer
from ivr.store import CallRecord

from .fakes import FakeFactory


def test_a_sensitive_stretch_is_recorded_as_silence_and_its_keys_redacted(tmp_path: Path) -> None:
    rec = CallRecording(True)
    rec.media(b"\x10" * 160, sensitive=False)
    rec.media(b"\x10" * 160, sensitive=True)
    rec.key(0.5, "4", sensitive=True)
    rec.key(0.7, "1", sensitive=False)
    assert rec.inbound is not None
    assert bytes(rec.inbound[160:]) == b"\xff" * 160
    assert rec.events == [(0.5, "redacted", "dtmf"), (0.7, "dtmf", "1")]
    record = CallRecord("CA9")
    record.outcome = "hangup"
    rec.save(tmp_path, "CA9", record)
    fixture = load_fixture(tmp_path / "CA9")
    assert [e.dtmf for e in fixture.events] == ["1"]


def test_not_recording_keeps_no_audio(tmp_path: Path) -> None:
    rec = CallRecording(False)
    rec.media(b"\x10" * 160, sensitive=False)
    rec.save(tmp_path, "CA9", CallRecord("CA9"))
    assert rec.inbound is None and not any(tmp_path.iterdir())


def test_caller_turns_are_redacted_bot_turns_kept() -> None:
    record = CallRecord("CA1")
    add_turn(record, "bot", "What is your card number?", "say", 1.234, "")
    add_turn(record, "caller", "4111 1111 1111 1111", "speech", 2.0, "card_number")
    assert record.turns[0].text == "What is your card number?" and record.turns[0].t == 1.23
    assert "4111" not in record.turns[1].text
    add_turn(None, "caller", "x", "speech", 0.0, "")  # no record yet: nothing to do


def test_closing_waits_for_our_audio_until_the_deadline() -> None:
    c = Closing()
    assert c.wait_s() is None and not c.due(audio_left=False)
    c.sent(10.0)
    c.decide(decision_for(Hangup("done"), FakeFactory())[0])
    assert not c.due(audio_left=True)  # 10 s of audio + grace to go
    assert c.due(audio_left=False)
    wait = c.wait_s()
    assert wait is not None and wait > 10.0
    c.stopped()  # a clear: nothing plays any more
    c.decide(decision_for(Hangup("done"), FakeFactory())[0])
    wait = c.wait_s()
    assert wait is not None and wait <= 3.0


def test_a_transfer_decision_names_the_group_and_carries_the_intent() -> None:
    decision, outcome, intent = decision_for(Transfer("billing", {"intent": "billing"}),
                                             FakeFactory())
    assert decision.outcome == "transfer" and outcome == "transfer: billing"
    assert intent == "billing"
    said, transfer = apology("general", RuntimeError("boom"))
    assert isinstance(said, Say) and said.text == APOLOGY
    assert isinstance(transfer, Transfer) and transfer.context == {"error": "boom"}


def test_turn_timer_books_the_wait_in_stream_time() -> None:
    t = TurnTimer()
    t.voiced(1.0)
    t.ended(1.3)
    t.pending = Timing(0, 50.0, 5.0)
    record = CallRecord("CA1")
    t.first_audio(record)
    assert len(record.latency_ms) == 1
    assert record.timings[0]["wait_ms"] == pytest.approx(300.0)
    assert record.timings[0]["asr_ms"] == 50.0
    t.first_audio(record)  # the rest of the reply's audio is not another turn
    assert len(record.latency_ms) == 1
    t.commit(2.0)  # a turn that had not ended yet ends at the commit
    t.cancel()  # ... and the caller went on
    t.first_audio(record)
    assert len(record.latency_ms) == 1
