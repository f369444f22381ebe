"""The navigation engine: a loaded dialplan driven by text, one small state per call."""

from __future__ import annotations

from ivr.engine.entities import Entities, default_entities
from ivr.engine.factory import PlanFactory, build_factory
from ivr.engine.matching import (
    FaqSearcher,
    IntentGuess,
    IntentMatcher,
    LexicalFaq,
    LexicalMatcher,
)

__all__ = [
    "Entities",
    "FaqSearcher",
    "IntentGuess",
    "IntentMatcher",
    "LexicalFaq",
    "LexicalMatcher",
    "PlanFactory",
    "build_factory",
    "default_entities",
]
