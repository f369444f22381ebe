"""Intent classification from a handful of operator examples, with an out-of-scope decision.

How a query is scored (all precomputed at construction except one encode + matrix products):

* a softmax-regression head trained on the examples' [mean-pooled, max-pooled] embeddings — the
  single strongest signal once there are a few examples per intent;
* nearest-example evidence per intent: max cosine to the intent's examples, plus the cosine to
  the intent's centroid, plus the max TF-IDF similarity (words, bigrams, char 4-grams) so rare
  exact terms and ASR-mangled words still count;
* the two are z-scored across intents and added to rank intents.

Why two signals: the head separates neighbouring intents well ("card arrival" vs "card
delivery estimate") but its scores are relative; the nearest-example evidence is an absolute
similarity, which is what tells a query that matches nothing apart from one that matches
something. So the out-of-scope decision (``intent=None``) is made on the evidence of the chosen
intent, mapped to a 0..1 ``confidence`` by a logistic curve fitted on CLINC150 validation data
(banking + credit_cards intents vs ``oos_val``); see ``bench/understanding.py``.

The humanised intent names ("order_status" -> "order status") are added as one more example each
by default: operators name intents meaningfully, and it measurably helps with 3-10 examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ivr.nlu.embedder import Embedder, Pooled, default_embedder
from ivr.nlu.lexical import TfidfIndex, normalize

#: Logistic map from nearest-example evidence s to confidence: 1 / (1 + exp(-SLOPE * (s - mid))),
#: with mid = MIDPOINT_BASE + MIDPOINT_PER_DECADE * log10(median examples per intent): the more
#: examples an intent has, the closer its nearest one is to any query, in scope or not. Fitted on
#: CLINC150 *val* (banking + credit_cards intents vs oos_val) with 3, 5, 10 and 100 examples per
#: intent, where mid is the evidence threshold maximising mean(in-scope acc, oos recall); the
#: logistic slope is the Platt fit on the same val data. Never fitted on test data.
CONFIDENCE_SLOPE = 14.0
MIDPOINT_BASE = 0.34
MIDPOINT_PER_DECADE = 0.09
#: Below this confidence the classifier answers ``intent=None`` (out of scope).
DEFAULT_OOS_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class IntentResult:
    """What the caller wants: ``intent`` None means out of scope (no intent fits well enough).

    ``confidence`` (0..1) is for the best intent even when it was rejected, so a dialplan can
    e.g. confirm mid-confidence answers. ``ranked`` lists the top intents with their confidences,
    best first.
    """

    intent: str | None
    confidence: float
    ranked: tuple[tuple[str, float], ...]


def _zscore(x: np.ndarray) -> np.ndarray:
    """Standardise each row, so signals on different scales can be added."""
    mu = x.mean(axis=1, keepdims=True)
    sd = x.std(axis=1, keepdims=True)
    return (x - mu) / np.maximum(sd, 1e-6)


def humanize(name: str) -> str:
    """ "top_up_failed" / "TopUpFailed" -> "top up failed" (used as an extra example)."""
    spaced = "".join(" " + c.lower() if c.isupper() else c for c in name)
    return " ".join(spaced.replace("_", " ").replace("-", " ").replace(".", " ").split())


def _train_softmax(
    x: np.ndarray, y: np.ndarray, n_classes: int, *, l2: float, steps: int, batch: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by Adam (numpy; deterministic for a given seed).

    Full batch for small example sets; fixed-size minibatches beyond ``batch`` examples so the
    cost stays bounded (a few seconds for Banking77's 10k examples).
    """
    n, d = x.shape
    w = np.zeros((d, n_classes), dtype=np.float32)
    b = np.zeros(n_classes, dtype=np.float32)
    onehot = np.eye(n_classes, dtype=np.float32)[y]
    mw, vw = np.zeros_like(w), np.zeros_like(w)
    mb, vb = np.zeros_like(b), np.zeros_like(b)
    rng = np.random.default_rng(seed)
    lr, beta1, beta2 = 0.05, 0.9, 0.999
    for t in range(1, steps + 1):
        if n > batch:
            idx = rng.choice(n, size=batch, replace=False)
            xb, yb = x[idx], onehot[idx]
        else:
            xb, yb = x, onehot
        z = xb @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        gz = (p - yb) / len(xb)
        gw = xb.T @ gz + l2 * w
        gb = gz.sum(axis=0)
        for g, m, v, param in ((gw, mw, vw, w), (gb, mb, vb, b)):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            param -= lr * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + 1e-8)
    return w, b


