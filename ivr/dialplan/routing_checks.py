"""Whole-plan checks for contact-centre routing: every group, skill and intent a rule or an
overflow list names must exist, so a typo is a load error at its line, not a caller sent nowhere.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from ivr.dialplan.models import GlobalIntents, MenuNode
from ivr.dialplan.yamlload import Path_

Problem = tuple[Path_, str]


def _unknown(what: str, value: str, known: Iterable[str]) -> str:
    names = sorted(set(known))
    near = difflib.get_close_matches(value, names, n=1)
    hint = f' (did you mean "{near[0]}"?)' if near else ""
    return f'"{value}" is not {what}{hint}; declared: {", ".join(names) or "none"}'


def plan_intents(plan: object) -> set[str]:
    """Every intent name a transfer can carry: menu options' intents and the global intents."""
    intents = set(GlobalIntents.model_fields)
    for node in getattr(plan, "nodes", {}).values():
        if isinstance(node, MenuNode):
            intents.update(o.intent_name for o in node.options)
    return intents


def check_routing(plan: object) -> list[Problem]:
    """Problems in ``agents.*.overflow`` and ``routing.rules`` as (document path, message)."""
    from ivr.dialplan.models import Dialplan

    assert isinstance(plan, Dialplan)
    problems: list[Problem] = []
    groups = plan.agents
    all_skills = {s for g in groups.values() for s in g.skills}
    for name, group in groups.items():
        for i, other in enumerate(group.overflow):
            path: Path_ = ("agents", name, "overflow", i)
            if other not in groups:
                problems.append((path, _unknown("an agent group", other, groups)))
            elif other == name:
                problems.append((path, "a group cannot overflow to itself"))
        if group.hours is not None and "closed" in group.hours.model_fields_set:
            problems.append((("agents", name, "hours", "closed"),
                             "closed: is the plan's wording; a closed group is skipped by "
                             "routing (set it under the top-level hours:)"))
    if plan.routing is None:
        return problems
    intents = plan_intents(plan)
    for r, rule in enumerate(plan.routing.rules):
        base: Path_ = ("routing", "rules", r)
        for i, g in enumerate(rule.prefer):
            if g not in groups:
                problems.append(((*base, "prefer", i), _unknown("an agent group", g, groups)))
        for i, skill in enumerate(rule.skills):
            if skill not in all_skills:
                problems.append(
                    ((*base, "skills", i), _unknown("a skill any agent group has", skill,
                                                    all_skills))
                )
        if rule.skills:
            wanted = set(rule.skills)
            fits = [g for g in (rule.prefer or groups) if g in groups
                    and wanted <= set(groups[g].skills)]
            if not fits and all(s in all_skills for s in rule.skills):
                problems.append(
                    ((*base, "skills"), "no agent group"
                     + (" in prefer" if rule.prefer else "") + " has all of these skills")
                )
        for i, intent in enumerate(rule.when.intent or []):
            if intent not in intents:
                problems.append(
                    ((*base, "when", "intent", i), _unknown("an intent of this plan", intent,
                                                          intents))
                )
        if rule.when.time is not None and plan.routing.timezone is None and plan.hours is None:
            problems.append(
                ((*base, "when", "time"),
                 "a time condition needs routing.timezone (or hours.timezone)")
            )
    return problems
