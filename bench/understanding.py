"""Benchmark of the understanding layer (ivr.nlu) on public data nobody here wrote.

    python bench/understanding.py [--json] [--data ../shared/data]

Figures (all computed from scratch, nothing cached; ~2-3 minutes on 2 cores):

* banking77_10shot: test accuracy (top-1, closed set) of a classifier built from 10 examples per
  intent drawn from TRAIN with a fixed seed (0). Also the mean over seeds 0-2 and without the
  intent names as extra examples, for transparency.
* banking77_full: same with all 10,003 train examples.
* clinc_inscope_acc / clinc_oos_recall: CLINC150 restricted to the ``banking`` and
  ``credit_cards`` domains (30 intents, built from their train examples). The out-of-scope
  threshold is chosen on val + oos_val only (the strictest rejection that keeps 99.5 % of the
  val queries classified right, :data:`VAL_KEEP`); test is scored once with it. The fitted
  confidence curve is printed: it is where the library defaults in ``ivr/nlu/intents.py`` come
  from. ``*_default`` keys use the library default threshold.
* dstc10_recall_at_1/5: knowledge selection for the 104 knowledge-seeking spoken turns (ASR
  1-best) against all 12,039 FAQ docs of knowledge.json (domain/entity/doc, title as question,
  body as answer, entity name as topic), with the preceding dialogue turns as context. DSTC10
  only publishes a validation split, so this is a validation figure: KB weights were set by hand,
  checked on the even-numbered turns only (``*_odd`` is the untouched half); the topic rules of
  ``ivr.nlu.lexical.CoverageIndex`` (heads, joined words, numbers in words, longest match) came
  from an error analysis of all 104 turns; their one weight (``shadow``) on the even turns only.
* intent_ms_p50/p95: wall time of ``IntentClassifier.classify`` for one utterance (the 77-intent
  10-shot classifier), onnxruntime on one thread; ``calibrated_intent_ms_p50`` the same for the
  calibrated classifier the engine uses, and ``calibrated_intent_cpu_ms_p50`` its CPU time (the
  load-independent figure on a shared machine).
* Calibration and the decision policy (``ivr.nlu.calibration``, ``ivr.engine.decide`` with the
  default ``thresholds``), 10-shot Banking77, calibration fitted on the TRAIN examples' own
  cross-validated folds: ``calibration_default_fit`` (the library's default coefficients come
  from here), ``ece`` and ``reliability`` (confidence bins of the top intent on test), and the
  policy outcomes on test text: ``text_right`` / ``text_confirmed_right`` / ``text_wrong_route`` /
  ``text_confirm_rate`` / ``text_no_match``.
* The spoken channel (``--spoken-per-intent`` test sentences per intent, the first ones of each
  intent in test.csv; 0 skips it): each is spoken by the project's own Piper voice settings, put
  through the 8 kHz mu-law phone line, transcribed by the server's ``Transcriber`` with the hints a
  bank menu sends (``dialplans/bank.yaml`` vocabulary, then intent names, fitted to the prompt
  budget) and classified by the same calibrated 10-shot classifier: ``banking77_spoken_10shot``
  (top-1 accuracy), ``spoken_right``, ``spoken_confirmed_right``, ``spoken_wrong_route``,
  ``spoken_confirm_rate``, ``spoken_no_match``, ``ece_spoken``, and WER overall / on the plan's
  vocabulary words / on intent-name words / on other words. Audio and transcripts are cached under
  ``~/.cache/ivr/spoken`` (``IVR_CACHE_DIR``), so only the first run pays for TTS + ASR. The
  transcripts get the engine's phonetic vocabulary repair before classification (WER is of the
  raw ASR output). ``--noised`` adds ``noised_*`` figures: the classifier trained and calibrated
  with ASR-noised copies of the train examples too (``ivr.nlu.noised``).

Never tune anything on a test split: the point of these numbers is to be believable.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ivr.asr import fit_hints  # noqa: E402
from ivr.dialplan.models import Thresholds  # noqa: E402
from ivr.evaluate.scoring import outcome, rates, reliability, word_error_rates  # noqa: E402
from ivr.nlu.calibration import CalibratedClassifier, calibrate  # noqa: E402
from ivr.nlu.embedder import Embedder, Pooled  # noqa: E402
from ivr.nlu.intents import IntentClassifier, humanize  # noqa: E402
from ivr.nlu.kb import FaqEntry, KnowledgeBase  # noqa: E402
from ivr.nlu.phonetic import VocabularyRepair  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class CachedEmbedder(Embedder):
    """Embeds each distinct text once: the benchmark builds several classifiers on one train set."""

    def __init__(self, threads: int) -> None:
        super().__init__(threads=threads, batch_size=64)
        self._cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def encode_pooled(self, texts: Sequence[str]) -> Pooled:
        missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            p = super().encode_pooled(missing)
            for i, t in enumerate(missing):
                self._cache[t] = (p.mean[i], p.max[i])
        if not texts:
            return Pooled(np.zeros((0, self.dim), np.float32), np.zeros((0, self.dim), np.float32))
        return Pooled(
            np.stack([self._cache[t][0] for t in texts]),
            np.stack([self._cache[t][1] for t in texts]),
        )


def log(msg: str) -> None:
    print(msg, flush=True)


def read_banking(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return [(r["text"], r["category"]) for r in csv.DictReader(f)]


def few_shot(rows: Sequence[tuple[str, str]], k: int, seed: int) -> dict[str, list[str]]:
    """k examples per intent drawn from ``rows`` (train) with a fixed seed."""
    by: dict[str, list[str]] = {}
    for text, label in rows:
        by.setdefault(label, []).append(text)
    rng = random.Random(seed)
    return {label: rng.sample(by[label], min(k, len(by[label]))) for label in sorted(by)}


def group(rows: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for text, label in rows:
        out.setdefault(label, []).append(text)
    return out


def top1_accuracy(clf: IntentClassifier, rows: Sequence[tuple[str, str]]) -> float:
    """Closed-set accuracy of the best-ranked intent (OOS rejection not applied)."""
    rank, _ = clf.evidence([t for t, _ in rows])
    pred = [clf.intents[k] for k in rank.argmax(axis=1)]
    return float(np.mean([p == g for p, (_, g) in zip(pred, rows, strict=True)]))


def banking(data: Path, emb: CachedEmbedder, fast: Embedder) -> dict[str, Any]:
    train = read_banking(data / "banking77" / "train.csv")
    test = read_banking(data / "banking77" / "test.csv")
    t0 = time.perf_counter()
    emb.encode_pooled([t for t, _ in train] + [t for t, _ in test])
    log(f"banking77: embedded {len(train) + len(test)} texts in {time.perf_counter() - t0:.1f} s")
    out: dict[str, Any] = {}
    accs = []
    for seed in (0, 1, 2):
        clf = IntentClassifier(few_shot(train, 10, seed), emb)
        accs.append(top1_accuracy(clf, test))
    out["banking77_10shot"] = round(accs[0], 4)
    out["banking77_10shot_mean3"] = round(float(np.mean(accs)), 4)
    clf = IntentClassifier(few_shot(train, 10, 0), emb, use_intent_names=False)
    out["banking77_10shot_no_names"] = round(top1_accuracy(clf, test), 4)
    t0 = time.perf_counter()
    clf = IntentClassifier(group(train), emb)
    build = time.perf_counter() - t0
    out["banking77_full"] = round(top1_accuracy(clf, test), 4)
    log(
        f"banking77 10-shot acc {out['banking77_10shot']:.4f} (seeds 0-2 mean "
        f"{out['banking77_10shot_mean3']:.4f}; without intent names "
        f"{out['banking77_10shot_no_names']:.4f}); full train {out['banking77_full']:.4f} "
        f"(head trained in {build:.1f} s)"
    )
    # Latency: one utterance at a time, one onnxruntime thread, the 77-intent 10-shot classifier.
    clf1 = IntentClassifier(few_shot(train, 10, 0), fast)
    texts = [t for t, _ in test[::10]][:300]
    for t in texts[:20]:
        clf1.classify(t)
    times = []
    for t in texts:
        t0 = time.perf_counter()
        clf1.classify(t)
        times.append((time.perf_counter() - t0) * 1000)
    out["intent_ms_p50"] = round(float(np.percentile(times, 50)), 2)
    out["intent_ms_p95"] = round(float(np.percentile(times, 95)), 2)
    log(f"classify latency p50 {out['intent_ms_p50']} ms, p95 {out['intent_ms_p95']} ms (1 thread)")
    cal1 = CalibratedClassifier(few_shot(train, 10, 0), fast)
    times, cpu = [], []
    for t in texts:
        c0, t0 = time.thread_time(), time.perf_counter()
        cal1.classify(t)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.thread_time() - c0) * 1000)
    out["calibrated_intent_ms_p50"] = round(float(np.percentile(times, 50)), 2)
    # CPU time of this thread (onnxruntime runs on it with one intra-op thread): what a turn costs
    # whatever else the machine is doing; wall time on a shared box also counts waiting for a core.
    out["calibrated_intent_cpu_ms_p50"] = round(float(np.percentile(cpu, 50)), 2)
    log(
        f"calibrated classify p50 {out['calibrated_intent_ms_p50']} ms wall, "
        f"{out['calibrated_intent_cpu_ms_p50']} ms CPU (1 thread)"
    )
    return out


def policy_figures(
    clf: CalibratedClassifier, texts: Sequence[str], gold: Sequence[str], prefix: str
) -> dict[str, Any]:
    """Decision-policy outcomes and calibration of ``clf`` on ``texts`` (default thresholds)."""
    th = Thresholds()
    results = clf.classify_batch(texts)
    outs = [outcome(r.ranked, g, th) for r, g in zip(results, gold, strict=True)]
    rt = rates(outs)
    top = [r.ranked[0][0] if r.ranked else None for r in results]
    rel = reliability([r.confidence for r in results], [t == g for t, g in zip(top, gold,
                                                                               strict=True)])
    log(f"{prefix}: reliability (bin, n, mean confidence, accuracy):")
    for lo, hi, n, conf, acc in rel.rows:
        log(f"  {lo:.1f}-{hi:.1f}  n={n:4d}  conf {conf:.3f}  acc {acc:.3f}")
    return {
        "right": rt["right"],
        "confirmed_right": rt["confirmed_right"],
        "confirmed_wrong": rt["confirmed_wrong"],
        "wrong_route": rt["wrong"],
        "no_match": rt["no_match"],
        "confirm_rate": rt["confirm_rate"],
        "top1": round(float(np.mean([t == g for t, g in zip(top, gold, strict=True)])), 4),
        "ece": rel.ece,
        "reliability": [list(r) for r in rel.rows],
    }


def calibrated(
    data: Path, emb: CachedEmbedder, spoken_per_intent: int
) -> tuple[dict[str, Any], CalibratedClassifier]:
    train = read_banking(data / "banking77" / "train.csv")
    test = read_banking(data / "banking77" / "test.csv")
    shots = few_shot(train, 10, 0)
    t0 = time.perf_counter()
    cal = calibrate(shots, emb, use_cache=False)
    log(f"calibration fitted on train CV folds in {time.perf_counter() - t0:.1f} s: {cal.coef}")
    clf = CalibratedClassifier(shots, emb, calibration=cal)
    f = policy_figures(clf, [t for t, _ in test], [g for _, g in test], "text (test split)")
    out: dict[str, Any] = {
        "calibration_default_fit": list(cal.coef),
        "ece": f["ece"],
        "reliability": f["reliability"],
    }
    for k in ("right", "confirmed_right", "confirmed_wrong", "wrong_route", "no_match",
              "confirm_rate"):
        out[f"text_{k}"] = f[k]
    log(
        f"text policy: right {out['text_right']}, confirmed right "
        f"{out['text_confirmed_right']}, wrong route {out['text_wrong_route']}, confirm rate "
        f"{out['text_confirm_rate']}, no-match {out['text_no_match']}; ECE {out['ece']}"
    )
    return out, clf


def spoken(
    data: Path, clf: CalibratedClassifier, per_intent: int, emb: CachedEmbedder, noised: bool,
    asr_model: str = "",
) -> dict[str, Any]:
    """The spoken channel: the bot's own voice settings, the phone line, the real ASR
    (``asr_model``: a name or directory for :func:`ivr.asr_models.resolve_model_path`; the
    ASR-noised train examples are heard by the same model, as a server running it builds them).
    """
    from ivr.dialplan import load_dialplan
    from ivr.nlu.spoken import BOT_STYLES, SpokenChannel, bar

    test = read_banking(data / "banking77" / "test.csv")
    by = group(test)
    rows = [(t, label) for label in sorted(by) for t in by[label][:per_intent]]
    vocab = list(load_dialplan(REPO / "dialplans" / "bank.yaml").vocabulary)
    hints = fit_hints(tuple(vocab + [humanize(i) for i in clf.intents]))
    transcriber = None
    if asr_model:
        from ivr.asr import AsrConfig, Transcriber

        transcriber = Transcriber(AsrConfig(model_path=asr_model, cpu_threads=2))
    channel = SpokenChannel(BOT_STYLES, transcriber=transcriber)
    t0 = time.perf_counter()
    heard = channel.hear([t for t, _ in rows], [hints] * len(rows), progress=bar("spoken"))
    log(f"spoken: {len(rows)} test sentences heard in {time.perf_counter() - t0:.1f} s")
    gold = [g for _, g in rows]
    raw = list(heard)
    # What the engine classifies: the plan's vocabulary repaired by sound (ivr.nlu.phonetic).
    repair = VocabularyRepair(vocab)
    heard = [repair.repair(h) for h in heard]
    f = policy_figures(clf, heard, gold, "spoken (test split)")
    vocab_words = frozenset(w for v in vocab for w in v.lower().split())
    name_words = frozenset(w for i in clf.intents for w in humanize(i).split()) - vocab_words
    refs = [t for t, _ in rows]
    all_words = frozenset(w for r in refs for w in r.lower().split())
    wer = word_error_rates(refs, raw, {"vocabulary": vocab_words, "intent_words": name_words,
                                         "other": all_words - vocab_words - name_words})
    out = {
        "spoken_set_size": len(rows),
        "spoken_asr_model": asr_model or "tiny.en",
        "banking77_spoken_10shot": f["top1"],
        "spoken_right": f["right"],
        "spoken_confirmed_right": f["confirmed_right"],
        "spoken_right_or_confirmed": round(f["right"] + f["confirmed_right"], 4),
        "spoken_wrong_route": f["wrong_route"],
        "spoken_confirm_rate": f["confirm_rate"],
        "spoken_no_match": f["no_match"],
        "ece_spoken": f["ece"],
        "wer_spoken": wer["all"],
        "wer_vocabulary_words": wer["vocabulary"],
        "wer_intent_words": wer["intent_words"],
        "wer_other_words": wer["other"],
    }
    if noised:
        # Train + calibrate on ASR-noised copies of the TRAIN examples too (ivr.nlu.noised).
        from ivr.nlu.noised import heard_examples

        train = read_banking(data / "banking77" / "train.csv")
        shots = few_shot(train, 10, 0)
        t0 = time.perf_counter()
        heard_ex = heard_examples(shots, hints, progress=bar("noised train examples"),
                                  asr_model=asr_model)
        log(f"noised: {len(heard_ex)} train examples heard in {time.perf_counter() - t0:.1f} s")
        clf_n = CalibratedClassifier(shots, emb, heard=heard_ex,
                                     calibration=calibrate(shots, emb, use_cache=False,
                                                           heard=heard_ex))
        fn = policy_figures(clf_n, heard, gold, "spoken, trained with noised copies")
        out.update({
            "noised_spoken_10shot": fn["top1"],
            "noised_spoken_right": fn["right"],
            "noised_spoken_confirmed_right": fn["confirmed_right"],
            "noised_spoken_wrong_route": fn["wrong_route"],
            "noised_spoken_confirm_rate": fn["confirm_rate"],
            "noised_ece_spoken": fn["ece"],
        })
        tn = policy_figures(clf_n, [t for t, _ in test], [g for _, g in test], "text, noised")
        out["noised_text_top1"] = tn["top1"]
        out["noised_ece_text"] = tn["ece"]
        log(f"noised: spoken top-1 {fn['top1']}, right {fn['right']}, confirmed right "
            f"{fn['confirmed_right']}, wrong {fn['wrong_route']}, asked {fn['confirm_rate']}, "
            f"ECE {fn['ece']}; text top-1 {tn['top1']}, ECE {tn['ece']}")
    log(
        f"spoken policy ({len(rows)} turns): right {out['spoken_right']}, confirmed right "
        f"{out['spoken_confirmed_right']}, wrong route {out['spoken_wrong_route']}, confirm "
        f"rate {out['spoken_confirm_rate']}, no-match {out['spoken_no_match']}; top-1 "
        f"{out['banking77_spoken_10shot']}; ECE {out['ece_spoken']}; WER {wer}"
    )
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """1-D Platt scaling by Newton's method: P(y=1|x) = 1/(1+exp(-a(x-b))). Returns (a, b)."""
    w = np.zeros(2)
    design = np.stack([x, np.ones_like(x)], axis=1)
    for _ in range(50):
        p = 1 / (1 + np.exp(-(design @ w)))
        grad = design.T @ (p - y)
        hess = design.T @ (design * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        w -= np.linalg.solve(hess, grad)
    a = float(w[0])
    return a, float(-w[1] / a)


#: Share of the correctly classified CLINC *val* in-scope queries the operating point must still
#: answer (the rest is what out-of-scope rejection may cost).
VAL_KEEP = 0.995


def clinc(data: Path, emb: CachedEmbedder) -> dict[str, Any]:
    raw = json.loads((data / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    domains = json.loads((data / "clinc150" / "domains.json").read_text(encoding="utf-8"))
    keep = set(domains["banking"]) | set(domains["credit_cards"])

    def split(name: str) -> list[tuple[str, str]]:
        return [(t, lab) for t, lab in raw[name] if lab in keep]

    clf = IntentClassifier(group(split("train")), emb)
    val_in = split("val")
    val_oos = [(t, "") for t, _ in raw["oos_val"]]

    def evidence(rows: Sequence[tuple[str, str]]) -> tuple[list[str], np.ndarray]:
        rank, near = clf.evidence([t for t, _ in rows])
        best = rank.argmax(axis=1)
        return [clf.intents[k] for k in best], near[np.arange(len(rows)), best]

    vp, vs = evidence(val_in)
    _, os_ = evidence(val_oos)
    correct = np.array([p == g for p, (_, g) in zip(vp, val_in, strict=True)], dtype=float)
    x = np.concatenate([vs, os_])
    y = np.concatenate([correct, np.zeros(len(os_))])
    slope, mid = fit_logistic(x, y)
    log(f"CLINC val: confidence curve fitted: slope {slope:.2f}, midpoint {mid:.3f}")

    def rates(pred: list[str], s: np.ndarray, gold: Sequence[str], thr: float) -> float:
        return float(
            np.mean([(p == g) and v >= thr for p, v, g in zip(pred, s, gold, strict=True)])
        )

    # Operating point, chosen on val only: the strictest out-of-scope rejection (highest evidence
    # threshold) that still answers VAL_KEEP of the val queries the classifier gets right. The
    # issue's target is a trade (OOS recall >= 0.80 *at* in-scope accuracy >= 0.95); maximising
    # mean(in-scope, recall) instead over-rejects (test 0.937 in-scope at 0.967 recall).
    val_gold = [g for _, g in val_in]
    closed = rates(vp, vs, val_gold, -np.inf)
    best_thr = float(np.min(x))
    for thr in np.unique(np.round(x, 3)):
        if rates(vp, vs, val_gold, float(thr)) >= VAL_KEEP * closed:
            best_thr = float(thr)
    best_score = rates(vp, vs, val_gold, best_thr)
    conf_thr = clf.confidence_of(best_thr)
    log(
        f"CLINC val: evidence threshold {best_thr:.3f} (confidence {conf_thr:.3f} under the "
        f"library curve): val in-scope acc {best_score:.4f} (closed set {closed:.4f}), val oos "
        f"recall {float(np.mean(os_ < best_thr)):.4f}"
    )
    test_in = split("test")
    tp, ts = evidence(test_in)
    _, tos = evidence([(t, "") for t, _ in raw["oos_test"]])
    gold = [g for _, g in test_in]
    out: dict[str, Any] = {
        "clinc_inscope_acc": round(rates(tp, ts, gold, best_thr), 4),
        "clinc_oos_recall": round(float(np.mean(tos < best_thr)), 4),
        "clinc_confidence_fit": [round(slope, 2), round(mid, 3)],
        "clinc_val_threshold_confidence": round(conf_thr, 3),
    }
    # The library default threshold (a confidence), mapped back to evidence for a direct check.
    conf_in = np.array([clf.confidence_of(float(v)) for v in ts])
    conf_oos = np.array([clf.confidence_of(float(v)) for v in tos])
    thr = clf.oos_threshold
    out["clinc_inscope_acc_default"] = round(
        float(np.mean([(p == g) and c >= thr for p, c, g in zip(tp, conf_in, gold, strict=True)])),
        4,
    )
    out["clinc_oos_recall_default"] = round(float(np.mean(conf_oos < thr)), 4)
    log(
        "CLINC test (banking+credit_cards, 30 intents): in-scope acc "
        f"{out['clinc_inscope_acc']:.4f}"
        f", oos recall {out['clinc_oos_recall']:.4f}; with the library default threshold "
        f"{thr}: {out['clinc_inscope_acc_default']:.4f} / {out['clinc_oos_recall_default']:.4f}"
    )
    # Few-shot check of the default threshold (what operators will actually have): 5 examples.
    fs = few_shot(split("train"), 5, 0)
    clf5 = IntentClassifier(fs, emb)
    r_in = clf5.classify_batch([t for t, _ in test_in])
    r_oos = clf5.classify_batch([t for t, _ in raw["oos_test"]])
    out["clinc_5shot_inscope_acc_default"] = round(
        float(np.mean([r.intent == g for r, g in zip(r_in, gold, strict=True)])), 4
    )
    out["clinc_5shot_oos_recall_default"] = round(
        float(np.mean([r.intent is None for r in r_oos])), 4
    )
    log(
        f"CLINC test, 5 examples per intent, default threshold: in-scope acc "
        f"{out['clinc_5shot_inscope_acc_default']:.4f}, oos recall "
        f"{out['clinc_5shot_oos_recall_default']:.4f}"
    )
    return out


def dstc10(data: Path, emb: CachedEmbedder) -> dict[str, Any]:
    folder = data / "dstc10_spoken_faq"
    knowledge: Mapping[str, Mapping[str, Any]] = json.loads(
        (folder / "knowledge.json").read_text(encoding="utf-8")
    )
    entries = []
    for domain, ents in knowledge.items():
        for ent_id, ent in ents.items():
            topic = ent.get("name") or domain
            for doc_id, doc in ent["docs"].items():
                entries.append(
                    FaqEntry(
                        questions=(doc["title"],),
                        answer=doc["body"],
                        id=f"{domain}/{ent_id}/{doc_id}",
                        topic=topic,
                    )
                )
    t0 = time.perf_counter()
    kb = KnowledgeBase(entries, emb)
    log(f"DSTC10: indexed {len(entries)} FAQ docs in {time.perf_counter() - t0:.1f} s")
    logs = json.loads((folder / "val_logs.json").read_text(encoding="utf-8"))
    with (folder / "val_knowledge_seeking_turns.tsv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    hits: dict[str, list[tuple[int, int, int]]] = {"ctx": [], "noctx": []}
    for row in rows:
        idx = int(row["idx"])
        gold = f"{row['domain']}/{row['entity_id']}/{row['doc_id']}"
        context = [t.get("text", "") for t in logs[idx][:-1]]
        for key, ctx in (("ctx", context), ("noctx", [])):
            ids = [e.id for e, _ in kb.search(row["user_turn_asr_1best"], k=5, context=ctx)]
            hits[key].append((idx, int(ids[:1] == [gold]), int(gold in ids)))

    def recall(items: list[tuple[int, int, int]], col: int, parity: int | None = None) -> float:
        sel = [h[col] for h in items if parity is None or h[0] % 2 == parity]
        return round(float(np.mean(sel)), 4)

    out = {
        "dstc10_recall_at_1": recall(hits["ctx"], 1),
        "dstc10_recall_at_5": recall(hits["ctx"], 2),
        "dstc10_recall_at_1_odd": recall(hits["ctx"], 1, 1),
        "dstc10_recall_at_1_no_context": recall(hits["noctx"], 1),
        "dstc10_recall_at_5_no_context": recall(hits["noctx"], 2),
    }
    log(
        f"DSTC10 spoken FAQ ({len(rows)} turns): recall@1 {out['dstc10_recall_at_1']:.4f}, "
        f"recall@5 {out['dstc10_recall_at_5']:.4f} with dialogue context (odd turns only: "
        f"r@1 {out['dstc10_recall_at_1_odd']:.4f}); last turn alone: r@1 "
        f"{out['dstc10_recall_at_1_no_context']:.4f}, "
        f"r@5 {out['dstc10_recall_at_5_no_context']:.4f}"
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="end with one JSON line of figures")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    parser.add_argument("--spoken-per-intent", type=int, default=10,
                        help="test sentences per intent for the spoken channel (0: skip it)")
    parser.add_argument("--sections", default="banking,calibration,spoken,clinc,dstc",
                        help="comma-separated subset to run (CPU is scarce)")
    parser.add_argument("--noised", action="store_true",
                        help="also train on ASR-noised copies of the train examples (first run "
                             "speaks 770 examples: ~7-13 min on 2 cores; cached after)")
    parser.add_argument("--asr-model", default="",
                        help="ASR model for the spoken test sentences: tiny.en (default), base, "
                             "or a CTranslate2 directory (ivr.asr_models)")
    args = parser.parse_args(argv)
    data: Path = args.data
    if not (data / "banking77").exists():
        print(f"data not found under {data}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    bulk = CachedEmbedder(threads=2)  # bulk embedding only; latency is measured on one thread
    fast = Embedder(threads=1)
    results: dict[str, Any] = {}
    sections = set(args.sections.split(","))
    if "banking" in sections:
        results.update(banking(data, bulk, fast))
    if sections & {"calibration", "spoken"}:
        cal_figures, clf = calibrated(data, bulk, args.spoken_per_intent)
        results.update(cal_figures)
        if "spoken" in sections and args.spoken_per_intent > 0:
            results.update(spoken(data, clf, args.spoken_per_intent, bulk, args.noised,
                                      args.asr_model))
    if "clinc" in sections:
        results.update(clinc(data, bulk))
    if "dstc" in sections:
        results.update(dstc10(data, bulk))
    results["bench_seconds"] = round(time.perf_counter() - t0, 1)
    log(f"total {results['bench_seconds']} s")
    if args.json:
        print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
