"""The shipped end-of-turn text model (real MiniLM, shipped weights) and how the policy uses it."""

from __future__ import annotations

from ivr.call.completeness import WEIGHTS, default_completeness
from ivr.call.endofturn import EndOfTurnPolicy, Verdict


def test_shipped_model_separates_fragments_from_requests() -> None:
    assert WEIGHTS.exists() and WEIGHTS.stat().st_size < 64_000
    model = default_completeness()
    assert model is not None
    for fragment in ("I want to", "Can you help me with", "I got a bill for it."):
        assert model(fragment) < 0.25, fragment
    for request in ("I need to talk to someone about my bill.",
                    "I need to speak to someone about my account."):
        assert model(request) > 0.5, request
    assert model("") == 0.0


def test_policy_holds_a_long_turn_the_model_calls_a_fragment() -> None:
    policy = EndOfTurnPolicy()
    assert policy.judge("I got a bill for it.", complete=0.2) is Verdict.HOLD
    assert policy.judge("I got a bill for it.", complete=0.8) is Verdict.END
    assert policy.judge("Yes.", complete=0.1) is Verdict.END  # short answers: rules decide
    assert EndOfTurnPolicy(model_hold_below=0).judge("I got a bill for it.",
                                                     complete=0.1) is Verdict.END
