"""Slot parsers on the many ways Whisper writes what callers say (pure functions, no model)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ivr.nlu.entities import (
    parse_amount,
    parse_date,
    parse_digits,
    parse_number,
    parse_yes_no,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("four five six", "456"),
        ("4 5 6", "456"),
        ("4-5-6", "456"),
        ("456.", "456"),
        ("Four, five, six.", "456"),
        ("double two", "22"),
        ("triple seven one", "7771"),
        ("one oh one", "101"),
        ("zero nought nil", "000"),
        ("my number is 0 7 7 double 0", "07700"),
        ("double 5 3", "553"),
        ("uh, it's 1 2 3 4", "1234"),
        ("four hundred fifty six", "456"),
        ("twenty one twelve", "2112"),
        ("10001-90210-01803", "100019021001803"),
        ("one two three", "123"),
        ("one two for", "124"),
    ],
)
def test_parse_digits(text: str, expected: str) -> None:
    assert parse_digits(text) == expected


@pytest.mark.parametrize("text", ["", "I don't know", "hello there", "for sale", "to be honest"])
def test_parse_digits_none(text: str) -> None:
    assert parse_digits(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "yes",
        "Yeah.",
        "yep",
        "Sure!",
        "that's right",
        "That's correct.",
        "correct",
        "yes please",
        "Uh-huh.",
        "absolutely",
        "Of course.",
        "ok",
    ],
)
def test_yes(text: str) -> None:
    assert parse_yes_no(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "no",
        "Nope.",
        "no it isn't",
        "not really",
        "That's not right.",
        "that is not correct",
        "No thanks.",
        "nah",
        "Yeah, no.",
        "I don't think so",
        "wrong",
    ],
)
def test_no(text: str) -> None:
    assert parse_yes_no(text) is False


@pytest.mark.parametrize("text", ["", "what?", "can you repeat that", "hmm"])
def test_yes_no_unclear(text: str) -> None:
    assert parse_yes_no(text) is None


TODAY = date(2025, 3, 12)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("today", date(2025, 3, 12)),
        ("Tomorrow, please.", date(2025, 3, 13)),
        ("the day after tomorrow", date(2025, 3, 14)),
        ("yesterday", date(2025, 3, 11)),
        ("friday", date(2025, 3, 14)),
        ("next Friday", date(2025, 3, 14)),
        ("next wednesday", date(2025, 3, 19)),
        ("Monday", date(2025, 3, 17)),
        ("March 3rd", date(2026, 3, 3)),
        ("march 30th", date(2025, 3, 30)),
        ("on the 3rd of April", date(2025, 4, 3)),
        ("April twenty first", date(2025, 4, 21)),
        ("3/14", date(2025, 3, 14)),
        ("12/25/2025", date(2025, 12, 25)),
        ("2025-06-01", date(2025, 6, 1)),
        ("the fifth", date(2025, 4, 5)),
        ("the twentieth", date(2025, 3, 20)),
        ("in 3 days", date(2025, 3, 15)),
        ("in two weeks", date(2025, 3, 26)),
        ("Jan 2", date(2026, 1, 2)),
    ],
)
def test_parse_date(text: str, expected: date) -> None:
    assert parse_date(text, TODAY) == expected


@pytest.mark.parametrize("text", ["", "whenever", "I am not sure", "February 30th"])
def test_parse_date_none(text: str) -> None:
    assert parse_date(text, TODAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("twenty five dollars", "25.00"),
        ("$25.50", "25.50"),
        ("$ 1,200", "1200.00"),
        ("25 dollars", "25.00"),
        ("25.50", "25.50"),
        ("a hundred and twenty", "120.00"),
        ("one hundred twenty dollars and fifty cents", "120.50"),
        ("twenty five dollars fifty", "25.50"),
        ("fifty cents", "0.50"),
        ("I'd like to pay 40 dollars", "40.00"),
        ("three thousand five hundred", "3500.00"),
    ],
)
def test_parse_amount(text: str, expected: str) -> None:
    assert parse_amount(text) == Decimal(expected)


@pytest.mark.parametrize("text", ["", "all of it", "the full balance"])
def test_parse_amount_none(text: str) -> None:
    assert parse_amount(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("42", 42),
        ("forty two", 42),
        ("a hundred and twenty", 120),
        ("1,200", 1200),
        ("I have three kids", 3),
        ("two thousand and five", 2005),
        ("nineteen", 19),
        ("one million", 1_000_000),
        ("it's about seventy", 70),
    ],
)
def test_parse_number(text: str, expected: int) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize("text", ["", "none", "a lot"])
def test_parse_number_none(text: str) -> None:
    assert parse_number(text) is None


@pytest.mark.parametrize("text,digits", [
    ("no, it's 4 5 6 8", "4568"),
    ("No, it is four five six eight.", "4568"),
    ("nope, 1 2 3", "123"),
    ("no", None),
])
def test_digits_after_a_denial(text: str, digits: str | None) -> None:
    """A caller correcting a read-back says the right number straight after "no"."""
    assert parse_digits(text) == digits
