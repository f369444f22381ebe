"""Phonetic repair of plan vocabulary in transcripts: the ASR errors the issue measured."""

from __future__ import annotations

import pytest

from ivr.nlu.phonetic import VocabularyRepair

VOCAB = ["Example Bank", "top up", "Apple Pay", "Google Pay", "Mastercard", "PIN", "APR",
         "virtual card"]


@pytest.mark.parametrize(("heard", "fixed"), [
    ("What is a PR on my account", "what is APR on my account"),
    ("I need a virtue or card", "i need a virtual card"),
    ("can I use apple pie", "can i use Apple Pay"),
    ("my master card was declined", "my Mastercard was declined"),
])
def test_sound_alikes_become_the_plan_term(heard: str, fixed: str) -> None:
    assert VocabularyRepair(VOCAB).repair(heard) == fixed


@pytest.mark.parametrize("text", [
    "I want to top up", "the payment failed", "my card was charged twice",
    "is it possible to get a refund", "ATM 8 my card", "",
])
def test_everything_else_is_left_alone(text: str) -> None:
    assert VocabularyRepair(VOCAB).repair(text) == text


def test_short_keys_never_match() -> None:
    # "PIN" (key PN) is too short to match by sound: "pay" / "pen" stay what they are.
    assert VocabularyRepair(["PIN"]).repair("can I pay with a pen") == "can I pay with a pen"
