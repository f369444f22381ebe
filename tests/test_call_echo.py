"""The echo canceller as a pure function of what we sent and what came back (stream samples).

"Our prompt" is a real recorded voice (LibriSpeech, arm_mlek_samples) through the phone codec,
the echo is that audio back through the codec at -20 dB (later, through a room, where stated),
and "the caller" is another real recording.
"""

from __future__ import annotations

import numpy as np
import pytest

from ivr.audio import read_audio, resample, to_phone_ulaw, ulaw_to_pcm16
from ivr.call.echo import EchoCanceller, EchoConfig

from .conftest import SHARED_DATA
from .line_sim import room

ASR = SHARED_DATA / "speech" / "arm_mlek_samples" / "asr"
START_S = 0.1  # our prompt starts playing here


def voice(name: str) -> np.ndarray:
    path = ASR / f"{name}.wav"
    if not path.exists():
        pytest.skip(f"shared speech data missing: {path}")
    audio, rate = read_audio(path)
    return resample(audio, rate, 8000).astype(np.float32)


def line(prompt: bytes, gain: float, delay_s: float = 0.0, path: np.ndarray | None = None,
         caller: np.ndarray | None = None, caller_at_s: float = 0.0) -> np.ndarray:
    """The inbound stream (int16, from stream time 0): our echo plus the caller, via mu-law."""
    ours = ulaw_to_pcm16(prompt).astype(np.float32) / 32768
    if path is not None:
        ours = np.convolve(ours, path)[: ours.size]
    total = np.zeros(int((START_S + 0.5) * 8000) + ours.size, dtype=np.float32)
    i = int((START_S + delay_s) * 8000)
    total[i : i + ours.size] += gain * ours
    if caller is not None:
        j = int(caller_at_s * 8000)
        seg = caller[: total.size - j]
        total[j : j + seg.size] += seg
    return ulaw_to_pcm16(to_phone_ulaw(np.clip(total, -1, 1), 8000))


def run(ec: EchoCanceller, inbound: np.ndarray) -> np.ndarray:
    out = np.zeros_like(inbound)
    for i in range(0, inbound.size - 159, 160):
        end = i + 160
        frame = inbound[i:end]
        out[i:end] = ec.process(frame, end) if ec.active(end) else frame
    return out


def db(x: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(x.astype(np.float64) ** 2) + 1e-9))


@pytest.fixture(scope="module")
def prompt() -> bytes:
    return to_phone_ulaw(voice("another_engineer"), 8000)


@pytest.mark.parametrize("delay_s,path,erle_db", [
    (0.0, None, 25.0),  # a pure -20 dB echo: codec noise is what is left
    (0.15, room(1), 10.0),  # 150 ms later, through a room
])
def test_locks_on_the_echo_and_cancels_it(prompt: bytes, delay_s: float,
                                          path: np.ndarray | None, erle_db: float) -> None:
    inbound = line(prompt, 0.1, delay_s, path)
    ec = EchoCanceller()
    ec.play(START_S, prompt)
    out = run(ec, inbound)
    assert ec.delay is not None
    assert abs(ec.delay - int(delay_s * 8000)) <= 8  # within a millisecond
    after = slice(int(1.5 * 8000), int(3.5 * 8000))  # once locked and adapted
    assert db(inbound[after]) - db(out[after]) >= erle_db


def test_the_caller_comes_through_and_double_talk_does_not_spoil_the_filter(
        prompt: bytes) -> None:
    caller = voice("i_tell_you")[: int(1.2 * 8000)] * 0.5
    inbound = line(prompt, 0.1, 0.15, room(1), caller, caller_at_s=1.6)
    alone = line(prompt, 0.0, caller=caller, caller_at_s=1.6)  # the caller with no echo
    ec = EchoCanceller()
    ec.play(START_S, prompt)
    out = run(ec, inbound)
    talk = slice(int(1.6 * 8000), int(2.8 * 8000))
    c = np.corrcoef(out[talk].astype(float), alone[talk].astype(float))[0, 1]
    assert c > 0.95  # the residual is the caller
    echo_only = line(prompt, 0.1, 0.15, room(1))
    later = slice(int(2.9 * 8000), int(3.8 * 8000))  # the echo alone again after the caller
    assert db(echo_only[later]) - db(out[later]) >= 10.0


def test_a_line_without_echo_is_left_alone(prompt: bytes) -> None:
    caller = voice("i_tell_you") * 0.3
    inbound = line(prompt, 0.0, caller=caller, caller_at_s=0.2)
    ec = EchoCanceller()
    ec.play(START_S, prompt)
    out = run(ec, inbound)
    assert ec.delay is None and np.array_equal(out, inbound)


def test_nothing_is_predicted_after_a_clear(prompt: bytes) -> None:
    ec = EchoCanceller(EchoConfig(max_delay_s=0.2, taps=64, lead=8))
    ec.play(START_S, prompt)
    assert ec.active(int(0.5 * 8000))
    ec.stop(0.5)
    assert not np.any(ec.reference(int(0.5 * 8000), int(2.0 * 8000)))
    assert ec.active(int(0.6 * 8000))  # the echo of what played before the clear may linger
    assert not ec.active(int(1.0 * 8000))
    ec.play(1.2, prompt)  # resumed: it plays again from here
    assert np.any(ec.reference(int(1.2 * 8000), int(1.5 * 8000)))


def test_disabled_means_never_active(prompt: bytes) -> None:
    ec = EchoCanceller(None)
    ec.play(START_S, prompt)
    assert not ec.active(int(0.5 * 8000))


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        EchoConfig(lead=200, taps=128)
