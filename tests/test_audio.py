"""Phone-line codec and resampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ivr.audio import pcm16_to_ulaw, read_wav, resample, to_phone_ulaw, ulaw_to_pcm16, write_wav


def test_ulaw_known_values() -> None:
    # G.711: 0 encodes to 0xFF, full-scale positive to 0x80, negative to 0x00.
    assert pcm16_to_ulaw(np.array([0, 32767, -32768], dtype=np.int16)) == b"\xff\x80\x00"
    assert list(ulaw_to_pcm16(b"\xff\x7f")) == [0, 0]


def test_ulaw_round_trip_is_close() -> None:
    x = (np.sin(np.linspace(0, 40, 8000)) * 20000).astype(np.int16)
    y = ulaw_to_pcm16(pcm16_to_ulaw(x))
    err = np.abs(x.astype(np.int32) - y.astype(np.int32))
    assert np.max(err) <= np.maximum(np.abs(x.astype(np.int32)) // 16, 8).max()


def test_real_twilio_frame_decodes(twilio_data: Path) -> None:
    pcm = ulaw_to_pcm16((twilio_data / "first_media_payload.ulaw").read_bytes())
    assert pcm.shape == (160,)
    assert 0 < np.abs(pcm).max() < 32768


def _tone(freq: float, rate: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_resample_keeps_in_band_tone_and_removes_aliases() -> None:
    out = resample(_tone(440, 22050), 22050, 8000)
    assert out.size == 8000
    assert 0.45 < np.abs(out[200:-200]).max() < 0.55
    # 6 kHz cannot exist at 8 kHz: it must be filtered, not folded to 2 kHz.
    assert np.abs(resample(_tone(6000, 22050), 22050, 8000)[200:-200]).max() < 0.01


def test_upsample_phone_to_whisper_rate() -> None:
    out = resample(_tone(300, 8000), 8000, 16000)
    assert out.size == 16000 and 0.45 < np.abs(out[200:-200]).max() < 0.55


def test_to_phone_ulaw_length() -> None:
    assert len(to_phone_ulaw(_tone(440, 16000, 0.5), 16000)) == 4000


def test_wav_round_trip(tmp_path: Path) -> None:
    x = (np.arange(800) % 200 * 100).astype(np.int16)
    write_wav(tmp_path / "a.wav", x, 8000)
    y, rate = read_wav(tmp_path / "a.wav")
    assert rate == 8000 and np.allclose(y * 32768, x)
