"""Caller sentiment (VADER) and the frustration evidence rule over turns."""

from __future__ import annotations

import pytest

from ivr.handoff.sentiment import UPSET_THRESHOLD, Mood, is_upset, turn_score


@pytest.mark.parametrize("text", [
    "This is useless.", "you're stupid", "you don't understand, this is ridiculous",
    "this is terrible, nothing works",
])
def test_upset(text: str) -> None:
    assert is_upset(text)


@pytest.mark.parametrize("text", [
    "I'd like to check my order", "yes please", "hello", "thank you so much", "",
    "let me speak to a human",  # an agent request, not an emotion (the agent intent handles it)
])
def test_not_upset(text: str) -> None:
    assert not is_upset(text)


@pytest.mark.parametrize("text", ["no", "No thanks.", "nope", "no, sorry"])
def test_a_bare_no_is_an_answer_not_an_emotion(text: str) -> None:
    assert turn_score(text) is None and not is_upset(text)


def test_one_upset_turn_never_decides_alone() -> None:
    mood = Mood()
    assert mood.observe("Damn you")  # a misheard "Can you": upset, but one turn only
    assert not mood.frustrated(failures=0)
    assert mood.observe("this is useless")
    assert mood.frustrated(failures=0)  # two upset turns are evidence
    block = mood.to_json()
    assert block["upset_turns"] == 2 and block["frustrated"] is True
    assert block["evidence"] == ["Damn you", "this is useless"]


def test_one_upset_turn_after_a_failure_decides() -> None:
    mood = Mood()
    mood.observe("where is my order")
    assert mood.observe("this is useless") and mood.frustrated(failures=1)


def test_evidence_keeps_the_redacted_text() -> None:
    mood = Mood()
    mood.observe("my stupid card 4242 4242 4242 4242 is declined", shown="my stupid card [card]")
    assert mood.evidence == ["my stupid card [card]"] and UPSET_THRESHOLD < 0
