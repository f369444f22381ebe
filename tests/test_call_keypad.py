"""Keypad collection as a pure state machine: keys and stream time in, decisions out."""

from __future__ import annotations

from ivr.call.keypad import Keypad
from ivr.dialog import Listen

MENU = Listen(timeout_s=5.0)
ENTRY = Listen(timeout_s=5.0, dtmf_max_digits=4, dtmf_inter_digit_s=2.0)


def test_menu_key_is_the_answer_and_barges_in() -> None:
    r = Keypad().press("1", 0.0, MENU, waiting=False)
    assert r.barge and r.submit == "1"


def test_entry_collects_until_its_length_then_swallows_the_hash() -> None:
    k = Keypad()
    results = [k.press(d, 0.1 * i, ENTRY, False) for i, d in enumerate("1234")]
    assert [r.submit for r in results] == [None, None, None, "1234"]
    assert k.press("#", 0.5, ENTRY, False).submit is None  # "1234#": the # only says done
    assert k.press("#", 5.0, ENTRY, False).submit == ""  # much later it is an input again


def test_finish_key_ends_a_short_entry() -> None:
    k = Keypad()
    k.press("4", 0.0, ENTRY, False)
    assert k.press("#", 0.2, ENTRY, False).submit == "4"


def test_inter_digit_timeout_submits_what_was_keyed() -> None:
    k = Keypad()
    k.press("7", 1.0, ENTRY, False)
    assert k.due(2.9, ENTRY) is None
    assert k.due(3.0, ENTRY) == "7"
    assert k.due(9.0, ENTRY) is None


def test_keys_typed_ahead_wait_for_the_next_listen() -> None:
    k = Keypad()
    assert not k.press("1", 0.0, None, waiting=True).barge
    assert k.press("2", 0.1, None, waiting=False) == k.press("3", 0.1, None, waiting=False)
    assert k.new_listen() == ["1"]
    assert k.new_listen() == []
