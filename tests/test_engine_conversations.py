"""The engine driven by text through the example shop plan: menus, slots, FAQ, policies."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ivr.dialog import Hangup, Listen, Say, Transfer
from tests.test_engine_support import REPO, Caller, Guess, TableMatcher, factory


@pytest.fixture
def call() -> Caller:
    return Caller(factory())


def _shop_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the example plans with one edit to shop.yaml (its kb/ and actions/ beside it)."""
    shutil.copytree(REPO / "dialplans", tmp_path / "dialplans")
    plan = tmp_path / "dialplans" / "shop.yaml"
    text = plan.read_text()
    assert old in text
    plan.write_text(text.replace(old, new))
    return plan


def test_greeting_is_static_and_listens_with_option_hints(call: Caller) -> None:
    assert call.texts[0] == "Thanks for calling Example Shop."
    assert all(isinstance(d, Say) and d.static for d in call.turn[:-1])
    listen = call.last
    assert isinstance(listen, Listen) and listen.dtmf_max_digits == 1
    assert "order status" in listen.hints and "billing" in listen.hints


def test_menu_by_speech(call: Caller) -> None:
    call.say("where is my order")
    assert call.texts == ["Please say or key in your six digit order number."]
    listen = call.last
    assert isinstance(listen, Listen)
    assert (listen.dtmf_max_digits, listen.dtmf_finish_key) == (6, "#")


def test_menu_by_keypad_then_transfer_with_context(call: Caller) -> None:
    call.press("3")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "billing"
    assert call.texts == ["Please hold while I connect you to someone who can help."]
    assert t.context["intent"] == "billing"
    assert t.context["reason"] == "menu"
    assert t.context["call_sid"] == "CA123" and t.context["from"] == "+15555550199"
    assert {"speaker": "caller", "text": "3", "kind": "dtmf", "t": 0.0} in t.context["transcript"]
    assert t.context["transcript"][0] == {"speaker": "bot", "kind": "say", "t": 0.0,
                                          "text": "Thanks for calling Example Shop."}


def test_unknown_key_is_a_no_match(call: Caller) -> None:
    call.press("7")
    assert call.texts[0] == "Sorry, I didn't catch that."
    assert isinstance(call.last, Listen)


def test_slot_by_voice_with_confirmation_and_no_reask(call: Caller) -> None:
    call.say("track my package")
    call.say("one two three four five six")
    assert call.texts == ["I heard 1 2 3 4 5 6. Is that right? Say yes or press 1, "
                          "or say no or press 2."]
    assert isinstance(call.turn[0], Say) and not call.turn[0].static
    call.say("no")
    assert call.texts == ["Okay, let's try again.",
                          "Please say or key in your six digit order number."]
    call.say("double three four five six seven")
    assert "I heard 3 3 4 5 6 7" in call.heard
    call.say("yes that's right")
    assert call.texts == ["I couldn't find order 3 3 4 5 6 7. Would you like to try another "
                          "number?"]


def test_correction_in_the_no(call: Caller) -> None:
    call.press("1")
    call.say("one two three four five seven")
    call.say("no it's one two three four five six")
    assert "I heard 1 2 3 4 5 6" in call.heard


def test_correction_in_the_no_for_a_number(tmp_path: Path) -> None:
    plan = _shop_with(tmp_path, "invalid: Please say a number between one and twenty.\n",
                      "invalid: Please say a number between one and twenty.\n    confirm: true\n")
    call = Caller(factory(plan))
    call.say("my item arrived damaged")
    call.say("yesterday")
    call.say("two")
    assert "I heard 2" in call.heard
    call.say("no, it was three")
    assert "I heard 3" in call.heard


def test_slot_by_keypad_with_keypad_confirmation(call: Caller) -> None:
    call.press("1")
    call.press("123456#")
    assert "I heard 1 2 3 4 5 6" in call.heard
    call.press("1")
    assert call.texts == ["Order 1 2 3 4 5 6 is shipped and should arrive Thursday.",
                          "Is there anything else I can help you with today?"]
    call.say("no thanks")
    assert isinstance(call.last, Hangup)
    assert call.texts == ["Thanks for calling Example Shop. Goodbye."]


def test_keypad_no_reasks(call: Caller) -> None:
    call.press("1")
    call.press("123456")
    call.press("2")
    assert call.texts[0] == "Okay, let's try again."


