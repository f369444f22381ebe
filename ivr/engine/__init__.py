"""The navigation engine: a loaded dialplan driven by text, one small state per call."""

from __future__ import annotations

from ivr.engine.factory import PlanFactory, build_factory
from ivr.engine.matching import FaqSearcher, IntentGuess, IntentMatcher

__all__ = [
    "FaqSearcher",
    "IntentGuess",
    "IntentMatcher",
    "PlanFactory",
    "build_factory",
]
