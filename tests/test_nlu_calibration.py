"""Calibration as pure logic: features, the fitted map, folds, the disk cache, the defaults.

A bag-of-words embedder stands in for MiniLM so these run in milliseconds; the real model's
calibration is measured (ECE, reliability table) by ``bench/understanding.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from ivr.nlu import calibration as cal
from ivr.nlu.embedder import Embedder, Pooled
from ivr.nlu.lexical import normalize


class BagEmbedder(Embedder):
    """Hashed bag of words, L2-normalised: similar wording -> similar vectors."""

    def __init__(self) -> None:  # no model
        self.dim = 64
        self.calls = 0

    def encode_pooled(self, texts: Sequence[str]) -> Pooled:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            for w in normalize(t).split():
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return Pooled(out, out)


def ece(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    idx = np.minimum((p * bins).astype(int), bins - 1)
    return float(sum(abs(p[idx == b].mean() - y[idx == b].mean()) * (idx == b).mean()
                     for b in range(bins) if (idx == b).any()))


def test_features_margin_positive_only_for_the_top() -> None:
    clf = cast(Any, SimpleNamespace(midpoint=0.5))
    rank = np.array([[3.0, 1.0, 2.0, 0.0]])
    near = np.array([[0.9, 0.1, 0.5, 0.0]])
    order, margin, logit = cal.candidate_features(clf, rank, near, top_k=3)
    assert order.tolist() == [[0, 2, 1]]
    assert margin.tolist() == [[1.0, -1.0, -2.0]]
    assert logit[0, 0] > 0 > logit[0, 2]


def test_probability_rises_with_margin_and_evidence() -> None:
    c = cal.DEFAULT_CALIBRATION
    m = np.array([[0.0, -1.0], [1.0, -1.0], [2.0, -1.0]])
    lg = np.zeros_like(m)
    p = c.probability(m, lg)
    assert p[0, 0] < p[1, 0] < p[2, 0]
    assert (c.probability(m, lg + 2.0) > p).all()
    assert ((p > 0) & (p < 1)).all()


def test_fit_recovers_a_known_calibration() -> None:
    rng = np.random.default_rng(0)
    n = 4000
    margin = np.stack([rng.uniform(0, 4, n), rng.uniform(-4, 0, n)], axis=1)
    logit = rng.normal(0, 2, (n, 2))
    true = 1 / (1 + np.exp(-(1.2 * margin + 0.5 * logit - 1.5)))
    label = (rng.uniform(size=true.shape) < true).astype(np.int64)
    coef = cal.fit_coefficients(margin, logit, label, np.zeros(n, dtype=bool))
    p = cal.Calibration(coef, n).probability(margin, logit)
    assert ece(p[:, 0], label[:, 0]) < 0.03
    assert abs(coef[0] - 1.2) < 0.2 and abs(coef[1] - 0.5) < 0.1


def test_out_of_scope_rows_are_weighted_to_the_prior() -> None:
    rng = np.random.default_rng(1)
    n = 2000
    margin = rng.uniform(0, 3, (n, 2))
    logit = rng.normal(0, 1, (n, 2))
    label = np.zeros((n, 2), dtype=np.int64)
    oos = np.arange(n) < n // 2            # half the queries out of scope (labels all 0)
    label[~oos, 0] = 1                     # in scope: the top is always right
    p = cal.Calibration(cal.fit_coefficients(margin, logit, label, oos), n)
    mean_top = float(p.probability(margin, logit)[:, 0].mean())
    assert mean_top == pytest.approx(1 - cal.OOS_PRIOR, abs=0.03)


def _examples() -> dict[str, list[str]]:
    topics = {
        "billing": ["my bill is wrong", "question about a bill", "charged twice on my bill",
                    "bill payment failed", "explain my bill"],
        "returns": ["return an item", "send it back for a refund", "return my shoes",
                    "how do returns work", "start a return"],
        "delivery": ["where is my parcel", "delivery is late", "track my delivery",
                     "parcel never arrived", "delivery address change"],
        "password": ["reset my password", "forgot my password", "password not working",
                     "change password", "locked out password"],
        "feedback": ["leave feedback", "make a complaint", "give a suggestion",
                     "feedback on service", "complaint about staff"],
    }
    return {k: v * 2 for k, v in topics.items()}  # 10 each: enough rows to fit


def test_calibrate_fits_caches_and_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path))
    emb = BagEmbedder()
    first = cal.calibrate(_examples(), emb)
    assert first.rows > 0 and first.coef != cal.DEFAULT_COEF
    files = list((tmp_path / "calibration").glob("*.json"))
    assert len(files) == 1
    calls = emb.calls
    again = cal.calibrate(_examples(), emb)
    assert again == first and emb.calls == calls  # from disk: no model work at all
    changed = _examples()
    changed["billing"].append("a new example")
    cal.calibrate(changed, emb)
    assert len(list((tmp_path / "calibration").glob("*.json"))) == 2  # keyed by the examples


def test_small_plan_uses_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path))
    tiny = {"yes": ["yes", "yeah"], "no": ["no", "nope"]}
    assert cal.calibrate(tiny, BagEmbedder()) == cal.DEFAULT_CALIBRATION


def test_unreadable_cache_is_refitted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path))
    emb = BagEmbedder()
    good = cal.calibrate(_examples(), emb)
    (path,) = (tmp_path / "calibration").glob("*.json")
    path.write_text('{"coef": [1, 2], "rows": 3}')
    assert cal.calibrate(_examples(), emb) == good


def test_calibrated_classifier_probabilities(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR_CACHE_DIR", str(tmp_path))
    clf = cal.CalibratedClassifier(_examples(), BagEmbedder())
    r = clf.classify("return my shoes")          # an example verbatim
    assert r.intent == "returns" and r.confidence == 0.99
    r = clf.classify("I forgot the password")
    assert r.ranked[0][0] == "password"
    assert sum(p for _, p in r.ranked) <= 1.0 + 1e-6
    assert [p for _, p in r.ranked] == sorted((p for _, p in r.ranked), reverse=True)
    assert clf.classify("   ").intent is None
