"""The decision policy (pure) and the engine's confirm / disambiguate / rejected-guess paths.

The engine paths use a matcher whose calibrated rankings are pinned by a table, so each test
states exactly which probabilities lead to which question; the same paths with the real models
on recorded speech are in ``tests/test_engine_uncertain_calls.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest

from ivr.dialog import Listen, Transfer
from ivr.dialplan.models import Thresholds
from ivr.engine.decide import decide, parse_choice
from tests.test_engine_support import Caller, factory

TH = Thresholds()  # the defaults: accept 0.6, confirm 0.4, disambiguate 0.2, suggest 3


def test_accept_confirm_disambiguate_reprompt() -> None:
    assert decide([("billing", 0.9), ("returns", 0.05)], TH).kind == "accept"
    d = decide([("billing", 0.5), ("returns", 0.1)], TH)
    assert (d.kind, d.options) == ("confirm", ("billing",))
    d = decide([("billing", 0.35), ("returns", 0.3)], TH)
    assert (d.kind, d.options) == ("disambiguate", ("billing", "returns"))
    d = decide([("billing", 0.15), ("returns", 0.1), ("feedback", 0.05), ("x", 0.01)], TH)
    assert (d.kind, d.options) == ("reprompt", ("billing", "returns", "feedback"))


def test_rejected_candidates_are_never_offered() -> None:
    d = decide([("billing", 0.9), ("returns", 0.55)], TH, rejected={"billing"})
    assert (d.kind, d.options) == ("confirm", ("returns",))
    assert decide([("billing", 0.9)], TH, rejected={"billing"}).options == ()


def test_thresholds_validated_at_load() -> None:
    with pytest.raises(ValueError, match="disambiguate must not be above confirm"):
        Thresholds(accept=0.8, confirm=0.3, disambiguate=0.4)
    with pytest.raises(ValueError):
        Thresholds(suggest=9)


@pytest.mark.parametrize(
    ("text", "pick"),
    [("the first one", 0), ("second please", 1), ("the latter", 1), ("billing", 0),
     ("it's about returns", 1), ("option two", 1), ("hmm not sure", None),
     ("billing and returns", None)],
)
def test_parse_choice(text: str, pick: int | None) -> None:
    assert parse_choice(text, ["billing", "returns"]) == pick


@dataclass(frozen=True)
class Ranked:
    intent: str | None
    confidence: float
    ranked: tuple[tuple[str, float], ...]


class RankedTable:
    """A matcher returning pinned calibrated rankings (like CalibratedClassifier's)."""

    table: dict[str, list[tuple[str, float]]] = {}

    def __init__(self, examples: Mapping[str, Sequence[str]]) -> None:
        self.labels = set(examples)

    def classify(self, text: str) -> Ranked:
        ranked = tuple((n, p) for n, p in self.table.get(text, []) if n in self.labels)
        if not ranked:
            return Ranked(None, 0.0, ())
        return Ranked(ranked[0][0], ranked[0][1], ranked)


def _call(table: dict[str, list[tuple[str, float]]]) -> Caller:
    RankedTable.table = table
    return Caller(factory(matcher=RankedTable))


MONEY = {"money stuff": [("billing", 0.34), ("a charge I don't recognise", 0.3),
                         ("returns", 0.1)]}


def test_disambiguate_by_ordinal_name_key_and_yes() -> None:
    for answer, group in (("the second one", None), ("billing", "billing"), ("yes", "billing")):
        call = _call(MONEY)
        call.say("money stuff")
        assert call.texts == ["Is it about billing, or a charge I don't recognise?"]
        call.say(answer)
        if group:
            assert isinstance(call.last, Transfer) and call.last.group == group
        else:  # the charge option goes on to a slot question
            assert call.texts == ["What was the amount of the charge?"] or isinstance(
                call.last, Listen)
            assert call.dialog.intent == "billing_dispute"  # type: ignore[attr-defined]
    call = _call(MONEY)
    call.say("money stuff")
    call.press("1")
    assert isinstance(call.last, Transfer) and call.last.group == "billing"


def test_rejected_guess_is_not_offered_again_in_the_turn() -> None:
    # returns alone is too unlikely to offer (0.19), but once billing is ruled out it is
    # 0.19 / (1 - 0.55) = 0.42 likely: worth a question.
    table = {"money stuff": [("billing", 0.55), ("returns", 0.19), ("feedback", 0.02)],
             "money things": [("billing", 0.7), ("feedback", 0.1)]}
    call = _call(table)
    call.say("money stuff")
    assert call.texts == ["Did you mean billing? Please say yes or no."]
    call.say("no")                      # next best is offered, never billing again
    assert call.texts == ["Okay.", "Did you mean returns? Please say yes or no."]
    call.say("no")                      # nothing else likely: ask again, no guess
    assert call.texts[0] == "Okay." and isinstance(call.last, Listen)
    call.say("money things")            # billing would be accepted, but it was rejected
    assert not isinstance(call.last, Transfer)
    assert "billing" not in " ".join(call.texts)


def test_no_with_a_correction_is_a_new_answer() -> None:
    table = {"money stuff": [("billing", 0.5), ("returns", 0.1)],
             "no I want to send something back": [("returns", 0.9), ("billing", 0.05)]}
    call = _call(table)
    call.say("money stuff")
    call.say("no I want to send something back")
    assert isinstance(call.last, Transfer) and call.last.group == "returns"


def test_nothing_likely_names_the_top_options() -> None:
    call = _call({"hmm": [("billing", 0.1), ("returns", 0.08), ("feedback", 0.05)]})
    call.say("hmm")
    assert call.texts[-1] == "You can say, for example, billing, returns, or feedback."
    assert isinstance(call.last, Listen)


def test_global_intent_and_option_compete_on_one_scale() -> None:
    # "agent" only as a weak candidate beside a likelier option: no transfer to a person.
    call = _call({"best local real estate agent": [("feedback", 0.15), ("global:agent", 0.12)]})
    call.say("best local real estate agent")
    assert not isinstance(call.last, Transfer)
    call = _call({"a person please": [("global:agent", 0.8), ("feedback", 0.05)]})
    call.say("a person please")
    assert isinstance(call.last, Transfer) and call.last.context["reason"] == "caller_request"


def test_whole_utterance_scales_global_intents_by_coverage() -> None:
    from ivr.engine.matching import WholeUtterance

    examples = {"billing": ["my bill"],
                "global:agent": ["agent", "speak to an advisor", "a real person"]}
    RankedTable.table = {
        "best local real estate agent": [("global:agent", 0.9), ("billing", 0.02)],
        "I'd like to speak to an agent": [("global:agent", 0.9), ("billing", 0.02)],
        "my bill please": [("billing", 0.8), ("global:agent", 0.1)],
    }
    m = WholeUtterance(RankedTable(examples), examples, "global:")
    estate = m.classify("best local real estate agent")
    assert dict(estate.ranked)["global:agent"] == pytest.approx(0.9 * 2 / 5)  # agent, real
    assert m.classify("I'd like to speak to an agent").ranked[0] == ("global:agent", 0.9)
    assert m.classify("my bill please").ranked[0] == ("billing", 0.8)       # options untouched
