"""Scoring understanding the way a caller experiences it (shared by the benchmark and `ivr eval`).

A turn's outcome under the decision policy (:func:`ivr.engine.decide.decide`):

* ``right``: accepted, and it was the caller's option;
* ``confirmed_right``: we asked ("did you mean A?" / "A, or B?") and the right one was offered;
* ``confirmed_wrong``: we asked, but offered only wrong options (the caller says no; no harm done
  beyond a question);
* ``wrong``: accepted a wrong option without asking: the caller is misrouted;
* ``no_match``: asked again.

Plus expected calibration error with its reliability table, and word error rates per word class
(e.g. the plan's vocabulary words apart from the rest).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ivr.engine.decide import Policy, decide
from ivr.nlu.lexical import normalize

OUTCOMES = ("right", "confirmed_right", "confirmed_wrong", "wrong", "no_match")


def outcome(ranked: Sequence[tuple[str, float]], gold: str | None, policy: Policy) -> str:
    """One of :data:`OUTCOMES` for a turn whose calibrated candidates are ``ranked``."""
    d = decide(ranked, policy)
    if d.kind == "accept":
        return "right" if d.options[0] == gold else "wrong"
    if d.kind in ("confirm", "disambiguate"):
        return "confirmed_right" if gold in d.options else "confirmed_wrong"
    return "no_match"


def rates(outcomes: Iterable[str]) -> dict[str, float]:
    """Share of each outcome, plus ``confirm_rate`` (turns that asked a question)."""
    c = Counter(outcomes)
    n = max(sum(c.values()), 1)
    out = {k: round(c[k] / n, 4) for k in OUTCOMES}
    out["confirm_rate"] = round((c["confirmed_right"] + c["confirmed_wrong"]) / n, 4)
    return out


@dataclass(frozen=True, slots=True)
class Reliability:
    """Expected calibration error and the table behind it (one row per non-empty bin)."""

    ece: float
    rows: tuple[tuple[float, float, int, float, float], ...]
    """(bin low, bin high, count, mean confidence, accuracy)."""


def reliability(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> Reliability:
    """ECE over equal-width confidence bins: sum of |confidence - accuracy| weighted by count."""
    p = np.asarray(confidence, dtype=float)
    y = np.asarray(correct, dtype=float)
    if p.size == 0:
        return Reliability(0.0, ())
    idx = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    ece = 0.0
    for b in range(bins):
        sel = idx == b
        if not sel.any():
            continue
        conf, acc = float(p[sel].mean()), float(y[sel].mean())
        ece += sel.mean() * abs(conf - acc)
        rows.append((b / bins, (b + 1) / bins, int(sel.sum()), round(conf, 4), round(acc, 4)))
    return Reliability(round(float(ece), 4), tuple(rows))


def word_error_rates(
    refs: Sequence[str], hyps: Sequence[str], classes: Mapping[str, frozenset[str]]
) -> dict[str, float | None]:
    """WER overall and per word class: errors (substitutions + deletions) on the reference words
    of a class, over that class's reference words. Insertions count only overall."""
    from rapidfuzz.distance import Levenshtein

    total_err = total_ref = 0
    err: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for ref, hyp in zip(refs, hyps, strict=True):
        r, h = normalize(ref).split(), normalize(hyp).split()
        ops = Levenshtein.editops(r, h)
        wrong = {op.src_pos for op in ops if op.tag in ("replace", "delete")}
        total_err += len(ops)
        total_ref += len(r)
        for i, w in enumerate(r):
            for name, words in classes.items():
                if w in words:
                    count[name] += 1
                    err[name] += i in wrong
    out: dict[str, float | None] = {"all": round(total_err / max(total_ref, 1), 4)}
    for name in classes:
        out[name] = round(err[name] / count[name], 4) if count[name] else None
    return out


def suggest_accept(
    ranked: Sequence[Sequence[tuple[str, float]]],
    gold: Sequence[str | None],
    policy: Policy,
    max_wrong: float = 0.04,
) -> float:
    """The lowest ``accept`` threshold whose unconfirmed wrong routes stay within ``max_wrong``
    of the turns on this data (the rest of the policy as given)."""
    for accept in np.round(np.arange(0.4, 0.99, 0.05), 2):
        pol = _with(policy, accept=float(accept))
        outs = [outcome(r, g, pol) for r, g in zip(ranked, gold, strict=True)]
        if rates(outs)["wrong"] <= max_wrong:
            return float(accept)
    return 0.95


@dataclass(frozen=True, slots=True)
class _Policy:
    accept: float
    confirm: float
    disambiguate: float
    suggest: int


def _with(policy: Policy, accept: float) -> Policy:
    confirm = min(policy.confirm, accept)
    return _Policy(accept, confirm, min(policy.disambiguate, confirm), policy.suggest)
