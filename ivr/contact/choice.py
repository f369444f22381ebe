"""Choosing the target: a preferred group with a free seat, else the least-loaded qualifying
overflow group, else our queue (or, when no group can even queue the caller, a call back).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from ivr.contact.rules import RouteSpec
from ivr.dialplan.models import AgentGroup, Dialplan
from ivr.engine.hours import OpeningHours


@dataclass(frozen=True, slots=True)
class Choice:
    """``dial``: send the caller to ``group`` now; ``queue``: wait in ``group``'s queue;
    ``callback``: nobody can take or queue the call (every qualifying group closed)."""

    kind: Literal["dial", "queue", "callback"]
    group: str | None
    why: str


_HOURS: dict[int, OpeningHours] = {}


def group_open(group: AgentGroup, now: datetime) -> bool:
    if group.hours is None:
        return True
    key = id(group.hours)
    hours = _HOURS.get(key)
    if hours is None:
        hours = _HOURS[key] = OpeningHours(group.hours)
    return hours.is_open(now)


def _candidates(plan: Dialplan, spec: RouteSpec, now: datetime) -> tuple[list[str], set[str]]:
    skills = set(spec.skills)

    def fits(name: str) -> bool:
        g = plan.agents.get(name)
        return g is not None and skills <= set(g.skills) and group_open(g, now)

    preferred = [g for g in spec.prefer if fits(g)]
    if not preferred and skills:
        preferred = [g for g in plan.agents if fits(g)]
    overflow: list[str] = []
    for p in spec.prefer or preferred:
        for o in plan.agents[p].overflow if p in plan.agents else []:
            if o not in preferred and o not in overflow and fits(o):
                overflow.append(o)
    return preferred + overflow, set(preferred)


def choose(
    plan: Dialplan,
    spec: RouteSpec,
    busy: Callable[[str], int],
    now: datetime,
    exclude: Collection[str] = (),
) -> Choice:
    """Where the caller goes now. ``busy(group)`` is the live seat count; ``exclude`` lists
    groups already tried on this call (a ``<Dial>`` that went unanswered)."""
    ordered, preferred = _candidates(plan, spec, now)

    def free(name: str) -> bool:
        cap = plan.agents[name].capacity
        return cap is None or busy(name) < cap

    for name in ordered:
        if name in preferred and name not in exclude and free(name):
            return Choice("dial", name, f"{name} has a free seat")
    spill = [n for n in ordered if n not in preferred and n not in exclude and free(n)]
    if spill:
        def load(n: str) -> float:
            cap = plan.agents[n].capacity
            return 0.0 if cap is None else busy(n) / cap

        best = min(spill, key=load)  # min keeps declaration order among equals
        return Choice("dial", best, f"overflow: {best} is the least loaded qualifying group")
    if ordered:
        q = next(n for n in ordered if n in preferred) if preferred else ordered[0]
        return Choice("queue", q, f"every qualifying group is full: queue for {q}")
    return Choice("callback", None, "no qualifying group is open")
