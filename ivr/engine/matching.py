"""What the engine needs from NLU, as Protocols, and the :mod:`ivr.nlu` models that provide it.

The engine depends on behaviour (``classify(text)`` -> intent + confidence; ``best(text)`` -> FAQ
entry + score), not on :mod:`ivr.nlu`'s classes, so dialogue logic can be tested with a
deterministic matcher (the tests' word-overlap doubles) and the NLU can change models without
touching the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ivr.dialplan.models import FaqEntry
from ivr.nlu.calibration import CalibratedClassifier
from ivr.nlu.kb import FaqEntry as KbEntry
from ivr.nlu.kb import KnowledgeBase
from ivr.nlu.lexical import STOPWORDS, normalize, stem


class IntentGuess(Protocol):
    """The shape of ``ivr.nlu.intents.IntentResult`` the engine reads."""

    @property
    def intent(self) -> str | None: ...

    @property
    def confidence(self) -> float: ...


GLOBAL_PREFIX = "global:"
"""Label of a global intent inside a menu's classifier (they compete on one scale there)."""
FAQ_PREFIX = "faq:"
"""Label of an FAQ entry (by index) inside a menu's classifier."""


def ranked_of(guess: IntentGuess) -> list[tuple[str, float]]:
    """The candidates of a guess, best first: its ``ranked`` when it has one (the calibrated
    classifier's), else just its intent (simple matchers, e.g. the tests' doubles)."""
    ranked = getattr(guess, "ranked", None)
    if ranked:
        return [(str(n), float(p)) for n, p in ranked]
    return [(guess.intent, float(guess.confidence))] if guess.intent else []


class IntentMatcher(Protocol):
    """Classifies one utterance among the labels it was built with."""

    def classify(self, text: str) -> IntentGuess: ...


class FaqSearcher(Protocol):
    """Finds the FAQ entry closest to a question: ``(entry, score)`` or None."""

    def best(self, text: str) -> tuple[Any, float] | None: ...


MatcherFactory = Callable[[Mapping[str, Sequence[str]]], IntentMatcher]
FaqFactory = Callable[[Sequence[FaqEntry]], FaqSearcher]


def nlu_matcher(
    examples: Mapping[str, Sequence[str]], heard: Mapping[str, str] | None = None
) -> IntentMatcher:
    """The default :data:`MatcherFactory`: a :class:`~ivr.nlu.calibration.CalibratedClassifier`
    (confidences are probabilities, calibrated on the examples' own cross-validated folds).

    Intent names are not added as examples: the factory passes each option's name itself, and
    prefixed labels ("global:agent") are not phrases a caller says. ``heard``: ASR transcripts
    of the examples (:mod:`ivr.nlu.noised`), trained on and calibrated with.
    """
    return CalibratedClassifier(examples, use_intent_names=False, heard=heard)


def nlu_faq(entries: Sequence[FaqEntry]) -> FaqSearcher:
    """The default :data:`FaqFactory`: an :class:`ivr.nlu.kb.KnowledgeBase` of the plan's FAQ."""
    items = [
        KbEntry(questions=tuple(e.questions), answer=e.answer, id=e.id or str(i))
        for i, e in enumerate(entries)
    ]
    return KnowledgeBase(items)


#: Words that carry no request of their own ("I'd like to ...", "hi, could you ...").
_FILLER = frozenset((
    "i'd", "i'm", "id", "im", "like", "want", "wanna", "need", "hi", "hello", "hey", "yeah",
    "sure", "ok", "okay", "well", "actually", "really", "maybe", "possible", "help", "get",
    "go", "let", "know", "now", "today", "right", "one", "someone's",
))  # fmt: skip


def _content(text: str) -> frozenset[str]:
    return frozenset(
        stem(w) for w in normalize(text).split() if w not in STOPWORDS and w not in _FILLER
    )


@dataclass(frozen=True, slots=True)
class Guess:
    """An :class:`IntentGuess` with its ranked candidates."""

    intent: str | None
    confidence: float
    ranked: tuple[tuple[str, float], ...]


class WholeUtterance:
    """Global intents must match the whole utterance, not one keyword somewhere in it.

    "best local real estate agent" contains the agent example "agent", and a classifier that
    only sees the nearest example is sure of itself. A global intent's probability is scaled by
    how much of the caller's content words (fillers like "I'd like" aside) its examples use, so
    a keyword inside an unrelated question no longer transfers the caller; menu options are
    untouched.
    """

    def __init__(
        self, inner: IntentMatcher, examples: Mapping[str, Sequence[str]], prefix: str = ""
    ) -> None:
        self._inner = inner
        self._prefix = prefix
        self._words = {
            label: frozenset().union(*(_content(e) for e in ex))
            for label, ex in examples.items()
            if label.startswith(prefix)
        }

    def coverage(self, label: str, text: str) -> float:
        """Share of ``text``'s content words that ``label``'s examples use (0..1)."""
        words = _content(text)
        if not words:
            return 1.0
        return len(words & self._words.get(label, frozenset())) / len(words)

    def classify(self, text: str) -> IntentGuess:
        guess = self._inner.classify(text)
        ranked = ranked_of(guess)
        if not any(n in self._words for n, _ in ranked):
            return guess
        scaled = sorted(
            ((n, round(p * self.coverage(n, text), 4) if n in self._words else p)
             for n, p in ranked),
            key=lambda c: -c[1],
        )
        best_name, best_p = scaled[0]
        intent = best_name if guess.intent is not None else None
        return Guess(intent, best_p, tuple(scaled))


class Repaired:
    """Classifies the transcript with the plan's vocabulary spelled right first
    (:class:`ivr.nlu.phonetic.VocabularyRepair`: "a PR" -> "APR")."""

    def __init__(self, inner: IntentMatcher, vocabulary: Sequence[str]) -> None:
        from ivr.nlu.phonetic import VocabularyRepair

        self._inner = inner
        self.repair = VocabularyRepair(vocabulary)

    def classify(self, text: str) -> IntentGuess:
        return self._inner.classify(self.repair.repair(text))
