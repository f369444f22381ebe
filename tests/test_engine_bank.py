"""The Banking77 example at scale: intents route to teams, keypad-only forms, legal notice."""

from __future__ import annotations

import pytest

from ivr.dialog import Hangup, Listen, Say, Transfer
from ivr.dialplan.models import MenuNode
from ivr.engine.factory import PlanFactory
from tests.test_engine_support import OPEN, REPO, Caller, factory

BANK = REPO / "dialplans" / "bank.yaml"


@pytest.fixture(scope="module")
def bank() -> PlanFactory:
    return factory(BANK, now=OPEN)


def test_recording_notice_cannot_be_interrupted(bank: PlanFactory) -> None:
    call = Caller(bank)
    notice = call.turn[1]
    assert isinstance(notice, Say) and notice.barge_in is False and notice.static
    assert "Tell me in a few words" in call.heard


def test_spoken_intent_routes_to_team_with_banking77_label(bank: PlanFactory) -> None:
    call = Caller(bank)
    call.say("How do i activate my card")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "cards"
    assert t.context["intent"] == "activate_my_card"


def test_self_service_answer(bank: PlanFactory) -> None:
    call = Caller(bank)
    call.say("Can I deposit money using Apple Pay?")
    assert call.texts[0].startswith("Yes. You can top up with Apple Pay")
    assert call.texts[1] == "Can I help with anything else?"


def test_keypad_only_card_digits(bank: PlanFactory) -> None:
    call = Caller(bank)
    call.press("1")
    call.press("1")
    listen = call.last
    assert isinstance(listen, Listen) and listen.speech is False
    assert listen.dtmf_max_digits == 4
    call.press("4321")
    assert call.texts == ["You entered 4 3 2 1. Press 1 if that's right, or 2 to enter it again."]
    call.press("1")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "cards"
    assert call.texts == ["Thanks. I'm putting you through to card security about the card "
                          "ending 4 3 2 1."]


def test_action_server_down_goes_to_payments_team(bank: PlanFactory) -> None:
    call = Caller(bank)
    call.press("2")
    call.press("1")  # -> custom action on localhost:5055, not running in tests
    t = call.last
    assert call.texts[0] == "Sorry, I can't check transfers right now."
    assert isinstance(t, Transfer) and t.group == "transfers"


def test_every_banking77_intent_is_routed(bank: PlanFactory) -> None:
    menu = bank.plan.nodes["main"]
    assert isinstance(menu, MenuNode)
    intents = {o.intent_name for o in menu.options if o.dtmf is None}
    assert len(intents) == 77


def test_back_from_keypad_submenu(bank: PlanFactory) -> None:
    call = Caller(bank)
    call.press("1")
    assert call.texts[0].startswith("Cards.")
    call.say("go back")
    assert "Tell me in a few words" in call.heard


def test_overridden_goodbye_node(bank: PlanFactory) -> None:
    call = Caller(bank)
    call.press("5")
    call.press("1")
    assert call.texts[-1] == "Can I help with anything else?"
    call.press("2")
    assert call.texts == ["Thank you for banking with us. Goodbye."]
    assert isinstance(call.last, Hangup)


def test_keypad_only_ignores_speech(bank: PlanFactory) -> None:
    call = Caller(bank)
    call.press("4")
    call.press("1")
    call.say("four three two one")
    assert call.texts[0] == "Sorry, I didn't understand."
