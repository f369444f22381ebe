"""How well does the IVR tell that a caller is upset? Precision/recall of "negative" per utterance.

Data (made by others, read from ../shared/data, never copied):
- MAIA-DQE (Mendonça et al., GEM 2023, CC BY-ND 4.0): customer sentences from real support chats,
  negative = frustration/anger/disappointment. The sentence table is derived in memory with the
  recipe in its README; the threshold is chosen on train+val (best F1) and reported on test.
- XED English (Öhman et al., COLING 2020, CC BY 4.0): film-subtitle lines, negative = anger,
  disgust, fear or sadness. Off-domain check with the MAIA-chosen threshold (nothing tuned on it).

Measured: VADER compound, as ``ivr.handoff.sentiment`` runs it (a bare "no" is an answer, not
scored). The hand-written keyword rule it replaced (``ivr.nlu.entities.sentiment_negative``),
measured by this script before its removal: MAIA test P 1.00 / R 0.01 (2 of 198 flagged),
XED P 0.89 / R 0.04 -- precise, but it missed almost every upset caller.

    python bench/sentiment.py --json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ivr.handoff import sentiment  # noqa: E402

SHARED = Path(os.environ.get("IVR_SHARED_DATA", ROOT.parent / "shared" / "data"))
MAIA_PAIRS = {"de_client_02": "dDE2", "pt_br_client_02": "dBR1", "pt_br_client_04": "dBR2",
              "pt_pt_client_03": "dPT"}
NEGATIVE = {"frustration", "anger", "disappointment"}
_PLACEHOLDER = re.compile(r"^(?:[\W_]*#[A-Z_]+#[\W_]*)+$")
_UPLOAD = ("Size: ", "Url: ", "URL: ", "Type: ", "Visitor uploaded: ")

Row = tuple[str, bool]


def load_maia(root: Path) -> dict[str, list[Row]]:
    """The MAIA-DQE sentence table by split, derived as its README says (in memory only)."""
    orig = root / "orig"
    labels = (orig / "labels.txt").read_text().split()
    out: dict[str, list[Row]] = {"train": [], "val": [], "test": []}
    for subset, split_file in MAIA_PAIRS.items():
        splits = json.loads((orig / f"{split_file}_splits_a.json").read_text())
        which = {d: s for s in ("val", "test") for d in splits.get(s, [])}
        for dialogue in json.loads((orig / f"{subset}_a.json").read_text()):
            split = which.get(dialogue["id"], "train")
            for turn in dialogue["turns"]:
                if turn.get("floor") != "inbound":
                    continue
                for text, code in zip(turn["text_mt"], turn["Emotion"], strict=True):
                    text = " ".join(str(text).split())
                    if not text or _PLACEHOLDER.match(text) or text.startswith(_UPLOAD):
                        continue
                    out[split].append((text, labels[code] in NEGATIVE))
    return out


def load_maia_dialogues(root: Path, split: str) -> list[list[Row]]:
    """Per dialogue of ``split``: its customer turns (sentences joined), negative if any is."""
    orig = root / "orig"
    labels = (orig / "labels.txt").read_text().split()
    out: list[list[Row]] = []
    for subset, split_file in MAIA_PAIRS.items():
        splits = json.loads((orig / f"{split_file}_splits_a.json").read_text())
        which = {d: s for s in ("val", "test") for d in splits.get(s, [])}
        for dialogue in json.loads((orig / f"{subset}_a.json").read_text()):
            if which.get(dialogue["id"], "train") != split:
                continue
            turns: list[Row] = []
            for turn in dialogue["turns"]:
                if turn.get("floor") != "inbound":
                    continue
                kept = [(" ".join(str(t).split()), labels[c] in NEGATIVE)
                        for t, c in zip(turn["text_mt"], turn["Emotion"], strict=True)]
                kept = [(t, g) for t, g in kept
                        if t and not _PLACEHOLDER.match(t) and not t.startswith(_UPLOAD)]
                if kept:
                    turns.append((" ".join(t for t, _ in kept), any(g for _, g in kept)))
            out.append(turns)
    return out


def dialogue_level(dialogues: list[list[Row]]) -> dict[str, object]:
    """The engine's rule over whole conversations: does it flag the dialogues with >= 2 upset
    customer turns, and how often does one upset turn alone (the old single-turn rule) fire?"""
    gold, two_turn, one_turn = [], [], []
    for turns in dialogues:
        mood = sentiment.Mood()
        for text, _ in turns:
            mood.observe(text)
        gold.append(sum(g for _, g in turns) >= 2)
        two_turn.append(mood.frustrated(failures=0))
        one_turn.append(mood.upset_turns >= 1)
    return {"gold": "dialogues with >= 2 negative customer turns",
            "rule_two_upset_turns": prf(two_turn, gold),
            "single_turn_rule": prf(one_turn, gold)}


def load_xed(root: Path) -> list[Row]:
    with (root / "xed_en.tsv").open(encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        next(reader)
        return [(r[0], r[1] == "negative") for r in reader if len(r) >= 2]


def prf(pred: Sequence[bool], gold: Sequence[bool]) -> dict[str, float]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    fp = sum(p and not g for p, g in zip(pred, gold, strict=True))
    fn = sum(g and not p for p, g in zip(pred, gold, strict=True))
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3),
            "n": len(gold), "positives": sum(gold), "flagged": tp + fp}


def choose_threshold(scores: Sequence[float], gold: Sequence[bool]) -> float:
    """Best-F1 threshold on a grid (ties: the stricter, i.e. lower, threshold)."""
    best, best_f = 0.0, -1.0
    for i in range(0, 96):
        th = round(-0.95 + i * 0.01, 2)
        f = prf([s <= th for s in scores], gold)["f1"]
        if f > best_f:
            best, best_f = th, f
    return best


def _score(text: str) -> float:
    """What the engine scores: a bare "no" counts as not upset (score 0)."""
    s = sentiment.turn_score(text)
    return 0.0 if s is None else s


def run(limit: int | None) -> dict[str, object]:
    maia = load_maia(SHARED / "maia_dqe")
    tune = maia["train"] + maia["val"]
    t0 = time.perf_counter()
    tune_scores = [_score(t) for t, _ in tune]
    per_turn_ms = (time.perf_counter() - t0) * 1000 / max(len(tune), 1)
    th = choose_threshold(tune_scores, [g for _, g in tune])
    result: dict[str, object] = {
        "model": "vadersentiment compound",
        "threshold_chosen_on_train_val": th,
        "threshold_in_code": sentiment.UPSET_THRESHOLD,
        "ms_per_turn_mean": round(per_turn_ms, 3),
        "maia_dqe": {},
        "xed_en": {},
    }
    sets: dict[str, list[Row]] = {"train_val": tune, "test": maia["test"]}
    result["maia_dqe_dialogues_test"] = dialogue_level(
        load_maia_dialogues(SHARED / "maia_dqe", "test"))
    xed = load_xed(SHARED / "xed_en")
    if limit:
        xed = xed[:limit]
    for name, rows in list(sets.items()) + [("all", xed)]:
        key = "xed_en" if name == "all" else "maia_dqe"
        scores = [_score(t) for t, _ in rows]
        gold = [g for _, g in rows]
        block: dict[str, object] = {
            "vader_at_code_threshold": prf([s <= sentiment.UPSET_THRESHOLD for s in scores], gold),
            "vader_at_chosen_threshold": prf([s <= th for s in scores], gold),
            "median_score_negative": round(statistics.median(
                [s for s, g in zip(scores, gold, strict=True) if g] or [0.0]), 3),
        }
        result[key][name] = block  # type: ignore[index]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--xed-limit", type=int, default=None, help="score only the first N XED rows")
    args = ap.parse_args()
    if not (SHARED / "maia_dqe").exists():
        print(json.dumps({"skipped": f"no shared data at {SHARED}"}))
        return
    res = run(args.xed_limit)
    print(json.dumps(res, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
