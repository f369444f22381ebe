"""Phone-line audio: G.711 mu-law, sample-rate conversion, WAV I/O.

Everything a call carries is 8 kHz mono mu-law (Twilio Media Streams). Whisper wants 16 kHz float,
Piper produces 22.05 kHz int16. These helpers are numpy-only (``audioop`` is gone in Python 3.13)
and vectorised, because they run on every 20 ms frame of every call.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt

PHONE_RATE = 8000
FRAME_MS = 20
FRAME_SAMPLES = PHONE_RATE * FRAME_MS // 1000  # 160 samples = 160 mu-law bytes per Twilio frame

_BIAS = 0x84
_CLIP = 32635

Int16Array = npt.NDArray[np.int16]
FloatArray = npt.NDArray[np.float32]


def _build_decode_table() -> Int16Array:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _build_encode_table() -> npt.NDArray[np.uint8]:
    # Index by (sample >> 2) + 8192, i.e. 14-bit resolution, which is all mu-law keeps anyway.
    samples = (np.arange(16384, dtype=np.int32) - 8192) << 2
    sign = np.where(samples < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(samples), _CLIP) + _BIAS
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    exponent = np.clip(exponent, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8)


_DECODE = _build_decode_table()
_ENCODE = _build_encode_table()


def ulaw_to_pcm16(data: bytes) -> Int16Array:
    """Decode mu-law bytes to int16 samples."""
    return _DECODE[np.frombuffer(data, dtype=np.uint8)]


def pcm16_to_ulaw(samples: Int16Array) -> bytes:
    """Encode int16 samples to mu-law bytes."""
    idx = (samples.astype(np.int32) >> 2) + 8192
    return bytes(_ENCODE[idx])


def float_to_pcm16(samples: FloatArray) -> Int16Array:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


def pcm16_to_float(samples: Int16Array) -> FloatArray:
    return samples.astype(np.float32) / 32768.0


def resample(samples: FloatArray, src_rate: int, dst_rate: int) -> FloatArray:
    """Band-limited resampling by a windowed-sinc polyphase filter (no scipy needed).

    Quality matters in both directions: aliasing on 22.05k->8k makes Piper sound harsh on the
    phone, and on 8k->16k it puts energy where Whisper does not expect it.
    """
    if src_rate == dst_rate or samples.size == 0:
        return samples.astype(np.float32, copy=False)
    ratio = Fraction(dst_rate, src_rate)
    up, down = ratio.numerator, ratio.denominator
    taps = _lowpass(up, down)
    # Polyphase: for each output sample, dot the input window with one phase of the filter.
    n_out = int(np.ceil(samples.size * up / down))
    half = (taps.size // up) // 2 + 1
    padded = np.concatenate(
        [np.zeros(half, np.float32), samples.astype(np.float32), np.zeros(half + 1, np.float32)]
    )
    phases = _phase_bank(taps, up)  # shape (up, width)
    width = phases.shape[1]
    out_idx = np.arange(n_out)
    pos = out_idx * down  # position on the upsampled grid
    base = pos // up
    phase = pos % up
    # Window start in padded input for each output sample.
    starts = base + half - width // 2 + 1
    windows = np.lib.stride_tricks.sliding_window_view(padded, width)
    starts = np.clip(starts, 0, windows.shape[0] - 1)
    out = np.einsum("ij,ij->i", windows[starts], phases[phase]) * up
    return out.astype(np.float32)


_FILTER_CACHE: dict[tuple[int, int], FloatArray] = {}
_PHASE_CACHE: dict[tuple[int, int], FloatArray] = {}


def _lowpass(up: int, down: int, zero_crossings: int = 16) -> FloatArray:
    key = (up, down)
    if key not in _FILTER_CACHE:
        cutoff = 0.5 / max(up, down) * 0.95  # relative to the upsampled rate
        n = 2 * zero_crossings * max(up, down) + 1
        t = np.arange(n) - (n - 1) / 2
        h = 2 * cutoff * np.sinc(2 * cutoff * t) * np.kaiser(n, 8.0)
        _FILTER_CACHE[key] = (h / np.sum(h) * 1.0).astype(np.float32)
    return _FILTER_CACHE[key]


def _phase_bank(taps: FloatArray, up: int) -> FloatArray:
    key = (taps.size, up)
    if key not in _PHASE_CACHE:
        width = int(np.ceil(taps.size / up))
        padded = np.zeros(width * up, np.float32)
        padded[: taps.size] = taps
        # phase p uses taps p, p+up, p+2up, ... ; reversed so it dots with a forward window
        bank = padded.reshape(width, up).T[:, ::-1]
        _PHASE_CACHE[key] = np.ascontiguousarray(bank)
    return _PHASE_CACHE[key]


def to_phone_ulaw(samples: FloatArray, rate: int) -> bytes:
    """Any float mono audio -> what travels on a phone call (8 kHz mu-law)."""
    return pcm16_to_ulaw(float_to_pcm16(resample(samples, rate, PHONE_RATE)))


def read_wav(path: str | Path) -> tuple[FloatArray, int]:
    """Read a PCM WAV (8/16-bit, any rate, mono or stereo mixed down) as float32 mono."""
    with wave.open(str(path), "rb") as w:
        rate = w.getframerate()
        width = w.getsampwidth()
        channels = w.getnchannels()
        raw = w.readframes(w.getnframes())
    if width == 2:
        data = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    elif width == 1:
        data = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 4:
        data = np.frombuffer(raw, dtype="<i4").astype(np.float32) / 2147483648.0
    else:
        raise ValueError(f"{path}: unsupported WAV sample width {width}")
    if channels > 1:
        data = data.reshape(-1, channels).mean(axis=1)
    return data.astype(np.float32), rate


def read_audio(path: str | Path) -> tuple[FloatArray, int]:
    """Read WAV natively; anything else (flac, mp3, ...) through faster-whisper's PyAV decoder."""
    p = Path(path)
    if p.suffix.lower() == ".wav":
        try:
            return read_wav(p)
        except (wave.Error, ValueError):
            pass
    from faster_whisper.audio import decode_audio

    return decode_audio(str(p), sampling_rate=16000).astype(np.float32), 16000


def write_wav(path: str | Path, samples: Int16Array, rate: int) -> None:
    """Write int16 mono PCM."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
