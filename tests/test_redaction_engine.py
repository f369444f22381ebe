"""Sensitive slots in the real engine: masked in transcript and context, read back partly, clear
for the custom action (which approves only the exact card and PIN)."""

from __future__ import annotations

import json

from ivr.dialog import Listen, Transfer

from .conftest import REPO_ROOT
from .test_engine_support import Caller, factory

PAY = REPO_ROOT / "tests" / "pii" / "pay.yaml"
CARD, PIN = "4242424242424242", "246810"


def _pay(pin_words: str) -> Caller:
    call = Caller(factory(PAY))
    call.say("I want to pay my bill")
    listen = call.last
    assert isinstance(listen, Listen) and listen.sensitive == "card_number"
    call.press(CARD + "#")
    assert call.texts == ["I heard ending in 4 2 4 2. Is that right? Say yes or press 1, "
                          "or say no or press 2."]
    call.say("yes")
    call.say(pin_words)
    return call


def test_action_gets_clear_values_everything_else_masked() -> None:
    call = _pay("two four six eight one zero")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "payments_desk"  # the action approved
    assert call.texts == ["Your card ending in 4 2 4 2 and PIN were accepted. "
                          "Let me connect you to finish."]
    blob = json.dumps(t.context)
    assert CARD not in blob and PIN not in blob and "two four six" not in blob
    assert t.context["slots"]["card_number"] == "ending in 4 2 4 2"
    assert t.context["slots"]["pin"] == "of 6 digits"
    caller = [x for x in t.context["transcript"] if x["speaker"] == "caller"]
    assert [x["text"] for x in caller][1:] == ["[card number ending 4242]", "yes", "[pin]"]
    assert caller[1]["redactions"] == ["card_number"] and caller[3]["redactions"] == ["pin"]


def test_wrong_pin_is_declined_and_still_masked() -> None:
    call = _pay("two four six eight one one")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "billing"
    assert "246811" not in json.dumps(t.context)
