"""Turn-taking and barge-in as pure state machines, fed booleans and stream time."""

from __future__ import annotations

import numpy as np
import pytest

from ivr.call.bargein import BargeIn, BargeInConfig
from ivr.call.items import Heard
from ivr.call.turntaking import Act, TurnTaker
from ivr.vad import EndpointConfig

FRAME = np.zeros(160, dtype=np.int16)
CFG = EndpointConfig(start_s=0.06, end_silence_s=0.6, min_speech_s=0.1, pause_s=0.2)


def feed(tt: TurnTaker, pattern: str, accepting: bool = True) -> list[tuple[int, Act]]:
    """'s' speech frame, '.' silence; returns (frame index, act) for every action."""
    out = []
    for i, ch in enumerate(pattern):
        a = tt.feed(FRAME, ch == "s", accepting)
        if a is not None:
            out.append((i, a.act))
    return out


def heard(seq: int, text: str) -> Heard:
    return Heard(0, seq, text, 0.9, "", 50.0)


def test_pause_asks_for_a_guess_and_silence_ends_the_turn() -> None:
    tt = TurnTaker(CFG)
    acts = feed(tt, "ssssssssss" + "." * 40)
    assert [a for _, a in acts] == [Act.STARTED, Act.TRANSCRIBE, Act.ENDED]
    assert acts[1][0] == 9 + 10 and acts[2][0] == 9 + 30  # 200 ms pause, 600 ms end
    assert tt.pending
    done = tt.heard(heard(1, "I need to talk to someone"))
    assert done is not None and done.act is Act.COMMIT and not done.early


def test_complete_words_end_the_turn_at_the_pause() -> None:
    tt = TurnTaker(CFG)
    feed(tt, "ssssssssss" + "." * 10)
    done = tt.heard(heard(1, "Billing, please."))
    assert done is not None and done.act is Act.COMMIT and done.early
    assert not tt.in_speech and feed(tt, "." * 40) == []


def test_a_fragment_lengthens_the_wait() -> None:
    tt = TurnTaker(CFG)
    feed(tt, "ssssssssss" + "." * 10)
    hold = tt.heard(heard(1, "I got a bill for"))
    assert hold is not None and hold.act is Act.HOLD
    # 600 ms of silence would have ended it; now 1.4 s are needed (1.2 s more after the guess).
    acts = feed(tt, "." * 50)
    assert acts == []
    acts = feed(tt, "." * 20)
    assert acts == [(9, Act.COMMIT)]  # 1.4 s of silence; the guess's words stand


def test_caller_goes_on_after_the_fragment_one_turn() -> None:
    tt = TurnTaker(CFG)
    feed(tt, "ssssssssss" + "." * 10)
    tt.heard(heard(1, "I got a bill for"))
    acts = feed(tt, "." * 30 + "ssssssssss" + "." * 10)  # a 800 ms pause, then the rest
    assert [a for _, a in acts] == [Act.TRANSCRIBE]
    assert tt.heard(heard(1, "stale")) is None  # the first guess no longer counts
    done = tt.heard(heard(2, "I got a bill for twenty dollars I don't recognise."))
    assert done is not None and done.act is Act.COMMIT and done.heard is not None
    assert "twenty" in done.heard.text


def test_a_guess_is_unwanted_once_the_caller_goes_on() -> None:
    """What a worker asks before it starts a queued decode (the session's ASR job skips it)."""
    tt = TurnTaker(CFG)
    feed(tt, "ssssssssss" + "." * 10)
    assert tt.wanted(1) and not tt.wanted(2)
    feed(tt, "sss")  # the caller talks again: that guess is stale
    assert not tt.wanted(1)
    feed(tt, "." * 10)
    assert tt.wanted(2) and not tt.wanted(1)
    tt.heard(heard(2, "Billing, please."))  # committed: nothing is outstanding
    assert not tt.wanted(2)


def test_speech_while_not_accepting_is_not_a_turn() -> None:
    acts = feed(TurnTaker(CFG), "ssssssssss" + "." * 40, accepting=False)
    assert [a for _, a in acts] == [Act.STARTED, Act.NOISE]


def test_a_blip_is_noise() -> None:
    acts = feed(TurnTaker(CFG), "ssss" + "." * 40)
    assert [a for _, a in acts] == [Act.STARTED, Act.NOISE]


def test_barge_in_needs_enough_speech() -> None:
    b = BargeIn(BargeInConfig(min_speech_s=0.2, max_gap_s=0.04))
    fired = [b.feed(0.02, ch == "s") for ch in "sssss...sssss" + "ssssssssss"]
    assert fired.index(True) == 8 + 10 - 1  # 10 speech frames after the 60 ms gap reset it
    assert fired.count(True) == 1
    b.reset()
    assert not any(b.feed(0.02, ch == "s") for ch in "ssss.ssss.")  # short gaps, too little


@pytest.mark.parametrize("rms,echo,counts", [
    (3000.0, 0.0, True),  # nothing playing: webrtcvad decides
    (300.0, 3000.0, False),  # -20 dB echo of our prompt
    (2500.0, 3000.0, True),  # the caller over the prompt
])
def test_barge_in_frame_gating(rms: float, echo: float, counts: bool) -> None:
    assert BargeIn().counts(True, rms, echo) is counts
    assert BargeIn().counts(False, rms, echo) is False


