"""Confidence that is a probability: per-plan calibration of the intent classifier.

The raw classifier scores (z-scored ranks, nearest-example evidence) order intents well but say
little about how often the top one is right: on Banking77 spoken calls, wrong routes carried a
median "confidence" of 0.95. Here each candidate intent of a query gets
``P(this intent is what the caller meant)``, learnt from the plan's *own* examples:

* cross-validated folds: each fold holds out some examples of every intent (in-scope queries)
  and removes a group of intents entirely, so their examples become out-of-scope queries that
  must come out improbable (a plan never ships out-of-scope examples, but it has this);
* each top-k candidate of each held-out query is one row: features are the rank margin to the
  best other intent, and the nearest-example evidence on the classifier's logit scale; label is
  "this candidate is the gold intent";
* two two-feature logistic regressions (scikit-learn) are fitted on the rows — Platt scaling
  with a margin feature — one for the top candidate, one for the runners-up. Out-of-scope
  queries are weighted so that they are :data:`OOS_PRIOR` of the queries (the folds make far
  more of them than a phone line hears). Plans too small to fit on (few rows) use
  :data:`DEFAULT_COEF`, fitted the same way on Banking77 *train* (``bench/understanding.py``).

The fitted coefficients are a few floats, cached on disk keyed by a hash of the examples and
the settings (:func:`cache_dir`), so a plan calibrates once, not at every start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ivr.nlu.embedder import Embedder, Pooled, default_embedder
from ivr.nlu.intents import CONFIDENCE_SLOPE, IntentClassifier, IntentResult
from ivr.nlu.lexical import normalize

log = logging.getLogger(__name__)

CALIBRATION_VERSION = 2
"""Bumped whenever features or folds change, so stale cached fits are not reused."""
FOLDS = 5
TOP_K = 3
"""Candidates per held-out query that become calibration rows (and that get probabilities)."""
MIN_ROWS = 40
MIN_POSITIVES = 12
OOS_PRIOR = 0.05
"""Share of callers' utterances assumed to fit no option (weights the out-of-scope rows).
Chosen on validation data (Banking77 train examples outside the 10-shot sets): top-1 ECE 0.028 /
0.039 / 0.063 / 0.106 at 0.02 / 0.05 / 0.1 / 0.2; 0.05 keeps some weight on out-of-scope callers."""
#: (margin weight, evidence-logit weight, intercept) for the top candidate, then the same for the
#: runners-up, fitted on Banking77 TRAIN, 10 examples per intent, by :func:`fit_coefficients`
#: (``bench/understanding.py`` prints it as ``calibration_default_fit``). Used when a plan has
#: too few examples to fit its own.
DEFAULT_COEF = (1.03254, 0.41541, -1.99298, 1.08092, 0.12254, -1.22392)


def cache_dir() -> Path:
    """Where calibration fits (and other per-plan model caches) live: ``$IVR_CACHE_DIR`` or
    ``~/.cache/ivr``; outside the repository so a fresh clone still works and reruns are cheap."""
    root = os.environ.get("IVR_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "ivr"


@dataclass(frozen=True, slots=True)
class Calibration:
    """A fitted map from candidate features to P(candidate is right)."""

    coef: tuple[float, ...]
    """(margin, logit, intercept) for the top candidate, then for the runners-up."""
    rows: int
    """Calibration rows it was fitted on (0: the default coefficients)."""

    def probability(self, margin: np.ndarray, logit: np.ndarray) -> np.ndarray:
        """P(right) for candidates laid out as :func:`candidate_features` returns them."""
        a, b, c, d, e, f = self.coef
        top = np.zeros(margin.shape, dtype=bool)
        top[..., 0] = True
        z = np.where(top, a * margin + b * logit + c, d * margin + e * logit + f)
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))))


DEFAULT_CALIBRATION = Calibration(DEFAULT_COEF, 0)


def candidate_features(
    clf: IntentClassifier, rank: np.ndarray, near: np.ndarray, top_k: int = TOP_K
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate indices, margins, evidence logits) per query, each n x k.

    margin: the candidate's rank score minus the best *other* intent's (positive only for the
    top one); logit: its nearest-example evidence on the classifier's confidence scale.
    """
    k = min(top_k, rank.shape[1])
    order = np.argsort(-rank, axis=1, kind="stable")[:, :k]
    rows = np.arange(rank.shape[0])[:, None]
    top = rank[rows, order]
    if rank.shape[1] > 1:
        first, second = top[:, :1], np.sort(rank, axis=1)[:, -2:-1]
        other_best = np.where(np.arange(k)[None, :] == 0, second, first)
    else:
        other_best = top - 1.0
    margin = top - other_best
    logit = CONFIDENCE_SLOPE * (near[rows, order] - clf.midpoint)
    return order, margin, logit


