"""The barge-in decision as a pure state machine: per-frame booleans and numbers in stream time.

A run of frames counts towards a barge-in; it fires once ``min_speech_s`` of it has come, Silero
agrees, and (where the session measures it) enough of the run had a voice's pitch.
"""

from __future__ import annotations

import numpy as np
import pytest

from ivr.audio import read_audio, resample, to_phone_ulaw, ulaw_to_pcm16
from ivr.call.bargein import BargeIn, BargeInConfig, Voicing

from .conftest import SHARED_DATA
from .line_sim import cough, noise_burst, onset_s

F = 0.02  # one frame of stream time


def run(b: BargeIn, frames: str, prob: float = 0.9, pitch: str | None = None) -> list[bool]:
    """'s' a frame counted as speech, '.' not; ``pitch``: 'p' periodic, '-' not, per frame."""
    out = []
    for i, ch in enumerate(frames):
        periodicity = None if pitch is None else (0.9 if pitch[i] == "p" else 0.1)
        out.append(b.feed(F, ch == "s", prob, periodicity))
    return out


def test_no_pitch_no_barge_in_however_long_and_however_sure_silero_is() -> None:
    b = BargeIn()
    assert not any(run(b, "s" * 30, 0.99, "-" * 30))  # a 600 ms burst of noise


def test_fires_once_the_run_is_long_enough_and_has_pitch() -> None:
    b = BargeIn()  # 160 ms, 2 periodic frames
    fired = run(b, "s" * 12, 0.9, "--" + "-" * 5 + "ppp" + "pp")  # vowel from the 8th frame
    assert fired.index(True) == 8  # 9 frames: 8 long enough, 2 periodic by the 9th
    assert fired.count(True) == 1
    b.reset()
    fired = run(b, "s" * 10, 0.9, "p" * 10)  # voiced from the onset
    assert fired.index(True) == 7  # min_speech_s decides: 160 ms


def test_a_long_gap_forgets_the_pitch_seen_before_it() -> None:
    b = BargeIn(BargeInConfig(max_gap_s=0.04))
    frames = "ssss" + "...." + "ssssssss"
    pitch = "ppp-" + "----" + "--------"
    assert not any(run(b, frames, 0.9, pitch))  # the vowel before the 80 ms gap is gone


def test_pitched_frames_must_come_together_not_by_chance_over_a_long_run() -> None:
    b = BargeIn(BargeInConfig(min_periodic_frames=3))  # 3 among the run's last 6
    noise = "p----" * 8  # loud noise crossing the threshold every 100 ms, 800 ms long
    assert not any(run(b, "s" * len(noise), 0.99, noise))
    b.reset()
    vowel = "-" * 9 + "p-pp"  # a consonant, then a vowel
    fired = run(b, "s" * len(vowel), 0.99, vowel)
    assert fired.index(True) == 12
    b = BargeIn()  # the default: 2 among the last 6
    noise = "p------" * 6  # a chance crossing every 140 ms never has a second within 6 frames
    assert not any(run(b, "s" * len(noise), 0.99, noise))
    b.reset()
    assert run(b, "s" * len(vowel), 0.99, vowel).index(True) == 11  # the vowel's second frame
    with pytest.raises(ValueError):
        BargeInConfig(periodic_window=1)  # a window smaller than the frames it must hold


def test_without_a_pitch_measure_the_old_rule_holds() -> None:
    b = BargeIn()
    assert run(b, "s" * 8, 0.9).index(True) == 7
    b.reset()
    assert not any(run(b, "s" * 8, 0.2))  # Silero says no: a cough
    assert not any(BargeIn(BargeInConfig(min_periodic_frames=0)).feed(F, True, 0.2, 0.3)
                   for _ in range(10))


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        BargeInConfig(neural_threshold=1.5)


def _frames(audio: np.ndarray) -> list[np.ndarray]:
    pcm = ulaw_to_pcm16(to_phone_ulaw(audio, 8000))
    return [pcm[i : i + 160] for i in range(0, pcm.size - 159, 160)]


def test_voicing_tells_a_voice_from_a_cough_and_a_burst() -> None:
    path = SHARED_DATA / "speech" / "arm_mlek_samples" / "asr" / "another_engineer.wav"
    if not path.exists():
        pytest.skip(f"shared speech data missing: {path}")
    audio, rate = read_audio(path)
    speech = resample(audio, rate, 8000).astype(np.float32)
    start = int(onset_s(speech) * 8000)

    def periodic_frames(clip: np.ndarray) -> int:
        v = Voicing()
        return sum(v.feed(f) >= BargeInConfig().periodic_threshold for f in _frames(clip)[:10])

    assert periodic_frames(speech[start : start + 1600]) >= 3  # within 200 ms of the onset
    assert periodic_frames(cough(0.3, 1, 0.6)) == 0
    assert periodic_frames(noise_burst(0.3, 2)) == 0
    assert Voicing().feed(np.zeros(160, dtype=np.int16)) == 0.0  # silence: nothing to say


def test_room_noise_has_no_pitch_once_its_spectrum_is_whitened() -> None:
    """The room noise before a Speech Commands word (train split, a tuning-set clip): its
    energy sits low, so the waveform's own autocorrelation is high at every lag and read as a
    voice's pitch in most of its frames. The LPC residual of the same frames has none, so 3
    "periodic" frames never come together."""
    path = (SHARED_DATA / "speech" / "speech_commands_v001_subset" / "audio" / "on"
            / "fac74f6a_nohash_1.wav")
    if not path.exists():
        pytest.skip(f"shared speech data missing: {path}")
    audio, rate = read_audio(path)
    noise = resample(audio, rate, 8000).astype(np.float32)[: int(0.4 * 8000)]
    noise = noise * (0.056 / float(np.sqrt(np.mean(noise ** 2))))  # -25 dBFS
    thr = BargeInConfig().periodic_threshold
    v = Voicing()
    periodic = [v.feed(f) >= thr for f in _frames(noise)]
    assert max(sum(periodic[i : i + 8]) for i in range(len(periodic) - 7)) < 3

    def raw_periodicity(frames: list[np.ndarray]) -> list[float]:  # no whitening: the old check
        out, prev = [], np.zeros(160, dtype=np.float64)
        for f in frames:
            x = np.concatenate([prev, f.astype(np.float64)])
            prev = x[160:]
            x -= x.mean()
            a = x[Voicing.MAX_LAG :]
            r = [float(np.dot(a, x[Voicing.MAX_LAG - k : x.size - k])
                       / np.sqrt(np.dot(a, a) * np.dot(x[Voicing.MAX_LAG - k : x.size - k],
                                                       x[Voicing.MAX_LAG - k : x.size - k])))
                 for k in range(Voicing.MIN_LAG, Voicing.MAX_LAG + 1)]
            out.append(max(r))
        return out

    assert sum(p >= 0.6 for p in raw_periodicity(_frames(noise))) >= 10  # what fooled it

