"""Profiles from the operator's CRM behind a rasa-sdk action (timeout, per-call cache) and from
the account number once the plan has collected it."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import pytest

from ivr.contact.crm import directory_for
from ivr.contact.profiles import MemoryDirectory, read_customers_csv
from ivr.contact.rules import evaluate
from ivr.contact.service import ContactCentre
from ivr.dialplan.errors import DialplanError
from ivr.dialplan.loader import load_dialplan
from ivr.engine import build_factory
from tests.routing_harness import write_plan
from tests.test_engine_support import LexicalFaq, LexicalMatcher

ROOT = Path(__file__).resolve().parents[1]
FIX = Path(__file__).parent / "fixtures" / "routing"
MORNING = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)


def plan_with_crm(tmp_path: Path, action: str = "lookup_customer") -> Path:
    text = (ROOT / "dialplans" / "contact_centre.yaml").read_text()
    # the example already has account_slot: account_number, its slot and an actions: section
    text = text.replace("routing:\n", f"routing:\n  directory_action: {action}\n", 1)
    text = text.replace("\nactions:\n", "\nactions:\n  lookup_customer: "
                        f"{{python: '{FIX / 'crm_action.py'}:LookupCustomer', timeout_s: 0.3}}\n",
                        1)
    return write_plan(tmp_path, text)


@pytest.fixture
def crm(tmp_path: Path):  # type: ignore[no-untyped-def]
    plan = load_dialplan(plan_with_crm(tmp_path))
    factory = build_factory(plan, clock=lambda: MORNING,
                            matcher_factory=cast(Any, LexicalMatcher),
                            faq_factory=cast(Any, LexicalFaq))
    centre = ContactCentre(directory=MemoryDirectory(read_customers_csv(FIX / "customers.csv")))
    return plan, directory_for(plan, factory, centre.directory), centre


def test_crm_action_profile_routes_the_call(crm) -> None:  # type: ignore[no-untyped-def]
    plan, directory, centre = crm
    ctx = {"from": "+1 555 555 0150", "call_sid": "CA1", "intent": "billing"}
    facts = centre.facts(plan, "billing", ctx, MORNING, directory)
    assert facts.profile is not None and facts.profile.tier == "platinum"
    assert facts.profile.segments == ("vip",) and evaluate(plan, facts).prefer == ("senior",)


def test_crm_timeout_routes_as_unknown_and_is_cached(crm, caplog) -> None:  # type: ignore[no-untyped-def]
    plan, directory, centre = crm
    runs: list[str] = []
    inner = directory.runner

    class Counting:
        def run(self, call):  # type: ignore[no-untyped-def]
            runs.append(call.metadata["from"])
            return inner.run(call)

    directory.runner = Counting()
    ctx = {"from": "+15555550151", "call_sid": "CA2", "intent": "billing"}
    assert centre.facts(plan, "billing", ctx, MORNING, directory).profile is None
    assert "no answer within 0.3 s" in caplog.text  # the CRM hangs 2 s: we stopped waiting
    centre.facts(plan, "billing", ctx, MORNING, directory)  # same call: the cached result
    assert runs == ["+15555550151"]


def test_account_number_identifies_the_caller(crm) -> None:  # type: ignore[no-untyped-def]
    plan, _, centre = crm
    ctx = {"from": "+15550009999", "call_sid": "CA3", "intent": "billing",
           "slots": {"account_number": "AC-42"}}  # calling from a phone we do not know
    facts = centre.facts(plan, "billing", ctx, MORNING)
    assert facts.profile is not None and facts.profile.name == "Ana Lima"


def test_unknown_directory_action_or_slot_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(DialplanError) as exc:
        load_dialplan(plan_with_crm(tmp_path, action="lookup_custmer"))
    assert any('did you mean "lookup_customer"' in m for _, _, m in exc.value.errors)


def test_no_database_means_none_not_a_url_to_parse() -> None:
    """``IVR_DB_URL=none`` (the server's "no database") used to crash every worker at boot."""
    from ivr.contact.setup import centre_from_env, records_db

    assert records_db({"IVR_DB_URL": "none"}) is None
    assert records_db({"IVR_DB_URL": "NONE"}) is None
    centre = centre_from_env({"IVR_DB_URL": "none"})
    assert type(centre.callbacks).__name__ != "DbCallbacks"
