"""Train the end-of-turn text completeness head (ivr/call/completeness.py) and write its weights.

Data (TRAIN splits only): Banking77 ``train.csv`` and CLINC150 ``train`` + ``oos_train``. Each
utterance is a positive ("complete"); the same utterance cut after a random word (1..n-1 words
kept) is a negative. Validation: CLINC150 ``val`` + ``oos_val`` built the same way; test splits
are never read. Model: logistic regression (numpy, Adam, L2) on MiniLM features.

    python tools/train_endofturn.py [--per-source 3000] [--out ivr/call/endofturn_weights.npz]

Prints validation accuracy and the rate of fragments scored >= 0.5 / complete scored < 0.5.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ivr.call.completeness import WEIGHTS, features, normalise  # noqa: E402
from ivr.nlu.embedder import Embedder  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def pairs(texts: list[str], rng: np.random.Generator) -> tuple[list[str], list[int]]:
    xs, ys = [], []
    for t in texts:
        words = normalise(t).split()
        if len(words) < 2:
            continue
        xs.append(" ".join(words))
        ys.append(1)
        k = int(rng.integers(1, len(words)))
        xs.append(" ".join(words[:k]))
        ys.append(0)
    return xs, ys


def fit(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 400,
        lr: float = 0.05) -> tuple[np.ndarray, float]:
    w = np.zeros(x.shape[1], dtype=np.float64)
    b = 0.0
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    mb = vb = 0.0
    for t in range(1, steps + 1):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
        g = x.T @ (p - y) / len(y) + l2 * w
        gb = float(np.mean(p - y))
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        mb = 0.9 * mb + 0.1 * gb
        vb = 0.999 * vb + 0.001 * gb * gb
        w -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
        b -= lr * (mb / (1 - 0.9**t)) / (np.sqrt(vb / (1 - 0.999**t)) + 1e-8)
    return w, b


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-source", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=WEIGHTS)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    with open(DATA / "banking77" / "train.csv", newline="", encoding="utf-8") as f:
        banking = [row["text"] for row in csv.DictReader(f)]
    clinc = json.loads((DATA / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    clinc_train = [t for t, _ in clinc["train"] + clinc["oos_train"]]
    clinc_val = [t for t, _ in clinc["val"] + clinc["oos_val"]]
    train: list[str] = []
    for source in (banking, clinc_train):
        idx = rng.permutation(len(source))[: args.per_source]
        train += [source[i] for i in idx]
    xs, ys = pairs(train, rng)
    vx, vy = pairs([clinc_val[i] for i in rng.permutation(len(clinc_val))[:1500]], rng)
    emb = Embedder()
    print(f"embedding {len(xs)} train / {len(vx)} val texts...", flush=True)
    x, xv = features(emb, xs), features(emb, vx)
    w, b = fit(x.astype(np.float64), np.asarray(ys, dtype=np.float64))
    pv = 1.0 / (1.0 + np.exp(-(xv @ w + b)))
    yv = np.asarray(vy)
    acc = float(np.mean((pv >= 0.5) == (yv == 1)))
    frag_hi = float(np.mean(pv[yv == 0] >= 0.5))
    comp_lo = float(np.mean(pv[yv == 1] < 0.5))
    print(f"val accuracy {acc:.3f}; fragments scored complete {frag_hi:.3f}; complete scored "
          f"fragment {comp_lo:.3f}")
    for lo in (0.2, 0.3, 0.4):
        print(f"  p < {lo}: holds {np.mean(pv[yv == 0] < lo):.3f} of fragments, "
              f"{np.mean(pv[yv == 1] < lo):.3f} of complete turns")
    np.savez_compressed(args.out, w=w.astype(np.float32), b=np.float32(b),
                        val_accuracy=np.float32(acc))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
