"""The shop plan with the real NLU (MiniLM + lexical), by text: the routing callers get."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ivr.dialog import CallerInput, CallInfo, Say, Transfer
from ivr.dialplan import load_dialplan
from ivr.engine import build_factory
from ivr.engine.factory import PlanFactory

from .conftest import REPO_ROOT


@pytest.fixture(scope="module")
def shop() -> PlanFactory:
    open_hours = datetime(2025, 3, 4, 15, 0, tzinfo=timezone.utc)
    return build_factory(load_dialplan(REPO_ROOT / "dialplans" / "shop.yaml"),
                         clock=lambda: open_hours)


def first_reply(factory: PlanFactory, text: str) -> list[str]:
    call = factory.new_call(CallInfo("CA1"))
    call.start()
    turn = call.handle(CallerInput("speech", text=text))
    return [d.text if isinstance(d, Say) else f"->{d.group}" if isinstance(d, Transfer)
            else type(d).__name__ for d in turn]


@pytest.mark.parametrize("question,answer_part", [
    ("Do you deliver outside the United States?", "US and Canada"),
    ("Do I have to pay for shipping?", "free on orders over fifty dollars"),
    ("How much do you charge for postage?", "free on orders over fifty dollars"),
])
def test_faq_beats_a_menu_option_that_only_sounds_similar(shop: PlanFactory, question: str,
                                                          answer_part: str) -> None:
    assert answer_part in " ".join(first_reply(shop, question))


@pytest.mark.parametrize("request_,expected", [
    ("Where is my order?", "order number"),
    ("I have a question about my bill.", "->billing"),
    ("I want to return my shoes.", "->returns"),
    ("My internet banking app keeps crashing", "->tech_support"),
])
def test_menu_requests_still_route(shop: PlanFactory, request_: str, expected: str) -> None:
    assert expected in " ".join(first_reply(shop, request_))
