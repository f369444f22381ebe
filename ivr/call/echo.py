"""Echo of our own prompt on the caller's line, cancelled with the audio we know we sent.

A speakerphone (or a hybrid on a PSTN leg) sends part of our prompt back to us. Barge-in must hear
the caller *through* it: webrtcvad and Silero both call our echoed voice "speech", so a cough
during a prompt on such a line looked like a caller talking (the noise passed the energy floor,
the echo made Silero agree). We know exactly what we sent and when Twilio should play it
(:class:`~ivr.call.playout.Segment` ``start``), so:

1. **Bulk delay and gain** by cross-correlating the inbound stream with our outbound audio over
   the last second, lags 0..``max_delay_s`` (the network, Twilio's buffer and the echo path),
   re-tried every ``retry_s`` until the normalised peak passes ``lock_ncc``; no lock (a handset
   line, no echo) means nothing is subtracted.
2. **An adaptive filter** of ``taps`` (32 ms) from just before that delay (a room or a hybrid
   is not a pure gain): a frequency-domain NLMS (overlap-save, one update per 20 ms frame, the
   gradient normalised per bin, which converges on coloured input such as speech where a
   time-domain block update does not), started from the cross-correlation's gain so it cancels
   from its first frame, and adapted only while the residual is not much louder than the
   predicted echo (double talk: the caller's voice must not teach the filter).
3. **Muting the leak**: a frame whose residual is far below the predicted echo is what the
   filter missed of our voice; it goes on as silence, so the VADs hear what a handset line
   gives them.

:meth:`EchoCanceller.process` returns the residual (the caller, with what is left of our echo),
which the session feeds to the VADs and the turn's audio while our audio may be echoing. Pure
numpy, stream samples only; a frame costs four 512-point real FFTs (~0.2 ms of CPU on a loaded
2-core box).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ivr.audio import PHONE_RATE, ulaw_to_pcm16

FRAME = PHONE_RATE // 50


@dataclass(frozen=True, slots=True)
class EchoConfig:
    max_delay_s: float = 0.5
    window_s: float = 0.8
    retry_s: float = 0.5
    lock_ncc: float = 0.3
    """Normalised cross-correlation at the best lag that says "this line echoes us"."""
    taps: int = 256
    lead: int = 32
    """Filter taps before the bulk delay (the estimate may be a few samples late)."""
    mu: float = 0.3
    double_talk: float = 4.0
    """Adapt only while residual power <= this x predicted echo power."""
    min_ref_rms: float = 200.0
    """PCM16 RMS: a quieter stretch of our audio teaches the filter nothing."""
    mute_below: float = 0.5
    """A residual quieter than this x the predicted echo is what the filter missed of our own
    voice, not the caller: it is muted. Silero, fed that faint leak of speech for seconds, was
    primed to call the next cough speech (p 0.78 against 0.2 on a silent handset line)."""

    def __post_init__(self) -> None:
        if not (self.max_delay_s > 0 and self.window_s > 0 and 0 < self.lock_ncc < 1
                and 0 <= self.lead < self.taps and 0 < self.mu < 1):
            raise ValueError("EchoConfig: need positive delays/window, 0 < lock_ncc < 1, "
                             "0 <= lead < taps and 0 < mu < 1")


DEFAULT = EchoConfig()


class EchoCanceller:
    """Fed every inbound frame (int16, the one ending at stream sample ``end``) while our audio
    may be echoing; :meth:`play` is told every segment we send, :meth:`stop` every ``clear``."""

    def __init__(self, config: EchoConfig | None = DEFAULT) -> None:
        self.enabled = config is not None  # None: a line we never cancel on
        self.config = config or EchoConfig()
        self._segments: list[tuple[int, np.ndarray]] = []  # (start sample, float32 pcm)
        self._stopped_at: int | None = None
        cfg = self.config
        self._inbound = np.zeros(int(cfg.window_s * PHONE_RATE), dtype=np.float32)
        self._filled = 0
        self._next_try = 0
        self.delay: int | None = None  # samples; None until locked
        self.ncc = 0.0
        self._size = 1 << int(np.ceil(np.log2(cfg.taps + FRAME)))  # FFT size for a frame
        self._W = np.zeros(self._size // 2 + 1, dtype=np.complex128)  # the filter, per bin
        self._power = np.zeros(self._size // 2 + 1, dtype=np.float64)
        self.echo_rms = 0.0  # predicted echo in the last frame
        self.residual_rms = 0.0

    # ------------------------------------------------------------------ our side
    def play(self, start_s: float, ulaw: bytes) -> None:
        start = int(round(start_s * PHONE_RATE))
        pcm = ulaw_to_pcm16(ulaw).astype(np.float32)
        if self._stopped_at is not None and start >= self._stopped_at:
            self._stopped_at = None
        self._segments.append((start, pcm))

    def stop(self, at_s: float) -> None:
        """``clear``: nothing we sent plays after stream time ``at_s``."""
        self._stopped_at = int(round(at_s * PHONE_RATE))
        self._segments = [(s, p[: max(0, self._stopped_at - s)]) for s, p in self._segments
                          if s < self._stopped_at]

    def active(self, end: int) -> bool:
        """Could the frame ending at ``end`` carry an echo of ours?"""
        if not self.enabled:
            return False
        lo = end - FRAME - int(self.config.max_delay_s * PHONE_RATE) - self.config.taps
        return any(s + p.size > lo and s < end for s, p in self._segments)

    def reference(self, a: int, b: int) -> np.ndarray:
        """Our audio as played over stream samples [a, b) (zeros where nothing played)."""
        out = np.zeros(b - a, dtype=np.float32)
        for s, p in self._segments:
            lo, hi = max(a, s), min(b, s + p.size)
            if hi > lo:
                out[lo - a : hi - a] = p[lo - s : hi - s]
        return out

    # ------------------------------------------------------------------ their side
    def process(self, frame: np.ndarray, end: int) -> np.ndarray:
        """The residual of the inbound ``frame`` (int16) once our echo is taken out."""
        cfg = self.config
        x = frame.astype(np.float32)
        n = x.size
        self._inbound[:-n] = self._inbound[n:]  # shift in place (np.roll allocates)
        self._inbound[-n:] = x
        self._filled = min(self._inbound.size, self._filled + n)
        self._segments = [(s, p) for s, p in self._segments
                          if s + p.size > end - 4 * PHONE_RATE]
        if self.delay is None:
            if end >= self._next_try and self._filled == self._inbound.size:
                self._next_try = end + int(cfg.retry_s * PHONE_RATE)
                self._estimate(end)
            if self.delay is None:
                self.echo_rms, self.residual_rms = 0.0, float(np.sqrt(np.mean(x ** 2)))
                return frame
        d0 = max(0, self.delay - cfg.lead)
        size, taps = self._size, cfg.taps
        # Overlap-save: the last ``size`` reference samples before this frame's output (shifted
        # by the bulk delay); the last n outputs of the circular product are the linear ones.
        r = self.reference(end - d0 - size, end - d0).astype(np.float64)
        R = np.fft.rfft(r)
        y = np.fft.irfft(R * self._W, size)[-n:]
        e = x - y
        py, pe = float(np.mean(y ** 2)), float(np.mean(e ** 2))
        ref_rms = float(np.sqrt(np.mean(r[-n:] ** 2)))
        if ref_rms >= cfg.min_ref_rms and pe <= cfg.double_talk * py + 1.0:
            # Per-bin normalised gradient (fast on coloured input such as speech), constrained
            # to ``taps`` coefficients so the circular product stays a linear filter.
            power = np.abs(R) ** 2
            self._power = power if not self._power.any() else 0.9 * self._power + 0.1 * power
            E = np.fft.rfft(np.concatenate([np.zeros(size - n), e]))
            g = np.fft.irfft(np.conj(R) * E / (self._power + 1e-3 * float(np.mean(self._power))
                                               + 1.0), size)
            g[taps:] = 0.0
            self._W += cfg.mu * np.fft.rfft(g)
        self.echo_rms, self.residual_rms = float(np.sqrt(py)), float(np.sqrt(pe))
        if self.residual_rms < cfg.mute_below * self.echo_rms:
            return np.zeros_like(frame)
        return np.clip(np.round(e), -32768, 32767).astype(np.int16)

    def _estimate(self, end: int) -> None:
        """Bulk delay and gain: the lag where the last ``window_s`` of inbound audio best
        matches our audio (normalised cross-correlation), if it matches well enough."""
        cfg = self.config
        m = self._inbound.size
        lag_max = int(cfg.max_delay_s * PHONE_RATE)
        ref = self.reference(end - m - lag_max, end).astype(np.float64)
        if float(np.sqrt(np.mean(ref[-m:] ** 2))) < cfg.min_ref_rms and \
                float(np.sqrt(np.mean(ref ** 2))) < cfg.min_ref_rms:
            return
        d = self._inbound.astype(np.float64)
        size = 1 << int(np.ceil(np.log2(ref.size + m)))
        corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(d, size)), size)
        # corr[j] = sum_t ref[j + t] * d[t]; lag L means d[t] ~ ref[lag_max + t - L]
        lags = np.arange(lag_max + 1)
        c = corr[lag_max - lags]
        energy = np.cumsum(np.concatenate([[0.0], ref ** 2]))
        ref_e = energy[lag_max - lags + m] - energy[lag_max - lags]
        d_e = float(np.sum(d ** 2))
        ncc = c / np.sqrt(ref_e * d_e + 1e-9)
        best = int(np.argmax(ncc))
        self.ncc = float(ncc[best])
        if self.ncc < cfg.lock_ncc:
            return
        self.delay = best
        w = np.zeros(self._size)
        w[min(cfg.lead, best)] = float(c[best] / (ref_e[best] + 1e-9))
        self._W = np.fft.rfft(w)
