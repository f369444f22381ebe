"""What the engine needs from NLU, as Protocols, plus a small lexical stand-in.

The engine depends on behaviour (``classify(text)`` -> intent + confidence; ``best(text)`` -> FAQ
entry + score), not on :mod:`ivr.nlu`'s classes, so dialogue logic can be tested with a
deterministic matcher and the NLU can change models without touching the engine. The lexical
matcher here is what runs when :mod:`ivr.nlu` is not installed, and what unit tests inject: it is
word overlap, not understanding, which is exactly what makes tests predictable.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.dialplan.models import FaqEntry


class IntentGuess(Protocol):
    """The shape of ``ivr.nlu.intents.IntentResult`` the engine reads."""

    @property
    def intent(self) -> str | None: ...

    @property
    def confidence(self) -> float: ...


class IntentMatcher(Protocol):
    """Classifies one utterance among the labels it was built with."""

    def classify(self, text: str) -> IntentGuess: ...


class FaqSearcher(Protocol):
    """Finds the FAQ entry closest to a question: ``(entry, score)`` or None."""

    def best(self, text: str) -> tuple[Any, float] | None: ...


MatcherFactory = Callable[[Mapping[str, Sequence[str]]], IntentMatcher]
FaqFactory = Callable[[Sequence[FaqEntry]], FaqSearcher]


@dataclass(frozen=True, slots=True)
class Guess:
    intent: str | None
    confidence: float


_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "i",
        "i'm",
        "im",
        "me",
        "my",
        "to",
        "of",
        "for",
        "and",
        "or",
        "is",
        "it",
        "its",
        "it's",
        "in",
        "on",
        "at",
        "be",
        "can",
        "could",
        "would",
        "like",
        "want",
        "need",
        "please",
        "about",
        "with",
        "do",
        "does",
        "did",
        "you",
        "your",
        "we",
        "our",
        "this",
        "that",
        "there",
        "have",
        "has",
        "just",
        "so",
        "some",
        "get",
    ]
)
_WORD = re.compile(r"[a-z0-9']+")


def _stem(w: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(w) > len(suffix) + 2 and w.endswith(suffix):
            return w[: -len(suffix)]
    return w


def words(text: str) -> frozenset[str]:
    """Content words, lower-cased and crudely stemmed."""
    return frozenset(_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP)


def _norm(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def similarity(query: str, example: str) -> float:
    """Dice overlap of content words; a whole example phrase inside the query scores 0.9+."""
    q, e = words(query), words(example)
    if not q or not e:
        return 0.0
    score = 2 * len(q & e) / (len(q) + len(e))
    ne = _norm(example)
    if ne and re.search(rf"\b{re.escape(ne)}\b", _norm(query)):
        score = max(score, 0.9 + 0.1 * score)
    return min(score, 1.0)


class LexicalMatcher:
    """Word-overlap intent matcher: the best example's similarity is the confidence."""

    def __init__(self, examples: Mapping[str, Sequence[str]]) -> None:
        self._examples = {k: tuple(v) for k, v in examples.items()}

    def classify(self, text: str) -> Guess:
        best: tuple[str | None, float] = (None, 0.0)
        for label, phrases in self._examples.items():
            for p in phrases:
                s = similarity(text, p)
                if s > best[1]:
                    best = (label, s)
        return Guess(*best)


class LexicalFaq:
    """Word-overlap FAQ search."""

    def __init__(self, entries: Sequence[FaqEntry]) -> None:
        self._entries = list(entries)

    def best(self, text: str) -> tuple[FaqEntry, float] | None:
        scored = [
            (max(similarity(text, q) for q in e.questions), i) for i, e in enumerate(self._entries)
        ]
        if not scored:
            return None
        score, i = max(scored)
        return self._entries[i], score


def default_matcher_factory() -> MatcherFactory:
    """``ivr.nlu``'s classifier when installed, else the lexical stand-in."""
    try:
        from ivr.nlu.intents import IntentClassifier
    except ImportError:
        return LexicalMatcher

    def make(examples: Mapping[str, Sequence[str]]) -> IntentMatcher:
        matcher: IntentMatcher = IntentClassifier(examples)
        return matcher

    return make


def default_faq_factory() -> FaqFactory:
    """``ivr.nlu.kb.KnowledgeBase`` when installed, else the lexical stand-in."""
    try:
        kb = importlib.import_module("ivr.nlu.kb")
    except ImportError:
        return LexicalFaq

    def make(entries: Sequence[FaqEntry]) -> FaqSearcher:
        items = [
            kb.FaqEntry(questions=tuple(e.questions), answer=e.answer, id=e.id or str(i))
            for i, e in enumerate(entries)
        ]
        searcher: FaqSearcher = kb.KnowledgeBase(items)
        return searcher

    return make