def test_the_neural_vad_must_confirm_the_run() -> None:
    b = BargeIn(BargeInConfig(min_speech_s=0.1))
    assert not any(b.feed(0.02, True, 0.1) for _ in range(20))  # loud, not a voice: a cough
    b.reset()
    fired = [b.feed(0.02, True, p) for p in (0.05, 0.1, 0.3, 0.7, 0.9, 0.9, 0.9)]
    assert fired == [False] * 4 + [True, False, False]  # 5 frames, and Silero agrees by then


def test_echo_gain_is_measured_while_we_play() -> None:
    b = BargeIn()
    assert b.echo_gain == b.config.max_echo_gain  # nothing measured: assume a loud echo
    for _ in range(100):  # a handset: nothing of our prompt comes back
        b.counts(False, 20.0, 4000.0)
    assert b.echo_gain == b.config.min_echo_gain
    assert b.counts(True, 500.0, 4000.0)  # so a quiet caller still gets through
    for _ in range(100):  # ... and the caller's own speech does not raise the floor
        b.counts(True, 3000.0, 4000.0)
    assert b.echo_gain == b.config.min_echo_gain
    echo = BargeIn()
    for _ in range(100):  # a speakerphone at -20 dB
        echo.counts(True, 400.0, 4000.0)
    assert 0.09 < echo.echo_gain < 0.11
    assert not echo.counts(True, 500.0, 4000.0)


def test_a_fragment_heard_after_the_silence_ran_out_still_holds() -> None:
    tt = TurnTaker(CFG)
    feed(tt, "ssssssssss" + "." * 30)  # ended by silence while the pause's decode still runs
    hold = tt.heard(heard(1, "I got a bill for"))
    assert hold is not None and hold.act is Act.HOLD and tt.pending
    acts = feed(tt, "." * 5 + "ssssssssss" + "." * 10)  # the caller goes on within 1.4 s
    assert [a for _, a in acts] == [Act.STARTED, Act.TRANSCRIBE]
    tt2 = TurnTaker(CFG)
    feed(tt2, "ssssssssss" + "." * 30)
    tt2.heard(heard(1, "I got a bill for"))
    acts = feed(tt2, "." * 60)
    assert [a for _, a in acts] == [Act.COMMIT]
    assert acts[0][0] == 70 - 30 - 1  # 1.4 s after the speech ended


def test_going_on_while_the_last_decode_runs_continues_the_turn() -> None:
    tt = TurnTaker(CFG)
    feed(tt, "ssssssssss" + "." * 30)  # ended by silence; the decode is still running
    acts = feed(tt, "sssssssssss" + "." * 10)  # the caller goes on before it returns
    assert [a for _, a in acts] == [Act.STARTED, Act.TRANSCRIBE]
    assert tt.heard(heard(1, "I need to speak.")) is None  # that decode no longer counts
    done = tt.heard(heard(2, "I need to speak to someone."))
    assert done is not None and done.act is Act.COMMIT and done.audio is not None
    assert done.audio.size >= 21 * 160  # both parts


def test_no_guess_while_the_asr_is_saturated_one_decode_at_the_end() -> None:
    busy = [True]
    tt = TurnTaker(CFG, may_speculate=lambda: not busy[0])
    acts = feed(tt, "ssssssssss" + "." * 40)
    # No speculative decode at the pause: the silence ends the turn and asks for one decode.
    assert [a for _, a in acts] == [Act.STARTED, Act.TRANSCRIBE]
    assert acts[1][0] == 9 + 30
    assert tt.skipped == 1 and tt.speculated == 0
    done = tt.heard(heard(1, "I need to talk to someone"))
    assert done is not None and done.act is Act.COMMIT
    busy[0] = False
    acts = feed(tt, "ssssssssss" + "." * 10)
    assert [a for _, a in acts] == [Act.STARTED, Act.TRANSCRIBE]  # idle again: a guess
    assert tt.speculated == 1


def test_services_speculate_only_while_the_asr_has_a_free_slot() -> None:
    from dataclasses import replace

    from ivr.asr import AsrConfig, Transcriber

    from .fakes import fake_services

    class Busy:  # the real Transcriber's load figures, without loading a model
        config = AsrConfig(workers=2)
        _load = 0
        load = Transcriber.load
        saturated = Transcriber.saturated

    asr = Busy()
    sv = fake_services(transcriber=asr)
    assert sv.may_speculate()
    asr._load = 1
    assert sv.may_speculate()  # one decode runs, the second slot is free
    asr._load = 2
    assert not sv.may_speculate()
    assert replace(sv, speculate_when_busy=True).may_speculate()
    sv.executor.shutdown()


def test_the_asr_job_skips_an_unwanted_guess() -> None:
    """The worker side of ``wanted``: no decode, no item (an empty Heard would read as noise)."""
    from ivr.call import work

    class Asr:
        calls = 0

        def transcribe_phone(self, audio: np.ndarray, hints: tuple[str, ...]) -> Heard:
            Asr.calls += 1
            return heard(1, "Billing, please.")

    audio = np.zeros(1600, np.int16)
    stale = work.transcribe(Asr(), audio, (), 0, 1, None, False, lambda: False)
    assert list(stale()) == [] and Asr.calls == 0
    live = work.transcribe(Asr(), audio, (), 0, 1, None, False, lambda: True)
    items = list(live())
    assert Asr.calls == 1 and len(items) == 1 and isinstance(items[0], Heard)
