"""Playout bookkeeping: marks, the cut at a barge-in, and resuming from the sentence cut."""

from __future__ import annotations

import numpy as np

from ivr.audio import pcm16_to_float, to_phone_ulaw
from ivr.call.playout import Playout, speech_level


def tone(amplitude: float, seconds: float = 0.5) -> bytes:
    t = np.arange(int(8000 * seconds)) / 8000
    return to_phone_ulaw((amplitude * np.sin(2 * np.pi * 300 * t)).astype(np.float32), 8000)


def test_marks_track_what_is_still_playing() -> None:
    p = Playout()
    a = p.add(tone(0.3), True, "One.")
    b = p.add(tone(0.3), True, "Two.")
    assert a and b and a.mark != b.mark and p.playing
    assert not p.played(a.mark)
    assert p.played(b.mark) and not p.playing


def test_cut_holds_then_resume_replays_from_the_cut_sentence() -> None:
    p = Playout()
    first = p.add(tone(0.3), True, "One.")
    p.add(tone(0.3), True, "Two.")
    p.add(tone(0.3), True, "Three.")
    assert first is not None
    p.played(first.mark)  # "One." was heard, "Two." was playing when the caller coughed
    assert p.cut() and p.holding and not p.playing
    assert p.add(tone(0.3), True, "Four.") is None  # rendered after the cut: held, not sent
    again = p.resume()
    assert [s.text for s in again] == ["Two.", "Three.", "Four."]
    assert all(s.mark not in (first.mark,) for s in again) and p.playing and not p.holding


def test_drop_forgets_the_cut_prompt() -> None:
    p = Playout()
    p.add(tone(0.3), True, "One.")
    assert p.cut()
    p.drop()
    assert not p.holding and p.resume() == []


def test_a_prompt_that_may_not_be_interrupted_is_not_cut() -> None:
    p = Playout()
    p.add(tone(0.3), False, "Calls are recorded.")
    assert not p.interruptible and not p.cut() and p.playing


def test_echo_level_follows_what_plays_when() -> None:
    p = Playout()
    p.add(tone(0.5, 1.0), True, "Loud.", now=1.0)
    p.add(tone(0.05, 1.0), True, "Quiet.", now=1.0)  # queued: plays from 2.0 s
    assert p.echo_level(0.5) == 0.0
    loud = p.echo_level(1.5)
    assert loud > 0 and p.echo_level(2.6) < loud / 5
    assert p.echo_level(2.1) == loud  # just after the switch Twilio may still play the loud one


def test_speech_level_follows_loudness() -> None:
    loud, quiet = speech_level(tone(0.5)), speech_level(tone(0.05))
    assert loud > 5 * quiet > 0
    assert speech_level(b"") == 0.0
    assert pcm16_to_float is not None