def test_invalid_value_reprompts_then_gives_up(call: Caller) -> None:
    call.press("1")
    call.say("one two three")
    assert call.texts[0] == "Sorry, order numbers have six digits."
    assert call.texts[1].startswith("Your order number is six digits")
    call.say("four five")
    t = call.say("six")
    assert isinstance(t[-1], Transfer) and t[-1].group == "general"
    assert t[-1].context["reason"] == "invalid_value"


def test_faq_answer_then_followup(call: Caller) -> None:
    call.say("how much is shipping")
    assert call.texts == [
        "Standard shipping is free on orders over fifty dollars, and five dollars otherwise.",
        "Is there anything else I can help you with today?"]
    call.say("yes")
    assert "You can say order status" in call.heard


def test_followup_accepts_a_new_request(call: Caller) -> None:
    call.say("what are your opening hours")
    assert "Monday to Friday" in call.heard
    call.say("I want to return an item")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "returns"


def test_no_input_reprompts_then_transfers_to_default_group(call: Caller) -> None:
    call.silence()
    assert call.texts[0] == "Sorry, I didn't hear anything."
    assert call.texts[1].startswith("Press 1 for order status")  # the menu's reprompt
    assert isinstance(call.last, Listen)
    call.silence()
    assert call.texts[0] == "Are you still there?"
    call.silence()
    t = call.last
    assert isinstance(t, Transfer) and t.group == "general"
    assert t.context["reason"] == "no_input"


def test_no_match_reprompts_with_menu_wording(call: Caller) -> None:
    call.say("purple elephants")
    assert call.texts[0] == "Sorry, I didn't catch that."
    call.say("zebra crossing")
    assert call.texts[0] == "Sorry, I still didn't get that."
    assert isinstance(call.last, Listen)


def test_global_agent_by_speech_and_key(call: Caller) -> None:
    call.say("I want to speak to someone")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "general"
    assert call.texts == ["Sure, let me get you to someone."]
    assert t.context["reason"] == "caller_request"
    other = Caller(factory())
    other.press("0")
    assert isinstance(other.last, Transfer)


def test_global_repeat_and_goodbye(call: Caller) -> None:
    prompt = call.texts[1:]
    call.press("*")
    assert call.texts == prompt
    call.say("can you say that again")
    assert call.texts == prompt
    call.say("goodbye")
    assert isinstance(call.last, Hangup)


def test_global_back_and_start_over(call: Caller) -> None:
    call.press("1")
    call.say("go back")
    assert "You can say order status" in call.heard
    call.press("1")
    call.say("start over")
    assert call.texts[0] == "Okay, from the top."
    assert "You can say order status" in call.heard


def test_amount_slot_by_voice_and_templated_transfer(call: Caller) -> None:
    call.say("I don't recognise a charge")
    assert "amount of the charge" in call.heard
    call.say("twelve dollars fifty")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "billing"
    assert call.texts == ["Thanks. I'm connecting you to billing about the 12.50 dollar charge."]
    assert call.turn[0].static is False  # type: ignore[union-attr]
    assert t.context["slots"] == {"charge_amount": 12.5}


def test_amount_by_keypad_with_star_decimal(call: Caller) -> None:
    call.say("dispute a charge")
    call.press("12*5#")
    t = call.last
    assert isinstance(t, Transfer) and t.context["slots"]["charge_amount"] == 12.5


def test_damaged_item_form_date_number_yes_no(call: Caller) -> None:
    call.say("my item arrived damaged")
    call.say("it came yesterday")
    call.say("three")
    call.press("1")
    assert "I've noted 3 damaged items received on March 3, 2025." in call.heard


def test_free_text_slot_is_kept_for_the_agent(call: Caller) -> None:
    call.say("I want to leave feedback")
    call.say("the app crashes when I pay")
    assert call.texts[0] == "Thank you, I've passed that on to the team."
    call.press("1")
    call.press("4")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "tech_support"
    assert t.context["slots"]["feedback"] == "the app crashes when I pay"


@pytest.mark.parametrize("now", [
    datetime(2026, 12, 25, 15, 0, tzinfo=timezone.utc),  # Christmas Day (holiday)
    datetime(2026, 11, 29, 4, 0, tzinfo=timezone.utc),   # Saturday 23:00 in New York
])
def test_closed_self_service_but_no_transfer(now: datetime) -> None:
    call = Caller(factory(now=now))
    assert "Our team is closed right now" in call.heard
    assert isinstance(call.last, Listen)
    call.press("0")
    assert call.texts[0].startswith("Our team is available Monday to Friday")
    assert call.texts[-1] == "Thanks for calling Example Shop. Goodbye."


