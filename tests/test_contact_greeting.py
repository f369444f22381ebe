"""The greeting knows the caller: "Welcome back", and the likely reason offered first, in front
of the real engine on the example plan."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import pytest

from ivr.contact.greeting import GreetingFactory
from ivr.contact.profiles import MemoryDirectory, read_customers_csv
from ivr.contact.service import ContactCentre
from ivr.dialog import CallerInput, CallInfo, Listen, Say, Transfer
from ivr.dialplan.loader import load_dialplan
from ivr.engine import build_factory
from tests.test_engine_support import LexicalFaq, LexicalMatcher

PLAN = Path(__file__).resolve().parents[1] / "dialplans" / "contact_centre.yaml"
CSV = Path(__file__).parent / "fixtures" / "routing" / "customers.csv"
MORNING = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
ANA, BEN, NEW = "+15555550142", "+15555550177", "+15555550123"  # Ana has an open ticket


@pytest.fixture
def setup() -> tuple[GreetingFactory, ContactCentre]:
    plan = load_dialplan(PLAN)
    inner = build_factory(plan, clock=lambda: MORNING,
                          matcher_factory=cast(Any, LexicalMatcher),
                          faq_factory=cast(Any, LexicalFaq))
    centre = ContactCentre(directory=MemoryDirectory(read_customers_csv(CSV)))
    return GreetingFactory(inner, lambda: centre), centre


def said(out: list[Any]) -> list[str]:
    return [d.text for d in out if isinstance(d, Say)]


def test_unknown_caller_gets_the_plain_menu(setup) -> None:  # type: ignore[no-untyped-def]
    factory, _ = setup
    out = factory.new_call(CallInfo("CA1", NEW)).start()
    assert said(out)[0] == "Thanks for calling Example Support."
    assert "Welcome back." not in said(out) and said(out)[1].startswith("Say billing")


def test_known_caller_is_welcomed_without_reading_their_name(setup) -> None:  # type: ignore[no-untyped-def]
    factory, _ = setup
    out = factory.new_call(CallInfo("CA2", BEN)).start()
    assert said(out)[:2] == ["Thanks for calling Example Support.", "Welcome back."]
    assert not any("Ben" in s for s in said(out))


def test_open_ticket_offered_first_and_yes_goes_straight_there(setup) -> None:  # type: ignore[no-untyped-def]
    factory, _ = setup
    call = factory.new_call(CallInfo("CA3", ANA))
    out = call.start()
    assert said(out)[-1].startswith("I can see you have an open support ticket")
    assert isinstance(out[-1], Listen) and not any("Say billing" in s for s in said(out))
    out = call.handle(CallerInput("speech", text="yes please", confidence=0.9))
    transfer = out[-1]
    assert isinstance(transfer, Transfer) and transfer.group == "senior"
    assert transfer.context["intent"] == "billing" and transfer.context["reason"] == "anticipated"


def test_no_falls_through_to_the_menu(setup) -> None:  # type: ignore[no-untyped-def]
    factory, _ = setup
    call = factory.new_call(CallInfo("CA4", ANA))
    call.start()
    out = call.handle(CallerInput("dtmf", digits="2"))
    assert said(out)[0].startswith("Say billing") and isinstance(out[-1], Listen)
    out = call.handle(CallerInput("dtmf", digits="2"))  # now the menu: 2 = orders
    assert isinstance(out[-1], Transfer) and out[-1].group == "orders"


def test_other_words_go_to_the_menu_as_said(setup) -> None:  # type: ignore[no-untyped-def]
    factory, _ = setup
    call = factory.new_call(CallInfo("CA5", ANA))
    call.start()
    out = call.handle(CallerInput("speech", text="where is my order", confidence=0.9))
    assert isinstance(out[-1], Transfer) and out[-1].group == "orders"


def test_same_reason_as_last_unresolved_call(setup) -> None:  # type: ignore[no-untyped-def]
    factory, centre = setup
    centre.remember(BEN, "orders", "transfer: orders", "CAearlier")
    call = factory.new_call(CallInfo("CA6", BEN))
    out = call.start()
    assert said(out)[-1].startswith("Are you calling about your order again?")
    out = call.handle(CallerInput("dtmf", digits="1"))
    assert isinstance(out[-1], Transfer) and out[-1].group == "orders"


def test_app_built_twice_greets_once(setup) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    from ivr.app import create_app
    from ivr.config import Settings
    from ivr.session import Services
    from ivr.store import MemoryStore

    factory, centre = setup
    services = Services(transcriber=cast(Any, None), speaker=cast(Any, None),
                        executor=ThreadPoolExecutor(max_workers=1), store=MemoryStore(),
                        plan=lambda: factory.inner)
    settings = Settings(dialplan=PLAN, public_url="https://x.example", auth_token="t")
    apps = [create_app(settings, services) for _ in range(2)]
    apps[0].config["IVR_CONTACT"] = centre  # the wrapper installed by the first app
    call = services.plan().new_call(CallInfo("CA7", ANA))
    assert type(call).__name__ == "GreetingDialog" and type(call.inner).__name__ == "PlanCall"
    assert said(call.start()).count("Welcome back.") == 1
