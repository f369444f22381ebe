"""Endpointing as a pure state machine, fed booleans."""

from __future__ import annotations

import numpy as np
import pytest

from ivr.vad import EndpointConfig, Endpointer, EndpointEvent, FrameClassifier, sounds_complete

F = 0.02  # 20 ms frames


def run(ep: Endpointer, pattern: str) -> list[tuple[EndpointEvent, float]]:
    """'s' = speech frame, '.' = silence frame."""
    out = []
    for ch in pattern:
        e = ep.feed(F, ch == "s")
        if e is not None:
            out.append((e.event, round(e.at_s, 2)))
    return out


def cfg(**kw: float) -> EndpointConfig:
    base = dict(start_s=0.06, end_silence_s=0.1, min_speech_s=0.1, max_utterance_s=1.0,
                pause_s=1.0)
    base.update(kw)
    return EndpointConfig(**base)


def test_silence_never_starts() -> None:
    assert run(Endpointer(cfg()), "." * 100) == []


def test_speech_then_silence_ends_after_configured_silence() -> None:
    events = run(Endpointer(cfg()), "..sssssss.....")
    assert events == [(EndpointEvent.SPEECH_STARTED, 0.1), (EndpointEvent.SPEECH_ENDED, 0.28)]


def test_speech_start_reports_where_speech_began() -> None:
    ep = Endpointer(cfg())
    for ch in "...sss":
        e = ep.feed(F, ch == "s")
    assert e is not None and e.event is EndpointEvent.SPEECH_STARTED
    assert e.speech_start_s == pytest.approx(0.06)


def test_short_click_does_not_start() -> None:
    assert run(Endpointer(cfg()), "..ss....s...") == []


def test_pause_shorter_than_end_silence_keeps_utterance_open() -> None:
    events = run(Endpointer(cfg()), "ssssss....ssss......")
    assert [e for e, _ in events] == [EndpointEvent.SPEECH_STARTED, EndpointEvent.SPEECH_ENDED]


def test_too_short_utterance_is_discarded() -> None:
    events = run(Endpointer(cfg(min_speech_s=0.2)), "ssss......")
    assert [e for e, _ in events] == [EndpointEvent.SPEECH_STARTED, EndpointEvent.SPEECH_DISCARDED]


def test_max_length_cuts_a_caller_who_never_pauses() -> None:
    events = run(Endpointer(cfg(max_utterance_s=0.5)), "s" * 60)
    ended = [(e, t) for e, t in events if e is EndpointEvent.SPEECH_ENDED]
    assert ended and ended[0][1] == pytest.approx(0.5, abs=0.03)
    # and it can start again afterwards
    assert events.count((EndpointEvent.SPEECH_STARTED, events[0][1])) == 1
    assert len([e for e, _ in events if e is EndpointEvent.SPEECH_STARTED]) >= 2


def test_two_utterances() -> None:
    events = run(Endpointer(cfg()), "sssss......sssss......")
    assert [e.value for e, _ in events] == ["speech_started", "speech_ended"] * 2


def test_invalid_config() -> None:
    with pytest.raises(ValueError):
        EndpointConfig(end_silence_s=0)
    with pytest.raises(ValueError):
        EndpointConfig(min_speech_s=2, max_utterance_s=1)


def test_frame_classifier_on_real_signals() -> None:
    vad = FrameClassifier(aggressiveness=2)
    assert not vad.is_speech(np.zeros(160, dtype=np.int16))
    rng = np.random.default_rng(0)
    assert not vad.is_speech((rng.standard_normal(160) * 20).astype(np.int16))  # line hiss
    with pytest.raises(ValueError):
        vad.is_speech(np.zeros(100, dtype=np.int16))


def test_pause_is_reported_once_before_the_end() -> None:
    events = run(Endpointer(cfg(pause_s=0.04, end_silence_s=0.1)), "ssssss.......")
    assert [e.value for e, _ in events] == ["speech_started", "speech_paused", "speech_ended"]
    paused_at = events[1][1]
    assert paused_at == pytest.approx(0.12 + 0.04)


def test_pause_again_after_caller_resumes() -> None:
    events = run(Endpointer(cfg(pause_s=0.04, end_silence_s=0.2)), "sssss...sssss..........")
    assert [e.value for e, _ in events] == [
        "speech_started", "speech_paused", "speech_paused", "speech_ended"]


def test_no_pause_for_a_too_short_blip() -> None:
    events = run(Endpointer(cfg(pause_s=0.04, min_speech_s=0.2)), "sss........")
    assert "speech_paused" not in [e.value for e, _ in events]


def test_end_now_finishes_the_utterance() -> None:
    ep = Endpointer(cfg(pause_s=0.04, end_silence_s=1.0))
    run(ep, "ssssss...")
    end = ep.end_now()
    assert end is not None and end.event is EndpointEvent.SPEECH_ENDED and end.reason == "complete"
    assert not ep.in_speech and ep.end_now() is None


@pytest.mark.parametrize("text,complete", [
    ("I have a question about my bill.", True),
    ("Billing.", True),
    ("Billing, please.", True),
    ("Hi.", False),
    ("Okay, so.", False),
    ("Hi, billing please.", True),
    ("Where is my order?", True),
    ("Yes.", True),
    ("I want to", False),
    ("I want to.", False),  # Whisper sometimes punctuates a cut-off clause
    ("My order number is", False),
    ("I need help with my", False),
    ("So...", False),
    ("and then", False),
    ("", False),
])
def test_sounds_complete(text: str, complete: bool) -> None:
    assert sounds_complete(text) is complete
