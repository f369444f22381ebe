"""Lexical matching: normalisation, features and sparse TF-IDF / BM25 indexes in plain numpy.

Why a lexical side at all: sentence embeddings blur rare but decisive words ("Apple Pay", "PIN",
"SWIFT", a product name) and ASR garbles words in ways embeddings have never seen ("check kin
time"). Word features catch the exact terms; character 4-grams inside words survive one wrong
letter. We keep it dependency-free (no scipy/sklearn) with per-feature posting lists: scoring a
query costs one ``np.bincount`` over the postings of its few features.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SUFFIXES = ("ing", "ed", "es", "s")

#: Function words dropped for BM25: in FAQ retrieval they only add noise (every title has them).
STOPWORDS = frozenset((
    "a", "an", "the", "and", "or", "but", "if", "of", "to", "in", "on", "at", "for", "from", "by",
    "with", "about", "as", "is", "are", "was", "were", "be", "been", "being", "do", "does", "did",
    "have", "has", "had", "i", "me", "my", "we", "our", "you", "your", "he", "she", "it", "its",
    "they", "them", "their", "this", "that", "these", "those", "there", "here", "what", "which",
    "who", "whom", "whose", "when", "where", "why", "how", "can", "could", "would", "should",
    "will", "shall", "may", "might", "must", "am", "uh", "um", "umm", "hmm", "oh", "ok", "okay",
    "so", "just", "also", "any", "some", "please", "thanks", "thank", "yes", "no", "not"
))  # fmt: skip


def normalize(text: str) -> str:
    """Lower-case, unify apostrophes and collapse everything but letters/digits into spaces."""
    text = text.lower().replace("\u2019", "'").replace("`", "'")
    return " ".join(_WORD.findall(text))


def stem(word: str) -> str:
    """A crude suffix stripper: "topping"/"topped"/"tops" -> "topp"/"top".

    Good enough to make inflections share a feature; a real stemmer buys little on short
    utterances and would be another dependency.
    """
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text: str, *, drop_stopwords: bool = False) -> list[str]:
    """Stemmed words of ``text`` (optionally without stop words)."""
    out = [stem(w) for w in _WORD.findall(text.lower().replace("\u2019", "'"))]
    if drop_stopwords:
        out = [w for w in out if w not in STOPWORDS]
    return out


def features(text: str, *, chars: bool = True, bigrams: bool = True) -> list[str]:
    """Word unigrams, word bigrams and in-word character 4-grams, as prefixed strings."""
    ws = words(text)
    feats = ["w:" + w for w in ws]
    if bigrams:
        feats += ["b:" + a + "_" + b for a, b in zip(ws, ws[1:], strict=False)]
    if chars:
        for w in ws:
            padded = "#" + w + "#"
            feats += ["c:" + padded[i : i + 4] for i in range(max(1, len(padded) - 3))]
    return feats


class _PostingIndex:
    """Feature -> (document ids, weights); the sparse matrix stored column by column."""

    def __init__(self, docs: Sequence[Sequence[tuple[int, float]]], n_features: int) -> None:
        rows: list[list[int]] = [[] for _ in range(n_features)]
        vals: list[list[float]] = [[] for _ in range(n_features)]
        for doc_id, vec in enumerate(docs):
            for fid, weight in vec:
                rows[fid].append(doc_id)
                vals[fid].append(weight)
        self._ids = [np.asarray(r, dtype=np.int64) for r in rows]
        self._vals = [np.asarray(v, dtype=np.float32) for v in vals]
        self.n_docs = len(docs)

    def dot(self, query: Iterable[tuple[int, float]]) -> np.ndarray:
        """Scores of every document against a sparse query vector."""
        q = list(query)
        if not q:
            return np.zeros(self.n_docs, dtype=np.float32)
        ids = np.concatenate([self._ids[f] for f, _ in q])
        vals = np.concatenate([self._vals[f] * w for f, w in q])
        return np.bincount(ids, vals, minlength=self.n_docs).astype(np.float32)


class TfidfIndex:
    """Cosine similarity of sublinear TF-IDF vectors (words, bigrams, char 4-grams).

    Used for intent examples: short texts where exact and near-exact overlap is the signal.
    """

    def __init__(self, docs: Sequence[str], *, chars: bool = True, bigrams: bool = True) -> None:
        self._chars = chars
        self._bigrams = bigrams
        counts = [Counter(features(d, chars=chars, bigrams=bigrams)) for d in docs]
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        self._vocab = {t: i for i, t in enumerate(df)}
        n = len(docs)
        self._idf = np.array([math.log((1 + n) / (1 + df[t])) + 1.0 for t in df], dtype=np.float64)
        self._index = _PostingIndex([self._vector(c) for c in counts], len(self._vocab))

    def _vector(self, counts: Counter[str]) -> list[tuple[int, float]]:
        items = [
            (self._vocab[t], (1.0 + math.log(c)) * float(self._idf[self._vocab[t]]))
            for t, c in counts.items()
            if t in self._vocab
        ]
        norm = math.sqrt(sum(w * w for _, w in items)) or 1.0
        return [(i, w / norm) for i, w in items]

    def similarities(self, text: str) -> np.ndarray:
        """Cosine similarity (0..1) of ``text`` to every indexed document."""
        counts = Counter(features(text, chars=self._chars, bigrams=self._bigrams))
        return self._index.dot(self._vector(counts))


class Bm25Index:
    """Okapi BM25 over stemmed words without stop words, plus char 4-grams at a lower weight.

    Used for the knowledge base: documents are longer (a question plus its answer) and BM25's
    length normalisation and saturating term frequency suit that better than cosine TF-IDF.
    """

    def __init__(
        self, docs: Sequence[str], *, k1: float = 1.2, b: float = 0.75, char_weight: float = 0.3
    ) -> None:
        self._char_weight = char_weight
        toks = [self._terms(d) for d in docs]
        n = len(docs)
        df: Counter[str] = Counter()
        for t in toks:
            df.update(set(t))
        self._vocab = {t: i for i, t in enumerate(df)}
        idf = {t: math.log(1.0 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        lengths = np.array([len(t) for t in toks], dtype=np.float64)
        avg = float(lengths.mean()) if n else 1.0
        vecs: list[list[tuple[int, float]]] = []
        for t, length in zip(toks, lengths, strict=True):
            norm = k1 * (1.0 - b + b * length / max(avg, 1e-9))
            vecs.append(
                [
                    (self._vocab[term], idf[term] * tf * (k1 + 1.0) / (tf + norm))
                    for term, tf in Counter(t).items()
                ]
            )
        self._index = _PostingIndex(vecs, len(self._vocab))

    def _terms(self, text: str) -> list[str]:
        ws = words(text, drop_stopwords=True)
        terms = list(ws)
        for w in ws:
            padded = "#" + w + "#"
            terms += ["c:" + padded[i : i + 4] for i in range(max(1, len(padded) - 3))]
        return terms

    def scores(self, text: str) -> np.ndarray:
        """Raw BM25 score of every document (0 = no shared term)."""
        q = Counter(self._terms(text))
        query = [
            (self._vocab[t], (self._char_weight if t.startswith("c:") else 1.0))
            for t in q
            if t in self._vocab
        ]
        return self._index.dot(query)


class CoverageIndex:
    """How completely a text mentions each indexed name: IDF-weighted share of the name's words.

    Why not BM25 here: to tell which entity a conversation is about, "the grant hotel" must beat
    every other "... hotel"; the share of a name's informative words that were said does that,
    and it is an absolute 0..1 figure, comparable across turns.
    """

    #: Said all the time on a phone line (zip codes, times, prices), so weak evidence of a name.
    _NUMBER_WORDS = frozenset((
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve"
    ))  # fmt: skip

    def __init__(self, names: Sequence[str], *, min_coverage: float = 0.6) -> None:
        self._min = min_coverage
        toks = [sorted(set(words(n, drop_stopwords=True))) for n in names]
        n = len(names)
        df: Counter[str] = Counter()
        for t in toks:
            df.update(t)
        self._vocab = {t: i for i, t in enumerate(df)}
        idf = {
            t: math.log(1.0 + n / c) * (0.2 if t in self._NUMBER_WORDS or t.isdigit() else 1.0)
            for t, c in df.items()
        }
        vecs: list[list[tuple[int, float]]] = []
        for t in toks:
            total = sum(idf[w] for w in t) or 1.0
            vecs.append([(self._vocab[w], idf[w] / total) for w in t])
        self._index = _PostingIndex(vecs, len(self._vocab))

    def coverage(self, text: str) -> np.ndarray:
        """Per name, the IDF-weighted fraction (0..1) of its words present in ``text``.

        Fractions below ``min_coverage`` count as 0: a shared generic word is not a mention.
        """
        present = {w for w in words(text, drop_stopwords=True) if w in self._vocab}
        cov = self._index.dot((self._vocab[w], 1.0) for w in present)
        cov[cov < self._min] = 0.0
        return cov
