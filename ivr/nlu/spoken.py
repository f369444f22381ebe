"""The spoken channel: text -> Piper -> phone line (8 kHz mu-law) -> the real ASR -> text.

What callers' words look like by the time the engine reads them. Used to measure the
understanding layer on speech (``bench/understanding.py``, ``ivr eval``) and to train on
ASR-noised copies of a plan's examples. Each (text, voice style, hints, ASR model) is spoken and
transcribed once: results are cached on disk (:func:`ivr.nlu.calibration.cache_dir`, outside
the repository), so reruns cost nothing but the lookups.

Voice styles vary Piper's speed and noise, shift the pitch (resampling) and add line noise, so
the ASR does not only hear one perfectly regular speaker. ``BOT_STYLES`` are the project's own
voice settings (what the benchmark uses); ``EVAL_STYLES`` are deliberately unlike the bot's (what
``ivr eval`` uses, so an operator's check is not flattered by the bot's own voice).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ivr.audio import FloatArray, resample, to_phone_ulaw, ulaw_to_pcm16
from ivr.nlu.calibration import cache_dir

log = logging.getLogger(__name__)

SPOKEN_VERSION = 2


@dataclass(frozen=True, slots=True)
class VoiceStyle:
    """How one synthetic caller speaks: Piper settings, pitch factor, line noise."""

    length_scale: float = 1.0
    noise_scale: float = 0.667
    noise_w_scale: float = 0.8
    pitch: float = 1.0
    """>1 higher and faster (the audio is resampled by this factor)."""
    noise_db: float = -60.0
    """White line noise level relative to full scale."""


BOT_STYLES = (VoiceStyle(),)
"""The bot's own voice settings (ivr.tts defaults)."""
EVAL_STYLES = (
    VoiceStyle(length_scale=1.15, noise_scale=0.8, noise_w_scale=1.0, pitch=0.9, noise_db=-42),
    VoiceStyle(length_scale=0.85, noise_scale=0.5, noise_w_scale=0.6, pitch=1.12, noise_db=-45),
    VoiceStyle(length_scale=1.05, noise_scale=0.9, noise_w_scale=0.9, pitch=0.95, noise_db=-38),
)
"""Unlike the bot: slower/faster, lower/higher, noisier lines."""
NOISED_STYLES = EVAL_STYLES[::-1]
"""For ASR-noised training copies of plan examples (each example once, styles in turn)."""

Progress = Callable[[int, int], None]


