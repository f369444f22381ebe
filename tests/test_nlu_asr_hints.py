"""ASR hints reach the decoder by choice, not truncation: the plan's vocabulary first."""

from __future__ import annotations

from pathlib import Path

from ivr.asr import PROMPT_CHAR_BUDGET, _prompt, fit_hints
from ivr.dialog import CallerInput, CallInfo, Listen
from ivr.dialplan import load_dialplan
from ivr.engine import build_factory
from tests.test_engine_support import LexicalFaq, LexicalMatcher

REPO = Path(__file__).resolve().parents[1]


def test_whole_hints_in_priority_order_within_budget() -> None:
    hints = ("PIN", "Apple Pay", *(f"option number {i}" for i in range(60)), "APR")
    chosen = fit_hints(hints)
    assert chosen[:2] == ("PIN", "Apple Pay")
    assert len(chosen) < len(hints)                 # over budget: the tail is dropped ...
    assert list(chosen) == [h for h in hints if h in chosen]  # ... and the order kept
    prompt = _prompt(hints)
    assert prompt is not None and len(prompt) <= PROMPT_CHAR_BUDGET
    assert all(h in prompt for h in chosen)
    assert prompt.endswith(".") and ", ," not in prompt


def test_bank_menu_hints_carry_the_vocabulary() -> None:
    plan = load_dialplan(REPO / "dialplans" / "bank.yaml")
    f = build_factory(plan, matcher_factory=LexicalMatcher,  # type: ignore[arg-type]
                      faq_factory=LexicalFaq)
    c = f.new_call(CallInfo("CA1", from_number="+15555550100"))
    turn = c.start()
    while not (isinstance(turn[-1], Listen) and turn[-1].hints):
        turn = c.handle(CallerInput("dtmf", digits="1"))
    listen = turn[-1]
    assert isinstance(listen, Listen)
    # what the session sends: the node's hints, then the plan's vocabulary
    sent = listen.hints + f.asr_vocabulary()
    prompt = _prompt(sent)
    assert prompt is not None
    for word in plan.vocabulary:
        assert word in prompt, word
