"""Shared helpers for engine tests (no tests here): a text-only caller, deterministic matchers.

The engine reads intents and FAQ answers through Protocols (:mod:`ivr.engine.matching`); these
word-overlap doubles stand in for :mod:`ivr.nlu`'s models so dialogue tests do not depend on an
embedding model's scores. Slot values go through the real :mod:`ivr.nlu.entities` parsers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ivr.dialog import CallerInput, CallInfo, Directive, Hangup, Listen, Say, Transfer
from ivr.dialplan import load_dialplan
from ivr.dialplan.models import FaqEntry
from ivr.engine import build_factory
from ivr.engine.factory import PlanFactory
from ivr.engine.matching import IntentMatcher
from ivr.nlu.lexical import normalize, stem

REPO = Path(__file__).resolve().parents[1]
SHOP = REPO / "dialplans" / "shop.yaml"
OPEN = datetime(2025, 3, 4, 15, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in New York


def factory(path: Path = SHOP, now: datetime = OPEN,
            matcher: Callable[[Mapping[str, Sequence[str]]], IntentMatcher] | None = None
            ) -> PlanFactory:
    """A factory with deterministic intents and FAQ (word overlap) and a pinned clock."""
    return build_factory(load_dialplan(path), clock=lambda: now,
                         matcher_factory=matcher or LexicalMatcher, faq_factory=LexicalFaq)


class Caller:
    """Plays one call by text and checks the contract on every turn."""

    def __init__(self, f: PlanFactory) -> None:
        self.dialog = f.new_call(CallInfo("CA123", from_number="+15555550199"))
        self.turn = self._check(self.dialog.start())

    @staticmethod
    def _check(turn: list[Directive]) -> list[Directive]:
        enders = [d for d in turn if isinstance(d, Listen | Transfer | Hangup)]
        assert len(enders) == 1 and turn[-1] is enders[0], turn
        for d in turn:
            if isinstance(d, Transfer):
                json.dumps(dict(d.context))
        return turn

    def say(self, text: str, confidence: float = 0.9) -> list[Directive]:
        self.turn = self._check(self.dialog.handle(CallerInput("speech", text=text,
                                                               confidence=confidence)))
        return self.turn

    def press(self, digits: str) -> list[Directive]:
        self.turn = self._check(self.dialog.handle(CallerInput("dtmf", digits=digits)))
        return self.turn

    def silence(self) -> list[Directive]:
        self.turn = self._check(self.dialog.handle(CallerInput("no_input")))
        return self.turn

    @property
    def texts(self) -> list[str]:
        return [d.text for d in self.turn if isinstance(d, Say)]

    @property
    def heard(self) -> str:
        return " ".join(self.texts)

    @property
    def last(self) -> Directive:
        return self.turn[-1]


@dataclass(frozen=True, slots=True)
class Guess:
    """An :class:`ivr.engine.matching.IntentGuess`."""

    intent: str | None
    confidence: float


#: Dropped before comparing: words that say nothing about what the caller wants.
_STOP = frozenset((
    "a", "an", "the", "i", "i'm", "im", "me", "my", "to", "of", "for", "and", "or", "is", "it",
    "its", "it's", "in", "on", "at", "be", "can", "could", "would", "like", "want", "need",
    "please", "about", "with", "do", "does", "did", "you", "your", "we", "our", "this", "that",
    "there", "have", "has", "just", "so", "some", "get",
))  # fmt: skip


def _words(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in normalize(text).split() if w not in _STOP)


def similarity(query: str, example: str) -> float:
    """Dice overlap of content words; a whole example phrase inside the query scores 0.9+."""
    q, e = _words(query), _words(example)
    if not q or not e:
        return 0.0
    score = 2 * len(q & e) / (len(q) + len(e))
    ne = normalize(example)
    if ne and re.search(rf"\b{re.escape(ne)}\b", normalize(query)):
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
        scored = [(max(similarity(text, q) for q in e.questions), i)
                  for i, e in enumerate(self._entries)]
        if not scored:
            return None
        score, i = max(scored)
        return self._entries[i], score


class TableMatcher:
    """A matcher whose answers are fixed by a table, to pin confidences in tests."""

    table: dict[str, tuple[str, float]] = {}

    def __init__(self, examples: Mapping[str, Sequence[str]]) -> None:
        self.labels = set(examples)

    def classify(self, text: str) -> Guess:
        intent, conf = self.table.get(text, (None, 0.0))
        return Guess(intent, conf) if intent in self.labels else Guess(None, 0.0)
