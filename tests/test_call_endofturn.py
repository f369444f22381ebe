"""The end-of-turn verdict from the words heard at a pause: end now, wait, or hold on longer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.call.endofturn import EndOfTurnPolicy, Verdict, sounds_unfinished, spoken_digits

POLICY = EndOfTurnPolicy()


@pytest.mark.parametrize("text,verdict", [
    ("I'd like to check my order status.", Verdict.END),
    ("Billing, please.", Verdict.END),
    ("I got a bill for", Verdict.HOLD),
    ("I got a bill for.", Verdict.HOLD),  # Whisper punctuates cut-off clauses
    ("I want to", Verdict.HOLD),
    ("My order number is,", Verdict.HOLD),
    ("Hi.", Verdict.WAIT),
    ("", Verdict.WAIT),
])
def test_menu_verdicts(text: str, verdict: Verdict) -> None:
    assert POLICY.judge(text) is verdict


def test_a_number_said_in_groups_holds_until_enough_digits() -> None:
    assert POLICY.judge("4 5 6", expect_digits=6) is Verdict.HOLD
    assert POLICY.judge("four five six, seven", expect_digits=6) is Verdict.HOLD
    assert POLICY.judge("456 789", expect_digits=6) is Verdict.END
    assert POLICY.judge("It's", expect_digits=6) is Verdict.HOLD
    assert POLICY.judge("I don't know it.", expect_digits=6) is Verdict.WAIT


def test_without_early_end_it_only_waits_or_holds() -> None:
    late = EndOfTurnPolicy(early=False)
    assert late.judge("Billing, please.") is Verdict.WAIT
    assert late.judge("I got a bill for") is Verdict.HOLD


def test_helpers() -> None:
    assert spoken_digits("10001-90210") == 10
    assert spoken_digits("oh one two") == 3
    assert sounds_unfinished("so...") and not sounds_unfinished("Yes.")


_WORDS = ["I", "got", "a", "bill", "for", "billing", "please", "yes", "4", "five", "and", "my",
          "order", "number", "is", "the", "agent", "twenty", "dollars", "to", "um"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_WORDS), min_size=0, max_size=9),
       st.sampled_from(["", ".", ",", "?", "..."]), st.sampled_from([1, 6, 20]))
def test_the_model_is_skipped_only_where_the_verdict_ignores_it(
        words: list[str], end: str, digits: int) -> None:
    """``needs_model`` lets the worker skip the MiniLM pass: that must never change a verdict."""
    text = " ".join(words) + end
    policy = EndOfTurnPolicy()
    if not policy.needs_model(text, digits):
        plain = policy.judge(text, digits, None)
        assert policy.judge(text, digits, 0.0) is plain
        assert policy.judge(text, digits, 1.0) is plain
