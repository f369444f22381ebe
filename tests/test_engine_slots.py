"""Slot parsing and validation (keys and the built-in speech fallbacks)."""

from __future__ import annotations

from datetime import date

import pytest

from ivr.dialplan.models import SlotDef
from ivr.engine.entities import Entities, fallback_digits, fallback_yes_no
from ivr.engine.slots import is_valid, parse_keys, parse_speech

TODAY = date(2025, 3, 4)


@pytest.mark.parametrize(("said", "digits"), [
    ("four five six", "456"),
    ("double two oh seven", "2207"),
    ("triple 9 1", "9991"),
    ("it's 4 5 6 7", "4567"),
    ("my number is one two three", "123"),
    ("nothing here", None),
])
def test_spoken_digits(said: str, digits: str | None) -> None:
    assert fallback_digits(said) == digits


@pytest.mark.parametrize(("said", "answer"), [
    ("yes", True), ("yeah that's right", True), ("no", False), ("nope", False),
    ("no, that's right", False), ("maybe", None),
])
def test_yes_no(said: str, answer: bool | None) -> None:
    assert fallback_yes_no(said) is answer


def test_keyed_values() -> None:
    assert parse_keys("0123#", SlotDef(type="digits"), "DDMMYYYY") == "0123"
    assert parse_keys("12*5#", SlotDef(type="amount"), "DDMMYYYY") == 12.5
    assert parse_keys("1", SlotDef(type="yes_no"), "DDMMYYYY") is True
    assert parse_keys("25122025", SlotDef(type="date"), "DDMMYYYY") == "2025-12-25"
    assert parse_keys("12252025", SlotDef(type="date"), "MMDDYYYY") == "2025-12-25"
    assert parse_keys("31022025", SlotDef(type="date"), "DDMMYYYY") is None
    assert parse_keys("*", SlotDef(type="digits"), "DDMMYYYY") is None


def test_spoken_values() -> None:
    e = Entities()
    assert parse_speech("twenty three", SlotDef(type="number"), e, TODAY) == 23
    assert parse_speech("two hundred and five dollars", SlotDef(type="amount"), e, TODAY) == 205
    assert parse_speech("$12.99", SlotDef(type="amount"), e, TODAY) == 12.99
    assert parse_speech("twelve dollars and fifty cents", SlotDef(type="amount"), e,
                        TODAY) == 12.5
    assert parse_speech("tomorrow", SlotDef(type="date"), e, TODAY) == "2025-03-05"
    assert parse_speech("the 14th of March", SlotDef(type="date"), e, TODAY) == "2025-03-14"
    assert parse_speech("  hello ", SlotDef(type="text"), e, TODAY) == "hello"


def test_validation() -> None:
    sd = SlotDef(type="digits", min_length=4, max_length=6, pattern="[1-9][0-9]*")
    assert is_valid("1234", sd) and not is_valid("123", sd) and not is_valid("0123", sd)
    assert not is_valid("1234567", sd)
    rng = SlotDef(type="amount", min=1, max=100)
    assert is_valid(1.0, rng) and not is_valid(0.5, rng) and not is_valid(100.01, rng)
