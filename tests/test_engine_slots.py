"""Slot parsing and validation: keys, and speech through :mod:`ivr.nlu.entities`."""

from __future__ import annotations

from datetime import date

import pytest

from ivr.dialplan.models import SlotDef, SlotType
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
    assert parse_speech(said, SlotDef(type="digits"), TODAY) == digits


@pytest.mark.parametrize(("said", "answer"), [
    ("yes", True), ("yeah that's right", True), ("no", False), ("nope", False),
    ("no, that's right", False), ("maybe", None),
])
def test_yes_no(said: str, answer: bool | None) -> None:
    assert parse_speech(said, SlotDef(type="yes_no"), TODAY) is answer


def test_keyed_values() -> None:
    assert parse_keys("0123#", SlotDef(type="digits"), "DDMMYYYY") == "0123"
    assert parse_keys("12*5#", SlotDef(type="amount"), "DDMMYYYY") == 12.5
    assert parse_keys("1", SlotDef(type="yes_no"), "DDMMYYYY") is True
    assert parse_keys("25122025", SlotDef(type="date"), "DDMMYYYY") == "2025-12-25"
    assert parse_keys("12252025", SlotDef(type="date"), "MMDDYYYY") == "2025-12-25"
    assert parse_keys("31022025", SlotDef(type="date"), "DDMMYYYY") is None
    assert parse_keys("*", SlotDef(type="digits"), "DDMMYYYY") is None


def test_spoken_values() -> None:
    def said(text: str, slot_type: SlotType) -> object:
        return parse_speech(text, SlotDef(type=slot_type), TODAY)

    assert said("twenty three", "number") == 23
    assert said("two hundred and five dollars", "amount") == 205
    assert said("$12.99", "amount") == 12.99
    assert said("twelve dollars and fifty cents", "amount") == 12.5
    assert said("tomorrow", "date") == "2025-03-05"
    assert said("the 14th of March", "date") == "2025-03-14"
    assert said("  hello ", "text") == "hello"
    # JSON-ready types: a whole number is an int, an amount a float (not a Decimal).
    assert type(said("twenty three", "number")) is int
    assert type(said("$12.99", "amount")) is float


def test_validation() -> None:
    sd = SlotDef(type="digits", min_length=4, max_length=6, pattern="[1-9][0-9]*")
    assert is_valid("1234", sd) and not is_valid("123", sd) and not is_valid("0123", sd)
    assert not is_valid("1234567", sd)
    rng = SlotDef(type="amount", min=1, max=100)
    assert is_valid(1.0, rng) and not is_valid(0.5, rng) and not is_valid(100.01, rng)
