"""Shared helpers for engine conversation tests (no tests here): a text-only caller, checks."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

from ivr.dialog import CallerInput, CallInfo, Directive, Hangup, Listen, Say, Transfer
from ivr.dialplan import load_dialplan
from ivr.engine import Entities, LexicalFaq, LexicalMatcher, build_factory
from ivr.engine.factory import PlanFactory
from ivr.engine.matching import Guess, IntentMatcher

REPO = Path(__file__).resolve().parents[1]
SHOP = REPO / "dialplans" / "shop.yaml"
OPEN = datetime(2025, 3, 4, 15, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in New York


def factory(path: Path = SHOP, now: datetime = OPEN,
            matcher: Callable[[Mapping[str, Sequence[str]]], IntentMatcher] | None = None
            ) -> PlanFactory:
    """A factory with deterministic NLU (word overlap) and a pinned clock."""
    return build_factory(load_dialplan(path), clock=lambda: now,
                         matcher_factory=matcher or LexicalMatcher, faq_factory=LexicalFaq,
                         entities=Entities())


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


class TableMatcher:
    """A matcher whose answers are fixed by a table, to pin confidences in tests."""

    table: dict[str, tuple[str, float]] = {}

    def __init__(self, examples: Mapping[str, Sequence[str]]) -> None:
        self.labels = set(examples)

    def classify(self, text: str) -> Guess:
        intent, conf = self.table.get(text, (None, 0.0))
        return Guess(intent, conf) if intent in self.labels else Guess(None, 0.0)
