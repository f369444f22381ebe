"""``ivr check PLAN --explain-route "tier=gold intent=billing"``: which rule fires, and where
the caller would go with every seat free, so operators can test rules without a call."""

from __future__ import annotations

from datetime import datetime, time, timezone
from zoneinfo import ZoneInfo

from ivr.contact.choice import choose
from ivr.contact.profiles import Profile
from ivr.contact.rules import RouteFacts, evaluate, explain
from ivr.dialplan.models import Dialplan, MenuNode

KEYS = ("tier", "language", "segment", "intent", "group", "repeat_caller", "frustrated",
        "known_caller", "open_tickets", "time")


def _group_for(plan: Dialplan, intent: str | None) -> str:
    """The group the bot would transfer to for ``intent`` (a menu option's transfer)."""
    for node in plan.nodes.values():
        if isinstance(node, MenuNode):
            for o in node.options:
                if o.intent_name == intent and o.transfer:
                    return o.transfer
    return plan.default_group


def parse_facts(plan: Dialplan, spec: str, now: datetime | None = None) -> RouteFacts:
    """``key=value`` words -> facts; raises ValueError naming the bad word."""
    values: dict[str, str] = {}
    for word in spec.split():
        key, sep, value = word.partition("=")
        if not sep or key not in KEYS:
            raise ValueError(f"{word!r}: expected key=value with key one of {', '.join(KEYS)}")
        values[key] = value

    def flag(key: str) -> bool:
        return values.get(key, "false").lower() in ("1", "true", "yes")

    zone = ZoneInfo((plan.routing.timezone if plan.routing else None)
                    or (plan.hours.timezone if plan.hours else None) or "UTC")
    when = now or datetime.now(timezone.utc)
    if "time" in values:
        hh, _, mm = values["time"].partition(":")
        local = when.astimezone(zone)
        when = datetime.combine(local.date(), time(int(hh), int(mm or 0)), zone)
    profile = None
    if any(k in values for k in ("tier", "language", "segment", "open_tickets")) or flag(
        "known_caller"
    ):
        profile = Profile(
            number="",
            tier=values.get("tier", "standard"),
            language=values.get("language", ""),
            segments=tuple(s for s in values.get("segment", "").split(",") if s),
            open_tickets=("T1",) if flag("open_tickets") else (),
        )
    intent = values.get("intent")
    return RouteFacts(
        group=values.get("group") or _group_for(plan, intent),
        intent=intent,
        frustrated=flag("frustrated"),
        profile=profile,
        repeat=flag("repeat_caller"),
        now=when,
    )


def explain_route(plan: Dialplan, spec: str, now: datetime | None = None) -> list[str]:
    facts = parse_facts(plan, spec, now)
    lines = explain(plan, facts)
    route = evaluate(plan, facts)
    when = facts.now or datetime.now(timezone.utc)
    choice = choose(plan, route, lambda g: 0, when)
    lines.append(f"with every seat free: {choice.kind} {choice.group or ''} ({choice.why})".strip())
    return lines
