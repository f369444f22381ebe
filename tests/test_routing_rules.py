"""Routing rules and target choice as pure logic, on the example contact-centre plan."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ivr.contact import MemoryOccupancy, Profile, RouteFacts, choose, evaluate, explain
from ivr.contact.service import ContactCentre
from ivr.dialplan.errors import DialplanError
from ivr.dialplan.loader import load_dialplan
from tests.routing_harness import write_plan

PLAN = Path(__file__).resolve().parents[1] / "dialplans" / "contact_centre.yaml"
# A Tuesday, 10:00 in New York: every group open.
MORNING = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
EVENING = datetime(2026, 11, 24, 23, 30, tzinfo=timezone.utc)  # 18:30 New York


@pytest.fixture(scope="module")
def plan():  # type: ignore[no-untyped-def]
    return load_dialplan(PLAN)


def gold() -> Profile:
    return Profile("+15555550142", name="Ana", tier="gold")


def test_gold_caller_is_sent_to_senior_with_priority(plan) -> None:  # type: ignore[no-untyped-def]
    spec = evaluate(plan, RouteFacts("billing", "billing", profile=gold(), now=MORNING))
    assert (spec.rule, spec.prefer, spec.priority) == ("premium_to_senior", ("senior",), 20)
    choice = choose(plan, spec, lambda g: 0, MORNING)
    assert (choice.kind, choice.group) == ("dial", "senior")


def test_standard_caller_keeps_the_bots_group(plan) -> None:  # type: ignore[no-untyped-def]
    spec = evaluate(plan, RouteFacts("billing", "billing", now=MORNING))
    assert spec.rule is None and spec.prefer == ("billing",) and spec.priority == 0


def test_time_of_day_rule(plan) -> None:  # type: ignore[no-untyped-def]
    assert evaluate(plan, RouteFacts("billing", "billing", now=EVENING)).prefer == ("general",)
    assert evaluate(plan, RouteFacts("orders", "orders", now=EVENING)).rule is None


def test_frustrated_caller_needs_skill_and_gets_priority(plan) -> None:  # type: ignore[no-untyped-def]
    spec = evaluate(plan, RouteFacts("tech", "technical", frustrated=True, now=MORNING))
    assert spec.skills == ("general",) and spec.priority == 10
    # tech lacks the skill: the groups that have it are chosen instead
    assert choose(plan, spec, lambda g: 0, MORNING).group == "general"


def test_billing_full_overflows_to_general(plan) -> None:  # type: ignore[no-untyped-def]
    spec = evaluate(plan, RouteFacts("billing", "billing", now=MORNING))
    busy = {"billing": 3, "general": 1}
    choice = choose(plan, spec, lambda g: busy.get(g, 0), MORNING)
    assert (choice.kind, choice.group) == ("dial", "general")


def test_overflow_picks_least_loaded(plan) -> None:  # type: ignore[no-untyped-def]
    spec = evaluate(plan, RouteFacts("senior", "billing", profile=gold(), now=MORNING))
    busy = {"senior": 2, "billing": 2, "orders": 1, "general": 5}  # 2/3, 1/3, 5/6
    assert choose(plan, spec, lambda g: busy.get(g, 0), MORNING).group == "orders"


def test_everyone_full_queues_at_the_preferred_group(plan) -> None:  # type: ignore[no-untyped-def]
    spec = evaluate(plan, RouteFacts("billing", "billing", now=MORNING))
    full = {g: a.capacity or 0 for g, a in plan.agents.items()}
    choice = choose(plan, spec, lambda g: full[g], MORNING)
    assert (choice.kind, choice.group) == ("queue", "billing")


def test_unanswered_group_is_not_tried_again(plan) -> None:  # type: ignore[no-untyped-def]
    spec = evaluate(plan, RouteFacts("billing", "billing", now=MORNING))
    assert choose(plan, spec, lambda g: 0, MORNING, exclude=("billing",)).group == "general"


def test_closed_group_is_skipped(plan) -> None:  # type: ignore[no-untyped-def]
    spec = evaluate(plan, RouteFacts("tech", "technical", now=EVENING))
    assert choose(plan, spec, lambda g: 0, EVENING).group == "senior"


def test_explain_says_why_rules_were_skipped(plan) -> None:  # type: ignore[no-untyped-def]
    lines = explain(plan, RouteFacts("billing", "billing", now=MORNING))
    assert lines[0].startswith("rule premium_to_senior: skipped (tier is unknown, not gold")
    assert lines[-1] == "no rule fires -> group billing, priority 0"
    lines = explain(plan, RouteFacts("billing", "billing", profile=gold(), now=MORNING))
    assert lines == ["rule premium_to_senior: FIRES -> prefer senior; skills any; priority 20"]


def test_occupancy_expires_and_claims_atomically() -> None:
    now = [1000.0]
    occ = MemoryOccupancy(clock=lambda: now[0])
    assert occ.try_claim("billing", "CA1", 1, ttl_s=30)
    assert not occ.try_claim("billing", "CA2", 1, ttl_s=30)
    now[0] += 31  # the callback was lost: the seat frees itself
    assert occ.busy("billing") == 0 and occ.try_claim("billing", "CA2", 1, ttl_s=30)
    occ.release("billing", "CA2")
    assert occ.busy("billing") == 0


def test_repeat_caller_is_prioritised(plan) -> None:  # type: ignore[no-untyped-def]
    centre = ContactCentre()
    ctx = {"from": "+1 555 555 0177", "intent": "orders"}
    assert not centre.facts(plan, "orders", ctx, MORNING).repeat
    centre.remember("+15555550177", "orders", "transfer: orders")
    facts = centre.facts(plan, "orders", ctx, MORNING)
    assert facts.repeat and evaluate(plan, facts).priority == 10
    centre.remember("+15555550188", "orders", "hangup")  # solved by the bot: not a repeat
    assert not centre.facts(plan, "orders", {**ctx, "from": "+15555550188"}, MORNING).repeat


def _bad(tmp_path: Path, old: str, new: str) -> list[str]:
    text = PLAN.read_text().replace(old, new, 1)
    assert text != PLAN.read_text()
    path = write_plan(tmp_path, text)
    with pytest.raises(DialplanError) as exc:
        load_dialplan(path)
    return [f"{line}: {msg}" for _, line, msg in exc.value.errors]


def test_unknown_group_in_rule_is_a_load_error_with_line(tmp_path: Path) -> None:
    errors = _bad(tmp_path, "prefer: [senior]\n      priority: 20",
                  "prefer: [senoir]\n      priority: 20")
    assert any('"senoir" is not an agent group (did you mean "senior"?)' in e for e in errors)
    line = PLAN.read_text().splitlines().index("      prefer: [senior]") + 1
    assert errors[0].startswith(f"{line}:")


def test_bad_overflow_skill_intent_and_key(tmp_path: Path) -> None:
    assert any("did you mean \"general\"" in e
               for e in _bad(tmp_path, "overflow: [general]", "overflow: [genral]"))
    assert any("is not a skill any agent group has" in e
               for e in _bad(tmp_path, "skills: [general]\n      priority",
                             "skills: [gneral]\n      priority"))
    assert any('did you mean "billing"' in e
               for e in _bad(tmp_path, "when: {intent: billing,", "when: {intent: biling,"))
    assert any('unknown key "tiers"' in e
               for e in _bad(tmp_path, "when: {tier: [gold", "when: {tiers: [gold"))


def test_explain_route_cli(capsys) -> None:  # type: ignore[no-untyped-def]
    from ivr.cli import main

    assert main(["check", str(PLAN), "--explain-route", "tier=gold intent=billing"]) == 0
    out = capsys.readouterr().out
    assert "premium_to_senior: FIRES" in out and "dial senior" in out
    assert main(["check", str(PLAN), "--explain-route", "tire=gold"]) == 2


def test_anticipate_and_welcome_keys_are_checked(tmp_path: Path) -> None:
    assert any('"biling" is not an intent of this plan (did you mean "billing"?)' in e
               for e in _bad(tmp_path, "      intent: billing\n      group: senior",
                             "      intent: biling\n      group: senior"))
    assert any("no {placeholders} here" in e
               for e in _bad(tmp_path, "welcome_back: Welcome back.",
                             "welcome_back: Welcome back, {name}."))
    assert any("use last_call_intent" in e
               for e in _bad(tmp_path, "when: {open_tickets: true}",
                             "when: {intent: billing}"))
    assert any('"senoir" is not an agent group' in e
               for e in _bad(tmp_path, "      group: senior", "      group: senoir"))


def test_group_keys_that_would_do_nothing_are_rejected(tmp_path: Path) -> None:
    assert any("a group cannot overflow to itself" in e
               for e in _bad(tmp_path, "    overflow: [general]          # full",
                             "    overflow: [billing]          # full"))
    assert any("closed: is the plan's wording" in e
               for e in _bad(tmp_path, '      open: {mon-fri: "09:00-17:00"}',
                             '      open: {mon-fri: "09:00-17:00"}\n      closed: {say: Shut.}'))
    assert any("greater than or equal to 1" in e
               for e in _bad(tmp_path, "    capacity: 6", "    capacity: 0"))
