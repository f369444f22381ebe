"""What the engine needs from NLU, as Protocols, and the :mod:`ivr.nlu` models that provide it.

The engine depends on behaviour (``classify(text)`` -> intent + confidence; ``best(text)`` -> FAQ
entry + score), not on :mod:`ivr.nlu`'s classes, so dialogue logic can be tested with a
deterministic matcher (the tests' word-overlap doubles) and the NLU can change models without
touching the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ivr.dialplan.models import FaqEntry
from ivr.nlu.intents import IntentClassifier
from ivr.nlu.kb import FaqEntry as KbEntry
from ivr.nlu.kb import KnowledgeBase


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


def nlu_matcher(examples: Mapping[str, Sequence[str]]) -> IntentMatcher:
    """The default :data:`MatcherFactory`: an :class:`ivr.nlu.intents.IntentClassifier`."""
    return IntentClassifier(examples)


def nlu_faq(entries: Sequence[FaqEntry]) -> FaqSearcher:
    """The default :data:`FaqFactory`: an :class:`ivr.nlu.kb.KnowledgeBase` of the plan's FAQ."""
    items = [
        KbEntry(questions=tuple(e.questions), answer=e.answer, id=e.id or str(i))
        for i, e in enumerate(entries)
    ]
    return KnowledgeBase(items)
