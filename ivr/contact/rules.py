"""Routing rules: which groups, skills and priority a transfer gets, from structured conditions.

Pure functions over typed facts (no I/O), so ``ivr check --explain-route`` and the benchmark run
exactly the code a live transfer runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo

from ivr.contact.profiles import Profile
from ivr.dialplan.hours import parse_ranges
from ivr.dialplan.models import Dialplan
from ivr.dialplan.routing_models import RouteWhen, RoutingRule


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What is known about the caller when the transfer is decided."""

    group: str
    """The group the engine asked for."""
    intent: str | None = None
    frustrated: bool = False
    profile: Profile | None = None
    repeat: bool = False
    now: datetime | None = None
    last_intent: str | None = None
    """The previous unresolved call's intent (within the repeat window)."""


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """What the rules decided: ``prefer`` in order, ``skills`` every group must have."""

    group: str
    rule: str | None
    prefer: tuple[str, ...]
    skills: tuple[str, ...]
    priority: int


def zone_of(plan: Dialplan) -> ZoneInfo:
    tz = (plan.routing.timezone if plan.routing else None) or (
        plan.hours.timezone if plan.hours else None
    )
    return ZoneInfo(tz or "UTC")


def failed_conditions(when: RouteWhen, facts: RouteFacts, zone: ZoneInfo) -> list[str]:
    """The conditions of ``when`` that do not hold, in words ("tier is standard, not gold")."""
    p = facts.profile
    out: list[str] = []

    def one_of(name: str, allowed: list[str] | None, actual: str) -> None:
        if allowed is not None and actual not in allowed:
            out.append(f"{name} is {actual or 'unknown'}, not {' or '.join(allowed)}")

    one_of("tier", when.tier, p.tier if p else "")
    one_of("language", when.language, p.language if p else "")
    one_of("intent", when.intent, facts.intent or "")
    one_of("last_call_intent", when.last_call_intent, facts.last_intent or "")
    if when.segment is not None and not set(when.segment) & set(p.segments if p else ()):
        out.append(f"segments are {', '.join(p.segments) if p and p.segments else 'none'}, "
                   f"not {' or '.join(when.segment)}")
    for name, want, actual in (
        ("repeat_caller", when.repeat_caller, facts.repeat),
        ("frustrated", when.frustrated, facts.frustrated),
        ("known_caller", when.known_caller, p is not None),
        ("open_tickets", when.open_tickets, bool(p and p.open_tickets)),
    ):
        if want is not None and want != actual:
            out.append(f"{name} is {str(actual).lower()}")
    if when.time is not None:
        start, end = parse_ranges(when.time)[0]
        now = (facts.now or datetime.now(zone)).astimezone(zone)
        t = now.time().replace(tzinfo=None)
        if not (start <= t < end or (end == time.max and t >= start)):
            out.append(f"time is {t:%H:%M}, not {when.time}")
    return out


def _spec(facts: RouteFacts, rule: RoutingRule | None) -> RouteSpec:
    if rule is None:
        return RouteSpec(facts.group, None, (facts.group,), (), 0)
    return RouteSpec(facts.group, rule.name, tuple(rule.prefer), tuple(rule.skills),
                     rule.priority)


def evaluate(plan: Dialplan, facts: RouteFacts) -> RouteSpec:
    """The first rule whose conditions all hold decides; no rule: the engine's group as is."""
    if plan.routing is None:
        return _spec(facts, None)
    zone = zone_of(plan)
    for rule in plan.routing.rules:
        if not failed_conditions(rule.when, facts, zone):
            return _spec(facts, rule)
    return _spec(facts, None)


def explain(plan: Dialplan, facts: RouteFacts) -> list[str]:
    """One line per rule up to the one that fires, saying why each earlier one did not."""
    lines: list[str] = []
    zone = zone_of(plan)
    for rule in plan.routing.rules if plan.routing else []:
        failed = failed_conditions(rule.when, facts, zone)
        if failed:
            lines.append(f"rule {rule.name}: skipped ({'; '.join(failed)})")
            continue
        spec = _spec(facts, rule)
        lines.append(
            f"rule {rule.name}: FIRES -> prefer {', '.join(spec.prefer) or facts.group}"
            f"; skills {', '.join(spec.skills) or 'any'}; priority {spec.priority}"
        )
        return lines
    lines.append(f"no rule fires -> group {facts.group}, priority 0")
    return lines
