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


def option_groups(plan: object) -> dict[str, str]:
    """intent -> the group its menu option transfers to (first option wins)."""
    out: dict[str, str] = {}
    for node in getattr(plan, "nodes", {}).values():
        if isinstance(node, MenuNode):
            for o in node.options:
                if o.transfer:
                    out.setdefault(o.intent_name, o.transfer)
    return out


CALLER_FIELDS = ("name", "first_name", "tier", "language")
"""Profile fields ``routing.verified_say`` may read out, as ``{caller.FIELD}``."""


def _verification(plan: object) -> list[Problem]:
    """``routing.verify_slot`` must be a slot only an action sets; ``verified_say`` may name
    only ``{caller.FIELD}`` placeholders (and needs verify_slot, or it could never be said)."""
    import string

    from ivr.dialplan.models import CollectNode, Dialplan

    assert isinstance(plan, Dialplan) and plan.routing is not None
    rt = plan.routing
    problems: list[Problem] = []
    if rt.verify_slot is not None:
        if rt.verify_slot not in plan.slots:
            problems.append((("routing", "verify_slot"), _unknown(
                "a slot declared under slots:", rt.verify_slot, plan.slots)))
        elif not any(rt.verify_slot in a.sets for a in plan.actions.values()):
            problems.append((("routing", "verify_slot"), f'no action lists "{rt.verify_slot}" '
                             "under sets: (only the operator's system may verify a caller)"))
        for name, node in plan.nodes.items():
            if isinstance(node, CollectNode) and node.slot == rt.verify_slot:
                problems.append((("nodes", name, "slot"), f'"{rt.verify_slot}" is '
                                 "routing.verify_slot: the caller cannot fill it themselves"))
    if rt.verified_say is not None:
        if rt.verify_slot is None:
            problems.append((("routing", "verified_say"), "needs routing.verify_slot (the "
                             "slot a verifying action sets)"))
        known = [f"caller.{f}" for f in CALLER_FIELDS]
        for _, fld, _, _ in string.Formatter().parse(rt.verified_say):
            if fld is not None and fld not in known:
                problems.append((("routing", "verified_say"),
                                 _unknown("a caller field", fld, known)))
    return problems


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
    transfers = option_groups(plan)
    for a, offer in enumerate(plan.routing.anticipate):
        base_a: Path_ = ("routing", "anticipate", a)
        if offer.intent not in intents:
            problems.append(((*base_a, "intent"),
                             _unknown("an intent of this plan", offer.intent, intents)))
        elif offer.group is None and offer.go is None and offer.intent not in transfers:
            problems.append(((*base_a, "intent"), f'no menu option with intent "{offer.intent}" '
                             "transfers to a group: give group: or go:"))
        if offer.go is not None and offer.go not in plan.nodes:
            problems.append(((*base_a, "go"), _unknown("a node of this plan", offer.go,
                                                       plan.nodes)))
        if offer.group is not None and offer.group not in groups:
            problems.append(((*base_a, "group"), _unknown("an agent group", offer.group,
                                                          groups)))
        if offer.when.intent is not None:
            problems.append(((*base_a, "when", "intent"), "the intent is not known before the "
                             "menu: use last_call_intent"))
        for i, li in enumerate(offer.when.last_call_intent or []):
            if li not in intents:
                problems.append(((*base_a, "when", "last_call_intent", i),
                                 _unknown("an intent of this plan", li, intents)))
    rt = plan.routing
    if rt.directory_action is not None and rt.directory_action not in plan.actions:
        problems.append((("routing", "directory_action"),
                         _unknown("a custom action under actions:", rt.directory_action,
                                  plan.actions)))
    if rt.account_slot is not None and rt.account_slot not in plan.slots:
        problems.append((("routing", "account_slot"),
                         _unknown("a slot declared under slots:", rt.account_slot, plan.slots)))
    problems.extend(_verification(plan))
    for key in ("welcome_back",):
        text = getattr(plan.routing, key)
        if text and "{" in text:
            problems.append((("routing", key), "profile values are never read out (caller ID "
                             "does not verify the caller): no {placeholders} here"))
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
        for i, li in enumerate(rule.when.last_call_intent or []):
            if li not in intents:
                problems.append(((*base, "when", "last_call_intent", i),
                                 _unknown("an intent of this plan", li, intents)))
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