class SpokenChannel:
    """Speaks texts and transcribes them as a call would; thread-unsafe, one per job.

    ``transcriber``/``voice`` default to the project's (:class:`ivr.asr.Transcriber` with
    ``model``, a name for :func:`ivr.asr_models.resolve_model_path`, empty for tiny.en; the
    bundled Piper voice), loaded on first need: a fully cached run loads no model.
    """

    def __init__(
        self,
        styles: Sequence[VoiceStyle] = BOT_STYLES,
        *,
        transcriber: Any = None,
        cache: Path | None = None,
        seed: int = 0,
        model: str = "",
    ) -> None:
        if not styles:
            raise ValueError("need at least one voice style")
        self.styles = tuple(styles)
        self._transcriber = transcriber
        self._model = model
        self._voice: Any = None
        self._seed = seed
        self._path = (cache or cache_dir() / "spoken") / "heard.jsonl"
        self._lock = threading.Lock()
        self._heard: dict[str, str] = {}
        if self._path.exists():
            for line in self._path.read_text(encoding="utf-8").splitlines():
                try:
                    rec = json.loads(line)
                    self._heard[rec["k"]] = rec["t"]
                except (ValueError, KeyError, TypeError):
                    log.warning("skipping a bad line in %s", self._path)

    def style_for(self, text: str) -> VoiceStyle:
        """A text's voice: fixed by the text itself, so editing a plan only re-speaks what
        changed (an index would shift every later example's voice)."""
        return self.styles[_stable(text) % len(self.styles)]

    def _key(self, text: str, style: VoiceStyle, hints: tuple[str, ...]) -> str:
        blob = json.dumps([SPOKEN_VERSION, text, asdict(style), list(hints), self._seed,
                           self._model_id()])
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]

    def _model_id(self) -> str:
        t = self._transcriber
        cfg = getattr(t, "config", None)
        return str(getattr(cfg, "model_path", "") or self._model or "tiny.en")

    def hear(
        self,
        texts: Sequence[str],
        hints: Sequence[tuple[str, ...]] | None = None,
        progress: Progress | None = None,
        batch: int = 8,
    ) -> list[str]:
        """What the ASR makes of each text spoken down a phone line (cached)."""
        per = [()] * len(texts) if hints is None else [tuple(h) for h in hints]
        keys = [self._key(t, self.style_for(t), per[i]) for i, t in enumerate(texts)]
        todo = [i for i, k in enumerate(keys) if k not in self._heard]
        done = len(texts) - len(todo)
        if progress:
            progress(done, len(texts))
        for start in range(0, len(todo), batch):
            rows = todo[start : start + batch]
            audio = [self.phone_audio(texts[i], self.style_for(texts[i]), _stable(texts[i]))
                     for i in rows]
            heard = self._asr().transcribe_many(audio, [per[i] for i in rows])
            self._remember([(keys[i], h.text) for i, h in zip(rows, heard, strict=True)])
            done += len(rows)
            if progress:
                progress(done, len(texts))
        return [self._heard[k] for k in keys]

    def lookup(
        self, texts: Sequence[str], hints: Sequence[tuple[str, ...]] | None = None
    ) -> dict[str, str]:
        """What was already heard for each text, from the cache only (no model is loaded)."""
        per = [()] * len(texts) if hints is None else [tuple(h) for h in hints]
        out = {}
        for i, t in enumerate(texts):
            k = self._key(t, self.style_for(t), per[i])
            if k in self._heard:
                out[t] = self._heard[k]
        return out

    def phone_audio(self, text: str, style: VoiceStyle, seed: int) -> np.ndarray:
        """``text`` in ``style`` as the 8 kHz int16 samples that reach the server (``seed``:
        the line noise)."""
        from piper import SynthesisConfig

        voice = self._piper()
        cfg = SynthesisConfig(length_scale=style.length_scale, noise_scale=style.noise_scale,
                              noise_w_scale=style.noise_w_scale, volume=0.8)
        chunks = list(voice.synthesize(text, syn_config=cfg))
        if not chunks:
            raise ValueError(f"Piper produced no audio for {text!r}")
        rate = int(chunks[0].sample_rate)
        pcm = np.concatenate([c.audio_int16_array for c in chunks])
        audio: FloatArray = (pcm.astype(np.float32) / np.float32(32768)).astype(np.float32)
        if style.pitch != 1.0:  # play it back faster/slower: higher/lower voice
            audio = resample(audio, int(round(rate * style.pitch)), rate)
        pad = np.zeros(int(0.3 * rate), np.float32)
        audio = np.concatenate([pad, audio, pad])
        rng = np.random.default_rng(self._seed + seed)
        noise = rng.normal(0, 10 ** (style.noise_db / 20), audio.size).astype(np.float32)
        mixed: FloatArray = np.clip(audio + noise, -1, 1).astype(np.float32)
        return ulaw_to_pcm16(to_phone_ulaw(mixed, rate))

    def _asr(self) -> Any:
        if self._transcriber is None:
            from ivr.asr import AsrConfig, Transcriber

            self._transcriber = Transcriber(AsrConfig(model_path=self._model, cpu_threads=2))
        return self._transcriber

    def _piper(self) -> Any:
        if self._voice is None:
            import onnxruntime
            from piper import PiperVoice

            from ivr.tts import default_voice_paths

            # Piper samples its prosody noise inside the ONNX graph from a seed taken when the
            # session is made: unseeded, an empty cache re-spoke every text differently and the
            # spoken figures moved by ~0.02 between two clean runs of the same code.
            onnxruntime.set_seed(self._seed)
            model, config = default_voice_paths()
            self._voice = PiperVoice.load(model, config_path=config)
        return self._voice

    def _remember(self, items: list[tuple[str, str]]) -> None:
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as f:
                for k, t in items:
                    self._heard[k] = t
                    f.write(json.dumps({"k": k, "t": t}) + "\n")


def _stable(text: str) -> int:
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest()[:8], 16)


def bar(label: str) -> Progress:
    """A tqdm progress bar as a :data:`Progress` callback (stderr)."""
    from tqdm import tqdm

    state: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = tqdm(total=total, desc=label, unit="utt", leave=False)
        b = state["bar"]
        b.update(done - b.n)
        if done >= total:
            b.close()

    return update
