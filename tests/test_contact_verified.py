"""Names are spoken only to verified callers, and an anticipated offer may enter a node of the
plan (self-service) instead of transferring: the real engine and greeting on the example plan,
its real verify_caller action (account number + PIN), and the load checks of the new keys."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import pytest

from ivr.contact.greeting import GreetingFactory
from ivr.contact.profiles import MemoryDirectory, read_customers_csv
from ivr.contact.service import ContactCentre
from ivr.dialog import CallDialog, CallerInput, CallInfo, Directive, Listen, Say, Transfer
from ivr.dialplan.errors import DialplanError
from ivr.dialplan.loader import load_dialplan
from ivr.engine import build_factory
from tests.routing_harness import write_plan
from tests.test_engine_support import LexicalFaq, LexicalMatcher

PLAN = Path(__file__).resolve().parents[1] / "dialplans" / "contact_centre.yaml"
CSV = Path(__file__).parent / "fixtures" / "routing" / "customers.csv"
MORNING = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
DANA, ANA = "+15555550161", "+15555550142"  # Dana: segment recent_transfer, account 55501234


@pytest.fixture(scope="module")
def factory() -> GreetingFactory:
    inner = build_factory(load_dialplan(PLAN), clock=lambda: MORNING,
                          matcher_factory=cast(Any, LexicalMatcher),
                          faq_factory=cast(Any, LexicalFaq))
    centre = ContactCentre(directory=MemoryDirectory(read_customers_csv(CSV)))
    return GreetingFactory(inner, lambda: centre)


def said(out: list[Directive]) -> list[str]:
    return [d.text for d in out if isinstance(d, Say)]


def keys(call: CallDialog, digits: str) -> list[Directive]:
    return call.handle(CallerInput("dtmf", digits=digits))


def to_pin(factory: GreetingFactory, sid: str, number: str = DANA) -> tuple[CallDialog, list[str]]:
    """Dana's call up to the PIN question: greeting, the offer, yes, her account number."""
    call = factory.new_call(CallInfo(sid, from_number=number, to_number="+15550000000"))
    heard = said(call.start())
    assert heard[-1].startswith("Are you calling about the transfer you made this morning")
    out = call.handle(CallerInput("speech", text="yes", confidence=0.9))
    assert said(out) == ["To check it, please key in your 8 digit account number, then press "
                         "pound."]  # the offer's node, not a transfer
    assert isinstance(out[-1], Listen)
    heard += said(out)
    out = keys(call, "55501234")
    assert said(out) == ["And your 4 digit PIN, then press pound."]
    return call, heard + said(out)


def test_verified_caller_hears_their_name_then_the_self_service_answer(factory) -> None:  # type: ignore[no-untyped-def]
    call, before = to_pin(factory, "CAV1")
    assert not any("Dana" in s for s in before)  # caller ID and account number verify nothing
    out = keys(call, "4321")
    assert said(out)[:2] == ["Thank you, Dana. You are verified.",
                             "Your transfer this morning is complete: 250 dollars reached the "
                             "payee at 9:12."]
    assert isinstance(out[-1], Listen)  # "anything else?"


def test_wrong_pin_never_reads_the_name_out(factory) -> None:  # type: ignore[no-untyped-def]
    call, before = to_pin(factory, "CAV2")
    out = keys(call, "1111")
    assert not any("Dana" in s for s in before + said(out))
    assert said(out)[0].startswith("Sorry, I could not verify those details")
    transfer = out[-1]
    assert isinstance(transfer, Transfer) and transfer.group == "billing"
    assert transfer.context["intent"] == "billing"  # the offer's intent travels on
    assert "1111" not in str(transfer.context)  # the PIN is sensitive: masked for agents


def test_known_number_alone_is_never_named(factory) -> None:  # type: ignore[no-untyped-def]
    """Ana's number is in the directory (gold, open ticket): welcomed, offered her ticket, but
    her name is never said: nothing verified her."""
    call = factory.new_call(CallInfo("CAV3", from_number=ANA, to_number="+15550000000"))
    out = call.start() + keys(call, "2") + keys(call, "1")
    assert "Welcome back." in said(out)
    assert not any("Ana" in s for s in said(out))


def test_no_to_the_offer_plays_the_menu(factory) -> None:  # type: ignore[no-untyped-def]
    call = factory.new_call(CallInfo("CAV4", from_number=DANA, to_number="+15550000000"))
    call.start()
    out = keys(call, "2")
    assert said(out)[-1].startswith("Say billing, orders or technical support")


def _bad(tmp_path: Path, old: str, new: str) -> list[str]:
    text = PLAN.read_text()
    assert old in text, old
    path = write_plan(tmp_path, text.replace(old, new, 1))
    with pytest.raises(DialplanError) as exc:
        load_dialplan(path)
    return [f"{line}: {msg}" for _, line, msg in exc.value.errors]


def _line(fragment: str) -> int:
    return next(i for i, t in enumerate(PLAN.read_text().splitlines(), 1) if fragment in t)


def test_offer_to_an_unknown_node_is_a_load_error_with_line(tmp_path: Path) -> None:
    errors = _bad(tmp_path, "go: transfer_account", "go: transfer_acount")
    assert errors == [f'{_line("go: transfer_account")}: routing.anticipate[2].go: '
                      '"transfer_acount" is not a node of this '
                      'plan (did you mean "transfer_account"?); declared: ' + ", ".join(sorted(
                          load_dialplan(PLAN).nodes))]
    both = _bad(tmp_path, "      go: transfer_account", "      go: transfer_account\n"
                "      group: billing")
    assert any("either transfers (group) or enters a node (go)" in e for e in both)


def test_verification_keys_are_checked(tmp_path: Path) -> None:
    line = _line("verified_say:")
    assert f'{line}: routing.verified_say: "caller.frist_name" is not a caller field (did you ' \
        'mean "caller.first_name"?); declared: caller.first_name, caller.language, caller.name, ' \
        "caller.tier" in _bad(tmp_path, "{caller.first_name}. You", "{caller.frist_name}. You")
    assert any('"caller_verifed" is not a slot declared under slots:' in e for e in _bad(
        tmp_path, "verify_slot: caller_verified", "verify_slot: caller_verifed"))
    assert any("only the operator's system may verify a caller" in e for e in _bad(
        tmp_path, "sets: [caller_verified, transfer_status]", "sets: [transfer_status]"))
    assert any("the caller cannot fill it themselves" in e for e in _bad(
        tmp_path, "    slot: pin\n", "    slot: caller_verified\n"))
    assert any("needs routing.verify_slot" in e for e in _bad(
        tmp_path, "  verify_slot: caller_verified", "  # no verify_slot"))
    # profile fields stay out of every other prompt, verified or not
    assert any("nodes.transfer_status.say: {caller.name} is not a slot name" in e for e in _bad(
        tmp_path, "say: Your transfer this morning is {transfer_status}.",
        "say: Your transfer this morning, {caller.name}, is {transfer_status}."))