def _held_out_rows(
    examples: Mapping[str, Sequence[str]],
    embedder: Embedder,
    folds: int,
    seed: int,
    heard: Mapping[str, str] | None = None,
    **kwargs: object,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Calibration rows from cross-validated folds of ``examples``: margins, logits, labels
    (each queries x k) and which queries were out of scope.

    With ``heard`` (example -> its ASR transcript, :mod:`ivr.nlu.noised`), each fold trains on
    its examples plus their transcripts, and the held-out examples' transcripts are queries too:
    calibrated on what callers sound like after the ASR, never on a transcript of a training
    example."""
    rng = random.Random(seed)
    intents = list(examples)
    shuffled = {i: rng.sample(list(examples[i]), len(examples[i])) for i in intents}
    groups = rng.sample(intents, len(intents))
    oos_group = {name: j % folds for j, name in enumerate(groups)} if len(intents) >= 4 else {}
    margins: list[np.ndarray] = []
    logits: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    oos: list[np.ndarray] = []
    for f in range(folds):
        train: dict[str, list[str]] = {}
        queries: list[tuple[str, str | None]] = []
        for name in intents:
            items = shuffled[name]
            if oos_group.get(name) == f:
                queries += [(t, None) for t in items]
                continue
            held = [t for j, t in enumerate(items) if j % folds == f and len(items) > 1]
            train[name] = [t for t in items if t not in held] or items[:1]
            queries += [(t, name) for t in held]
            if heard:
                train[name] += with_heard(train[name], heard)
                queries += [(h, name) for h in with_heard(held, heard)]
        if heard:
            queries += [(h, None) for t, g in list(queries) if g is None
                        for h in with_heard([t], heard)]
        queries = [(t, g) for t, g in queries if normalize(t)]
        if len(train) < 2 or not queries:
            continue
        clf = IntentClassifier(train, embedder, **kwargs)  # type: ignore[arg-type]
        rank, near = clf.evidence([t for t, _ in queries])
        order, margin, logit = candidate_features(clf, rank, near)
        gold = np.array(
            [[clf.intents[c] == g for c in row] for row, (_, g) in zip(order, queries, strict=True)]
        )
        margins.append(margin)
        logits.append(logit)
        labels.append(gold.astype(np.int64))
        oos.append(np.array([g is None for _, g in queries]))
    if not margins:
        z = np.zeros((0, TOP_K))
        return z, z, z.astype(np.int64), np.zeros(0, dtype=bool)
    k = min(m.shape[1] for m in margins)
    return (
        np.concatenate([m[:, :k] for m in margins]),
        np.concatenate([x[:, :k] for x in logits]),
        np.concatenate([y[:, :k] for y in labels]),
        np.concatenate(oos),
    )


def with_heard(texts: Sequence[str], heard: Mapping[str, str]) -> list[str]:
    """The ASR transcripts of ``texts`` that differ from them (the new wordings to learn)."""
    out = []
    for t in texts:
        h = heard.get(t, "")
        if normalize(h) and normalize(h) != normalize(t):
            out.append(h)
    return out


def fit_coefficients(
    margin: np.ndarray, logit: np.ndarray, label: np.ndarray, oos: np.ndarray
) -> tuple[float, ...]:
    """Two logistic regressions (scikit-learn, lightly regularised): top candidate, runners-up.

    Out-of-scope queries are weighted down to :data:`OOS_PRIOR` of the total weight.
    """
    from sklearn.linear_model import LogisticRegression

    n_oos, n_in = int(oos.sum()), int((~oos).sum())
    w_oos = OOS_PRIOR / (1 - OOS_PRIOR) * n_in / n_oos if n_oos and n_in else 1.0
    weight = np.where(oos, w_oos, 1.0)
    out: list[float] = []
    for cols in (slice(0, 1), slice(1, None)):
        m, lg, y = margin[:, cols], logit[:, cols], label[:, cols]
        w = np.repeat(weight[:, None], m.shape[1], axis=1)
        if m.size == 0 or y.min() == y.max():  # nothing to learn from: keep the default
            out += list(DEFAULT_COEF[len(out): len(out) + 3])
            continue
        lr = LogisticRegression(C=1.0, max_iter=1000)
        lr.fit(np.stack([m.ravel(), lg.ravel()], axis=1), y.ravel(), sample_weight=w.ravel())
        out += [float(lr.coef_[0][0]), float(lr.coef_[0][1]), float(lr.intercept_[0])]
    return tuple(round(v, 5) for v in out)


class _MemoEmbedder(Embedder):
    """Encodes each distinct text once across the folds (they share most texts)."""

    def __init__(self, inner: Embedder) -> None:  # noqa: D107 - no super().__init__: wraps
        self._inner = inner
        self.dim = inner.dim
        self._memo: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def encode_pooled(self, texts: Sequence[str]) -> Pooled:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            p = self._inner.encode_pooled(missing)
            for i, t in enumerate(missing):
                self._memo[t] = (p.mean[i], p.max[i])
        if not texts:
            z = np.zeros((0, self.dim), np.float32)
            return Pooled(z, z)
        return Pooled(
            np.stack([self._memo[t][0] for t in texts]), np.stack([self._memo[t][1] for t in texts])
        )


def _key(
    examples: Mapping[str, Sequence[str]],
    folds: int,
    seed: int,
    options: Mapping[str, object],
    heard: Mapping[str, str] | None,
) -> str:
    blob = json.dumps(
        {"v": CALIBRATION_VERSION, "folds": folds, "seed": seed, "options": dict(options),
         "examples": {k: list(v) for k, v in examples.items()}, "heard": dict(heard or {})},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:24]


def calibrate(
    examples: Mapping[str, Sequence[str]],
    embedder: Embedder | None = None,
    *,
    folds: int = FOLDS,
    seed: int = 0,
    use_cache: bool = True,
    use_intent_names: bool = True,
    heard: Mapping[str, str] | None = None,
) -> Calibration:
    """The plan's own calibration (cached on disk), or the default when it has too few rows.

    ``use_intent_names`` must match the classifier being calibrated.
    """
    opts = {"use_intent_names": use_intent_names}
    path = cache_dir() / "calibration" / f"{_key(examples, folds, seed, opts, heard)}.json"
    if use_cache and path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            coef = tuple(float(v) for v in data["coef"])
            if len(coef) != len(DEFAULT_COEF):
                raise ValueError(f"{len(coef)} coefficients")
            return Calibration(coef, int(data["rows"]))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable calibration cache %s: %s", path, exc)
    memo = _MemoEmbedder(embedder or default_embedder())
    margin, logit, label, oos = _held_out_rows(examples, memo, folds, seed, heard, **opts)
    if label.size < MIN_ROWS or label[:, :1].sum() < MIN_POSITIVES or label.min() == 1:
        cal = DEFAULT_CALIBRATION
    else:
        cal = Calibration(fit_coefficients(margin, logit, label, oos), int(label.size))
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"coef": list(cal.coef), "rows": cal.rows}), "utf-8")
            tmp.replace(path)
        except OSError as exc:  # a read-only home still works, just recalibrates next time
            log.warning("could not cache calibration in %s: %s", path, exc)
    return cal


class CalibratedClassifier:
    """An :class:`IntentClassifier` whose confidences are calibrated probabilities.

    ``classify`` returns an :class:`IntentResult` whose ``confidence`` is P(top intent is right)
    and whose ``ranked`` holds the top candidates with their own probabilities; ``intent`` is
    None when even the best is below ``floor`` (the decision policy asks again).
    """

    def __init__(
        self,
        examples: Mapping[str, Sequence[str]],
        embedder: Embedder | None = None,
        *,
        calibration: Calibration | None = None,
        floor: float = 0.05,
        use_intent_names: bool = True,
        heard: Mapping[str, str] | None = None,
    ) -> None:
        emb = embedder or default_embedder()
        train = {k: [*v, *with_heard(v, heard)] for k, v in examples.items()} if heard else examples
        self.classifier = IntentClassifier(train, emb, use_intent_names=use_intent_names)
        self.intents = self.classifier.intents
        self.calibration = calibration or calibrate(
            examples, emb, use_intent_names=use_intent_names, heard=heard
        )
        self.floor = floor

    def classify_batch(self, texts: Sequence[str]) -> list[IntentResult]:
        out: list[IntentResult] = []
        todo = [t for t in texts if normalize(t)]
        results: dict[str, IntentResult] = {}
        if todo:
            rank, near = self.classifier.evidence(todo)
            order, margin, logit = candidate_features(self.classifier, rank, near)
            prob = self.calibration.probability(margin, logit)
            for i, t in enumerate(todo):
                results[t] = self._result(t, order[i], prob[i])
        for t in texts:
            out.append(results.get(t, IntentResult(None, 0.0, ())))
        return out

    def classify(self, text: str) -> IntentResult:
        return self.classify_batch([text])[0]

    def _result(self, text: str, order: np.ndarray, prob: np.ndarray) -> IntentResult:
        probs = [float(p) for p in prob]
        names = [self.intents[int(k)] for k in order]
        exact = self.classifier.exact_match(text)
        if exact is not None:
            # One of the plan's examples verbatim: as sure as it gets.
            if exact in names:
                j = names.index(exact)
                names.insert(0, names.pop(j))
                probs.pop(j)
            else:
                names = [exact, *names[:-1]]
                probs = probs[:-1]
            probs.insert(0, 0.99)
        rest = sum(probs[1:])
        if probs and probs[0] + rest > 1.0:
            # Candidates are exclusive: keep the sum a probability, the top's own estimate first.
            scale = max(1.0 - probs[0], 0.0) / rest if rest > 0 else 0.0
            probs = [probs[0], *(p * scale for p in probs[1:])]
        ranked = tuple((n, round(p, 4)) for n, p in zip(names, probs, strict=True))
        best = ranked[0][1] if ranked else 0.0
        intent = ranked[0][0] if ranked and best >= self.floor else None
        if not math.isfinite(best):
            raise ValueError(f"calibration produced a non-finite probability for {text!r}")
        return IntentResult(intent=intent, confidence=best, ranked=ranked)
