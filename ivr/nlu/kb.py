"""Knowledge-base (FAQ) retrieval: hybrid dense + BM25 scoring, robust to noisy ASR text.

Why hybrid: on transcripts like "is there bike clo ars or bike crac where i can park" the sentence
embedding still finds "bike parking", while BM25 over words and character 4-grams rewards the
rare exact terms ("check-in", "wifi", a dish or a place name) that embeddings blur.

Why ``topic`` and ``context``: in a conversation the FAQ often belongs to something named turns
earlier ("...the Grant Hotel" ... "what is the check-in time for that?"). Entries may carry a
``topic`` (an entity or product name); :meth:`KnowledgeBase.search` matches the recent
``context`` turns against topics, most recent first, and adds that to the score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ivr.nlu.embedder import Embedder, default_embedder
from ivr.nlu.lexical import Bm25Index, CoverageIndex, name_forms

#: ``best`` answers None when the query's own score (without the context bonus) is below this.
#: On DSTC10 val (last turn alone) 0.5 keeps 92% of FAQ questions and rejects 56% of other turns.
DEFAULT_MIN_SCORE = 0.5

#: Weight of the whole recent conversation's mention of a topic, next to the best single turn's
#: (1.0): small, so it only reorders topics that single turns name about equally well.
_TIEBREAK = 0.1


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One answer and the questions it answers. ``topic``: optional entity/product it is about."""

    questions: tuple[str, ...]
    answer: str
    id: str
    topic: str = ""


def _question_forms(entry: FaqEntry) -> list[str]:
    """The entry's questions, and each that names the entry's topic again with the name said
    as callers say it, "it": "Does La Mediterranee serve alcohol?" -> "Does it serve alcohol?".

    Why: a caller who has the place in mind asks "do they serve alcohol", which is closer to
    another place's "Do you serve alcohol?" than to the title that spells this one's name.
    """
    questions = list(entry.questions or (entry.answer,))
    if not entry.topic:
        return questions
    names = "|".join(re.escape(f) for f in sorted(name_forms(entry.topic), key=len, reverse=True))
    pattern = re.compile(rf"\b(?:the\s+)?(?:{names})\b", re.IGNORECASE)
    out = list(questions)
    for q in questions:
        bare = pattern.sub("it", q)
        if bare != q and bare not in out:
            out.append(bare)
    return out


class KnowledgeBase:
    """Searchable FAQ entries; embeddings and indexes are built once, at construction.

    Score of an entry for a query (each signal roughly 0..1, combined as a weighted mean):
    ``dense_weight`` x max cosine to its questions, ``answer_weight`` x cosine to its answer,
    ``lexical_weight`` x BM25 relative to the best-matching entry, plus (when ``context`` is
    given) ``context_weight`` x how well recent turns name its ``topic``.
    """

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        embedder: Embedder | None = None,
        *,
        dense_weight: float = 1.0,
        answer_weight: float = 0.3,
        lexical_weight: float = 0.4,
        context_weight: float = 1.0,
        context_decay: float = 0.9,
        min_score: float = DEFAULT_MIN_SCORE,
    ) -> None:
        self.entries: tuple[FaqEntry, ...] = tuple(entries)
        self.min_score = min_score
        self._w = (dense_weight, answer_weight, lexical_weight)
        self._context_weight = context_weight
        self._context_decay = context_decay
        self._embedder = embedder or default_embedder()
        questions: list[str] = []
        owners: list[int] = []
        for i, e in enumerate(self.entries):
            for q in _question_forms(e):
                questions.append(q)
                owners.append(i)
        self._owners = np.asarray(owners, dtype=np.int64)
        self._starts = np.searchsorted(self._owners, np.arange(len(self.entries)))
        if self.entries:
            self._q_emb = self._embedder.encode(questions)
            self._a_emb = self._embedder.encode([e.answer for e in self.entries])
        self._bm25 = Bm25Index([" ".join((*e.questions, e.answer, e.topic)) for e in self.entries])
        topics = sorted({e.topic for e in self.entries if e.topic})
        self._topic_of = np.asarray(
            [topics.index(e.topic) if e.topic else -1 for e in self.entries], dtype=np.int64
        )
        self._topics = CoverageIndex(topics) if topics else None
        self._n_topics = len(topics)

    def _topic_scores(self, context: Sequence[str]) -> np.ndarray:
        """Per-entry 0..1 score of how clearly recent turns name the entry's topic."""
        out = np.zeros(len(self.entries), dtype=np.float32)
        if self._topics is None or not context:
            return out
        per_topic = np.zeros(self._n_topics, dtype=np.float32)
        weight = 1.0
        recent: list[str] = []
        for turn in reversed(context):
            per_topic = np.maximum(per_topic, weight * self._topics.coverage(turn))
            if weight >= 0.5:
                recent.append(turn)
            weight *= self._context_decay
        # Near-ties (two branches of one chain, "Super Duper Burgers" said in one turn and "in
        # Union Square" in another) go to the name the recent turns spell out most fully.
        per_topic += _TIEBREAK * self._topics.coverage(" ".join(reversed(recent)), heads=False)
        has = self._topic_of >= 0
        out[has] = per_topic[self._topic_of[has]]
        return out

    def scores(self, text: str, context: Sequence[str] = ()) -> np.ndarray:
        """Score of every entry for ``text`` (higher is better), context bonus included."""
        return self._scores(text, context)[0]

    def _scores(self, text: str, context: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(total score, query-only score) of every entry."""
        if not self.entries:
            empty = np.zeros(0, dtype=np.float32)
            return empty, empty
        wd, wa, wl = self._w
        q = self._embedder.encode([text])[0]
        dense = np.maximum.reduceat(self._q_emb @ q, self._starts)
        lex = self._bm25.scores(text)
        top = float(lex.max())
        lex = lex / top if top > 0 else lex
        own = ((wd * dense + wa * (self._a_emb @ q) + wl * lex) / (wd + wa + wl)).astype(np.float32)
        if not context:
            return own, own
        return own + self._context_weight * self._topic_scores(context), own

    def search(
        self, text: str, k: int = 5, context: Sequence[str] = ()
    ) -> list[tuple[FaqEntry, float]]:
        """The ``k`` best entries for ``text``, best first, with their scores.

        ``context``: earlier turns of the conversation (oldest first), used to find the topic.
        """
        return [
            (self.entries[i], round(float(total[i]), 4))
            for i, total, _ in self._top(text, k, context)
        ]

    def _top(
        self, text: str, k: int, context: Sequence[str]
    ) -> list[tuple[int, np.ndarray, np.ndarray]]:
        if not self.entries or not text.strip():
            return []
        total, own = self._scores(text, context)
        k = min(k, len(self.entries))
        top = np.argpartition(-total, k - 1)[:k]
        top = top[np.argsort(-total[top], kind="stable")]
        return [(int(i), total, own) for i in top]

    def best(self, text: str, context: Sequence[str] = ()) -> tuple[FaqEntry, float] | None:
        """The single best entry, or None when its own score (without the context bonus) is
        below ``min_score``: context may pick *which* entity, never make an unrelated turn an FAQ.
        """
        top = self._top(text, 1, context)
        if not top or float(top[0][2][top[0][0]]) < self.min_score:
            return None
        i, total, _ = top[0]
        return self.entries[i], round(float(total[i]), 4)