@pytest.mark.parametrize(("now", "open_"), [
    (datetime(2025, 3, 4, 15, 0, tzinfo=timezone.utc), True),    # Tue 15:00 London
    (datetime(2025, 3, 4, 12, 45, tzinfo=timezone.utc), False),  # lunch break
    (datetime(2025, 3, 8, 12, 59, tzinfo=timezone.utc), True),   # Saturday morning
    (datetime(2025, 3, 8, 13, 0, tzinfo=timezone.utc), False),   # Saturday afternoon
    (datetime(2025, 3, 9, 10, 0, tzinfo=timezone.utc), False),   # Sunday
    (datetime(2025, 7, 1, 7, 30, tzinfo=timezone.utc), True),    # 08:30 BST (summer time)
    (datetime(2025, 12, 26, 10, 0, tzinfo=timezone.utc), False),  # holiday
])
def test_bank_hours_in_local_time(now: datetime, open_: bool) -> None:
    call = Caller(factory(REPO / "dialplans" / "bank.yaml", now=now))
    assert ("Our advisors are available" not in call.heard) is open_


def test_frustration_by_sentiment(call: Caller) -> None:
    call.say("this is useless")   # one upset turn is not enough evidence (a misheard word?)
    assert not isinstance(call.last, Transfer)
    call.say("this is useless")
    t = call.last
    assert isinstance(t, Transfer) and t.context["reason"] == "frustration"
    assert call.texts == ["I'm sorry about the trouble. Let me connect you to a person."]
    assert t.context["sentiment"]["frustrated"] is True
    assert t.context["sentiment"]["evidence"] == ["this is useless", "this is useless"]


def test_misheard_curse_on_the_first_turn_does_not_escalate(call: Caller) -> None:
    call.say("damn you")          # ASR for "can you ...": negative, but a single turn
    assert not isinstance(call.last, Transfer)


def test_frustration_by_consecutive_failures(call: Caller) -> None:
    call.press("1")
    call.say("purple")       # invalid 1
    call.silence()           # no input 1
    call.say("one")          # invalid 2
    t = call.silence()       # 4 failures in a row
    assert isinstance(t[-1], Transfer) and t[-1].context["reason"] == "frustration"


def test_confirm_band_asks_did_you_mean() -> None:
    TableMatcher.table = {"money stuff": ("billing", 0.5), "bye now": ("goodbye", 0.9)}
    call = Caller(factory(matcher=TableMatcher))
    call.say("money stuff")
    assert call.texts == ["Did you mean billing? Please say yes or no."]
    call.say("yes")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "billing"
    call = Caller(factory(matcher=TableMatcher))
    call.say("money stuff")
    call.say("no")
    assert call.texts[0] == "Okay."
    assert isinstance(call.last, Listen)


def test_engine_error_apologises_and_transfers() -> None:
    class Broken:
        def __init__(self, examples: object) -> None:
            pass

        def classify(self, text: str) -> Guess:
            raise RuntimeError("model exploded")

    call = Caller(factory(matcher=Broken))
    call.say("hello")
    t = call.last
    assert isinstance(t, Transfer) and t.group == "general" and t.context["reason"] == "error"
    assert "something went wrong" in call.heard


def test_factory_surface() -> None:
    f = factory()
    assert f.default_group == "general"
    assert f.agent_group("tech_support").kind == "taskrouter"
    assert f.agent_group("returns").address == "sip:returns@pbx.example.com"
    with pytest.raises(KeyError):
        f.agent_group("nope")
    vocab = f.asr_vocabulary()
    assert "Example Shop" in vocab and "technical support" in vocab
    prompts = f.static_prompts()
    assert "Thanks for calling Example Shop." in prompts
    assert not any("{" in p for p in prompts)
    numbers = f.number_templates()  # the read-backs whose lead the TTS renders at startup
    assert "I heard 1 2 3 4 5 6. Is that right? Say yes or press 1, or say no or press 2." \
        in numbers
    assert not any("{" in t for t in numbers)


def test_action_failure_is_spoken_and_routed(tmp_path: Path) -> None:
    plan = _shop_with(tmp_path, "python: actions/order_status.py:OrderStatusAction",
                      "url: http://127.0.0.1:9/webhook")
    call = Caller(factory(plan))
    call.press("1")
    call.press("123456")
    call.press("1")
    assert call.texts[0] == "Sorry, I can't look up orders right now."
    t = call.last
    assert isinstance(t, Transfer) and t.context["reason"] == "action_error"
