"""Barge-in on a line that plays our audio for real (tests/line_sim.py): real human speech over
the prompt stops it fast; our own prompt echoed back at -20 dB, coughs and noise bursts do not,
and an interruption that turns out not to be words resumes the prompt from the cut sentence.

The bot's prompt is the shop greeting in our Piper voice; callers are
LibriSpeech sentences (arm_mlek_samples) and Speech Commands words; ASR and the engine are
fakes (test_session_pipeline.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ivr.audio import read_audio, resample, to_phone_ulaw
from ivr.call.playout import speech_level
from ivr.session import CallSession

from .conftest import SHARED_DATA
from .fakes import FixedSpeaker, fake_services
from .line_sim import PacedLine, cough, noise_burst, onset_s, place, room

# Speech Commands words of ~0.3 s are below the endpointer's min_speech_s: they are noise to
# the turn-taking (a pre-existing rule), so real barge-ins are played with LibriSpeech sentences.
from .test_session_pipeline import FakeTranscriber

SPEECH = SHARED_DATA / "speech"
PROMPT_START_S = 0.3  # the greeting starts playing about here (stream time)


def _clip(path: Any, seconds: float | None = None) -> np.ndarray:
    if not path.exists():
        pytest.skip(f"shared speech data missing: {path}")
    audio, rate = read_audio(path)
    audio = resample(audio, rate, 8000) if rate != 8000 else audio
    return audio[: int(seconds * 8000)] if seconds else audio


@pytest.fixture(scope="module")
def prompt_ulaw() -> bytes:
    """The example shop's greeting as our Piper voice says it (the product's real prompt)."""
    from ivr.call.completeness import default_completeness
    from ivr.tts import Speaker

    # Load the end-of-turn model's encoder now: loading it inside the first call's first decode
    # takes seconds of wall time on a loaded box while the simulated line runs on.
    model = default_completeness()
    if model is not None:
        model("billing please")

    return Speaker().render("Thanks for calling Example Shop. You can say order status, "
                            "returns, billing, or technical support.", cache=False)



def call(prompt: bytes, caller: np.ndarray, heard: str = "billing please",
         echo_gain: float = 0.1, **echo: Any) -> tuple[PacedLine, Any]:
    services = fake_services(transcriber=FakeTranscriber(heard), speaker=FixedSpeaker(prompt))
    line = PacedLine(services.store.issue_token("CA1"), caller, echo_gain=echo_gain, max_s=14.0,
                     **echo)
    session = CallSession(line, services)
    line.backlog = session.backlog
    session.run()
    return line, services.store.get_record("CA1")


def barge_in_at(record: Any) -> float:
    return next(t.t for t in record.turns if t.kind == "barge_in")


def resumed_at(record: Any) -> float:
    return next(t.t for t in record.turns if t.kind == "resume")


def words(name: str, index: int = 0) -> np.ndarray:
    wavs = sorted((SPEECH / "speech_commands_v001_subset" / "audio" / name).glob("*.wav"))
    if len(wavs) <= index:
        pytest.skip("shared speech data missing")
    return _clip(wavs[index])


def as_loud_as(clip: np.ndarray, ulaw: bytes) -> np.ndarray:
    """Scale a caller clip so its speech level (90th percentile frame RMS) is the prompt's."""
    ref = speech_level(ulaw)
    level = speech_level(to_phone_ulaw(clip, 8000))
    return (clip * (ref / level)).astype(np.float32) if level > 0 else clip


LIBRISPEECH = ["testing_routine", "another_engineer", "another_door", "i_tell_you"]


@pytest.mark.parametrize("name", LIBRISPEECH)
@pytest.mark.parametrize("echo_gain", [0.0, 0.1])
def test_real_speech_over_the_prompt_clears_it_fast(prompt_ulaw: bytes, name: str,
                                                    echo_gain: float) -> None:
    # On a handset (no echo) callers speak at their recorded level; on a speakerphone line that
    # echoes us at -20 dB, as loud as our prompt (a caller much quieter than the echo cannot
    # talk over it: keys still can).
    clip = _clip(SPEECH / "arm_mlek_samples" / "asr" / f"{name}.wav", 2.5)
    if echo_gain:
        clip = as_loud_as(clip, prompt_ulaw)
    at = 1.5
    line, record = call(prompt_ulaw, place(10.0, [(at, clip)]), echo_gain=echo_gain)
    assert "clear" in line.events()
    # Our audio stops within 300 ms of speech onset (stream time, as the server saw it).
    lag = barge_in_at(record) - (at + onset_s(clip))
    assert lag <= 0.3
    assert not any(t.kind == "resume" for t in record.turns)
    assert record.outcome == "transfer: billing"


def test_our_own_echo_does_not_interrupt(prompt_ulaw: bytes) -> None:
    line, record = call(prompt_ulaw, np.zeros(80000, dtype=np.float32), echo_gain=0.1)
    assert "clear" not in line.events()
    assert record.outcome == "transfer: general"  # played out, then no input


@pytest.mark.parametrize("noise", ["cough", "cough2", "burst"])
def test_noise_over_the_prompt_is_ignored_or_resumed_within_a_second(prompt_ulaw: bytes,
                                                                     noise: str) -> None:
    clip = {"cough": cough(0.25, 1), "cough2": cough(0.4, 2, 0.6),
            "burst": noise_burst(0.4, 3)}[noise]
    line, record = call(prompt_ulaw, place(10.0, [(1.5, clip)]), heard="")
    clear = line.first("clear")
    if clear is not None:
        assert line.first("media", after=clear) is not None
        assert resumed_at(record) - barge_in_at(record) <= 1.0


def test_a_barge_in_that_was_not_words_resumes_the_prompt(prompt_ulaw: bytes) -> None:
    # Real speech, but the recogniser finds no words in it (a side conversation, a TV):
    # the prompt is cleared at once, then replayed from the cut sentence.
    line, record = call(prompt_ulaw, place(12.0, [(1.5, words("yes", 0))]), heard="")
    clear = line.first("clear")
    assert clear is not None and line.first("media", after=clear) is not None
    assert resumed_at(record) - barge_in_at(record) <= 1.0
    kinds = [t.kind for t in record.turns]
    assert kinds.index("barge_in") < kinds.index("resume")
    assert record.outcome == "transfer: general"  # then nothing was said: no input


# A speakerphone in a room: our prompt comes back 150 ms late, at -20 dB, through the room.
ROOM = {"echo_delay_s": 0.15, "echo_path": room(1)}


@pytest.mark.parametrize("noise", ["cough", "burst"])
def test_noise_over_a_room_echo_does_not_interrupt(prompt_ulaw: bytes, noise: str) -> None:
    # Before echo cancellation every one of these cut the prompt: the noise passed the energy
    # floor and Silero, hearing our own echoed voice under it, agreed it was speech.
    clip = {"cough": cough(0.35, 2, 0.6), "burst": noise_burst(0.4, 1, 0.3)}[noise]
    line, record = call(prompt_ulaw, place(10.0, [(1.5, clip)]), heard="", **ROOM)
    assert "clear" not in line.events()
    assert record.outcome == "transfer: general"


def test_real_speech_over_a_room_echo_clears_fast(prompt_ulaw: bytes) -> None:
    clip = as_loud_as(_clip(SPEECH / "arm_mlek_samples" / "asr" / "another_door.wav", 2.5),
                      prompt_ulaw)
    line, record = call(prompt_ulaw, place(10.0, [(1.5, clip)]), **ROOM)
    assert barge_in_at(record) - (1.5 + onset_s(clip)) <= 0.3
    assert record.outcome == "transfer: billing"
