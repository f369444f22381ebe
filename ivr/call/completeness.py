"""Does a transcript read as a complete turn? A tiny logistic head on the project's MiniLM.

Trained offline by ``tools/train_endofturn.py`` on complete utterances vs the same utterances cut
after a random word (Banking77 and CLINC150 *train* splits; thresholds checked on CLINC150 val),
shipped as ``endofturn_weights.npz`` (a few KB), retrainable. Features: the mean- and max-pooled
MiniLM embedding of the normalised text and the mean embedding of its last two words (where the
cut shows). Punctuation is dropped: Whisper's full stops say little about a fragment it heard
("I got a bill for it." was "I got a bill for").

It runs in the ASR worker right after a speculative decode (~5 ms), never on the socket thread;
:class:`~ivr.call.endofturn.EndOfTurnPolicy` combines it with the word rules.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).with_name("endofturn_weights.npz")
_WORDS = re.compile(r"[a-z0-9']+")


def normalise(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower()))


def features(embedder: object, texts: list[str]) -> np.ndarray:
    """Rows of [mean(text), max(text), mean(last two words)] for normalised ``texts``."""
    norm = [normalise(t) or "." for t in texts]
    tails = [" ".join(t.split()[-2:]) or "." for t in norm]
    pooled = embedder.encode_pooled(norm + tails)  # type: ignore[attr-defined]
    n = len(norm)
    return np.hstack([pooled.mean[:n], pooled.max[:n], pooled.mean[n:]]).astype(np.float32)


class Completeness:
    """P(the text is a complete turn) from the shipped weights."""

    def __init__(self, weights: Path = WEIGHTS, embedder: object | None = None) -> None:
        data = np.load(weights)
        self.w = data["w"].astype(np.float32)
        self.b = float(data["b"])
        self._embedder = embedder

    def __call__(self, text: str) -> float:
        if not normalise(text):
            return 0.0
        if self._embedder is None:
            from ivr.nlu.embedder import default_embedder

            self._embedder = default_embedder()
        x = features(self._embedder, [text])[0]
        return float(1.0 / (1.0 + np.exp(-(x @ self.w + self.b))))


_default: Completeness | None = None
_lock = threading.Lock()


def default_completeness() -> Completeness | None:
    """The shipped model, loaded once; None when the weights file is missing."""
    global _default
    if _default is None and WEIGHTS.exists():
        with _lock:
            if _default is None:
                _default = Completeness()
    return _default