class IntentClassifier:
    """Few-shot intent classifier over operator examples ``{intent: [example, ...]}``.

    Parameters
    ----------
    examples:
        At least one example per intent; 3-5 work, more help. Duplicate texts are fine.
    embedder:
        Defaults to the shared :func:`~ivr.nlu.embedder.default_embedder`.
    oos_threshold:
        Minimum confidence (0..1) for answering an intent; below it ``intent`` is None.
    use_intent_names:
        Add each humanised intent name as one more example.
    lexical_weight, centroid_weight:
        Weights of TF-IDF max-similarity and centroid cosine in the nearest-example evidence.
    evidence_weight:
        Weight of the nearest-example evidence against the linear head when ranking intents.
    top_k:
        Length of :attr:`IntentResult.ranked`.
    """

    def __init__(
        self,
        examples: Mapping[str, Sequence[str]],
        embedder: Embedder | None = None,
        *,
        oos_threshold: float = DEFAULT_OOS_THRESHOLD,
        use_intent_names: bool = True,
        lexical_weight: float = 0.2,
        centroid_weight: float = 0.5,
        evidence_weight: float = 1.0,
        head_steps: int = 300,
        head_l2: float = 1e-5,
        top_k: int = 5,
        seed: int = 0,
    ) -> None:
        if not examples:
            raise ValueError("an intent classifier needs at least one intent")
        self.intents: tuple[str, ...] = tuple(examples)
        texts: list[str] = []
        labels: list[int] = []
        for k, intent in enumerate(self.intents):
            items = [t for t in examples[intent] if t and t.strip()]
            if use_intent_names:
                items.append(humanize(intent))
            if not items:
                raise ValueError(f"intent {intent!r} has no examples")
            texts += items
            labels += [k] * len(items)
        self.oos_threshold = oos_threshold
        self.top_k = top_k
        self._lexical_weight = lexical_weight
        self._centroid_weight = centroid_weight
        self._evidence_weight = evidence_weight
        self._embedder = embedder or default_embedder()
        self._labels = np.asarray(labels, dtype=np.int64)
        # Examples are grouped by intent, so per-intent maxima are one reduceat.
        self._starts = np.searchsorted(self._labels, np.arange(len(self.intents)))
        pooled = self._embedder.encode_pooled(texts)
        self._emb = pooled.mean
        centroids = np.stack(
            [pooled.mean[self._labels == k].mean(axis=0) for k in range(len(self.intents))]
        )
        self._centroids = centroids / np.maximum(
            np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12
        )
        self._tfidf = TfidfIndex(texts)
        self._exact = {normalize(t): lab for t, lab in zip(texts, labels, strict=True)}
        per_intent = np.bincount(self._labels, minlength=len(self.intents))
        self._midpoint = MIDPOINT_BASE + MIDPOINT_PER_DECADE * math.log10(
            max(float(np.median(per_intent)), 1.0)
        )
        self._head: tuple[np.ndarray, np.ndarray] | None = None
        if len(self.intents) > 1:
            self._head = _train_softmax(
                self._features(pooled),
                self._labels,
                len(self.intents),
                l2=head_l2,
                steps=head_steps,
                batch=1024,
                seed=seed,
            )

    @staticmethod
    def _features(pooled: Pooled) -> np.ndarray:
        return np.hstack([pooled.mean, pooled.max])

    def evidence(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ranking scores, nearest-example evidence), both n_texts x n_intents.

        Public so benchmarks can calibrate; :meth:`classify` is what callers want.
        """
        pooled = self._embedder.encode_pooled(texts)
        dense = pooled.mean @ self._emb.T
        lex = np.stack([self._tfidf.similarities(t) for t in texts])
        near = np.maximum.reduceat(dense, self._starts, axis=1)
        near = near + self._centroid_weight * (pooled.mean @ self._centroids.T)
        near = near + self._lexical_weight * np.maximum.reduceat(lex, self._starts, axis=1)
        near = near / (1.0 + self._centroid_weight + self._lexical_weight)
        if self._head is None:
            return near, near
        w, b = self._head
        logits = self._features(pooled) @ w + b
        return _zscore(logits) + self._evidence_weight * _zscore(near), near

    @property
    def midpoint(self) -> float:
        """The evidence at which :meth:`confidence_of` is 0.5 (depends on examples per intent)."""
        return self._midpoint

    def exact_match(self, text: str) -> str | None:
        """The intent one of whose examples ``text`` is, verbatim after normalising, or None."""
        k = self._exact.get(normalize(text))
        return None if k is None else self.intents[k]

    def confidence_of(self, evidence: float) -> float:
        """Map nearest-example evidence to a 0..1 confidence (the fitted logistic curve)."""
        return 1.0 / (1.0 + math.exp(-CONFIDENCE_SLOPE * (evidence - self._midpoint)))

    def classify_batch(self, texts: Sequence[str]) -> list[IntentResult]:
        """Classify many texts with batched encoding (what benchmarks use)."""
        results: list[IntentResult | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if normalize(t)]
        for i, t in enumerate(texts):
            if not normalize(t):
                results[i] = IntentResult(None, 0.0, ())
        if todo:
            rank, near = self.evidence([texts[i] for i in todo])
            for row, i in enumerate(todo):
                results[i] = self._decide(texts[i], rank[row], near[row])
        return [r for r in results if r is not None]

    def classify(self, text: str) -> IntentResult:
        """The intent of one utterance, or ``intent=None`` when nothing fits."""
        return self.classify_batch([text])[0]

    def _decide(self, text: str, rank: np.ndarray, near: np.ndarray) -> IntentResult:
        exact = self._exact.get(normalize(text))
        if exact is not None:
            # The caller said one of the examples verbatim: no model beats that.
            rank = rank.copy()
            rank[exact] = rank.max() + 1.0
            near = near.copy()
            near[exact] = max(float(near[exact]), 1.0)
        order = np.argsort(-rank, kind="stable")[: self.top_k]
        best = int(order[0])
        conf = self.confidence_of(float(near[best]))
        # Others: the best's confidence scaled by their softmax share relative to the best.
        ranked = tuple(
            (self.intents[k], round(conf * math.exp(float(rank[k] - rank[best])), 4)) for k in order
        )
        intent = self.intents[best] if conf >= self.oos_threshold else None
        return IntentResult(intent=intent, confidence=round(conf, 4), ranked=ranked)
