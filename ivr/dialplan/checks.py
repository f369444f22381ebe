"""Whole-plan checks that single models cannot do: every reference must resolve.

An option pointing at a node that does not exist, a transfer to an undeclared group or a keypad
key used twice in one menu would otherwise surface mid-call as a dead end; here they are load
errors at the line that holds the bad reference.
"""

from __future__ import annotations

import string
from collections.abc import Iterator

from ivr.dialplan.models import (
    BUILTIN_NODES,
    ActionNode,
    AnswerNode,
    BranchNode,
    CollectNode,
    Dialplan,
    HangupNode,
    MenuNode,
    QuestionNode,
    RetryPolicy,
    TransferNode,
)
from ivr.dialplan.routing_checks import check_routing
from ivr.dialplan.yamlload import Path_

Problem = tuple[Path_, str]

GLOBAL_NAMES = ("agent", "repeat", "back", "start_over", "goodbye")


def placeholders(template: str) -> list[str]:
    """Field names in a ``{slot}`` template; raises ValueError on broken braces."""
    names = []
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None:
            if not field.isidentifier():
                raise ValueError(
                    f"{{{field}}} is not a slot name (use {{slot_name}}; write "
                    "{{ and }} for literal braces)"
                )
            names.append(field)
    return names


def _node_refs(name: str, node: object) -> Iterator[tuple[Path_, str]]:
    base: Path_ = ("nodes", name)
    if isinstance(node, MenuNode):
        for i, opt in enumerate(node.options):
            if opt.go is not None:
                yield (*base, "options", i, "go"), opt.go
        for key in ("no_input", "no_match"):
            pol = getattr(node, key)
            if isinstance(pol, RetryPolicy):
                yield (*base, key, "then"), pol.then
    elif isinstance(node, AnswerNode | ActionNode):
        yield (*base, "then"), node.then
        if isinstance(node, ActionNode) and node.on_error is not None:
            yield (*base, "on_error", "then"), node.on_error.then
    elif isinstance(node, CollectNode):
        yield (*base, "then"), node.then
        yield (*base, "on_fail"), node.on_fail
        if node.no_input is not None:
            yield (*base, "no_input", "then"), node.no_input.then
    elif isinstance(node, QuestionNode):
        yield (*base, "yes"), node.yes
        yield (*base, "no"), node.no
        for key in ("no_input", "no_match"):
            pol = getattr(node, key)
            if isinstance(pol, RetryPolicy):
                yield (*base, key, "then"), pol.then
    elif isinstance(node, BranchNode):
        for case, target in node.cases.items():
            yield (*base, "cases", case), target
        yield (*base, "default"), node.default


def _refs(plan: Dialplan) -> Iterator[tuple[Path_, str]]:
    yield ("start",), plan.start
    s = plan.settings
    yield ("settings", "no_input", "then"), s.no_input.then
    yield ("settings", "no_match", "then"), s.no_match.then
    if s.followup.yes:
        yield ("settings", "followup", "yes"), s.followup.yes
    yield ("settings", "followup", "no"), s.followup.no
    if plan.hours is not None:
        yield ("hours", "closed", "then"), plan.hours.closed.then
    if plan.knowledge_base is not None:
        yield ("knowledge_base", "then"), plan.knowledge_base.then
    for aname, adef in plan.actions.items():
        yield ("actions", aname, "on_error", "then"), adef.on_error.then
    for name, node in plan.nodes.items():
        yield from _node_refs(name, node)


def _groups(plan: Dialplan) -> Iterator[tuple[Path_, str]]:
    yield ("default_group",), plan.default_group
    if plan.global_intents.agent.group:
        yield ("global_intents", "agent", "group"), plan.global_intents.agent.group
    if plan.frustration is not None and plan.frustration.group:
        yield ("frustration", "group"), plan.frustration.group
    for name, node in plan.nodes.items():
        if isinstance(node, TransferNode):
            yield ("nodes", name, "group"), node.group
        if isinstance(node, MenuNode):
            for i, opt in enumerate(node.options):
                if opt.transfer is not None:
                    yield ("nodes", name, "options", i, "transfer"), opt.transfer


def _templates(plan: Dialplan) -> Iterator[tuple[Path_, str, tuple[str, ...]]]:
    """(path, template, extra allowed names) for every text that may hold {slot}s."""
    s = plan.settings
    yield ("settings", "confirm_intent"), s.confirm_intent, ("option",)
    yield ("settings", "confirm_value"), s.confirm_value, ("value",)
    for key in ("invalid", "retry_value", "transfer_say", "goodbye", "error_say"):
        yield ("settings", key), getattr(s, key), ()
    if plan.greeting:
        yield ("greeting",), plan.greeting, ()
    for name, node in plan.nodes.items():
        base: Path_ = ("nodes", name)
        for key in ("prompt", "reprompt", "say", "invalid"):
            text = getattr(node, key, None)
            if isinstance(text, str):
                yield (*base, key), text, ()
        if isinstance(node, CollectNode) and isinstance(node.confirm, str):
            yield (*base, "confirm"), node.confirm, ("value",)
    if plan.knowledge_base is not None:
        for i, e in enumerate(plan.knowledge_base.entries):
            yield ("knowledge_base", "entries", i, "answer"), e.answer, ()


def check_plan(plan: Dialplan) -> list[Problem]:
    """Every cross-reference problem in ``plan`` as (document path, message)."""
    problems: list[Problem] = []
    nodes = set(plan.nodes) | set(BUILTIN_NODES)
    for path, target in _refs(plan):
        if target not in nodes:
            problems.append(
                (
                    path,
                    f'"{target}" is not a node (declared nodes: '
                    f"{', '.join(sorted(plan.nodes))}; built in: "
                    f"{', '.join(BUILTIN_NODES)})",
                )
            )
    for path, group in _groups(plan):
        if group not in plan.agents:
            problems.append(
                (
                    path,
                    f'"{group}" is not an agent group (declared: {", ".join(sorted(plan.agents))})',
                )
            )
    global_keys: dict[str, str] = {}
    for gname in GLOBAL_NAMES:
        gi = getattr(plan.global_intents, gname)
        if gi.dtmf is not None:
            if gi.dtmf in global_keys:
                problems.append(
                    (
                        ("global_intents", gname, "dtmf"),
                        f'key {gi.dtmf} is already used by global intent "{global_keys[gi.dtmf]}"',
                    )
                )
            global_keys[gi.dtmf] = gname
    for name, node in plan.nodes.items():
        problems.extend(_check_node(plan, name, node, global_keys))
    slots = set(plan.slots)
    for aname, adef in plan.actions.items():
        for i, slot in enumerate(adef.sets):
            if slot not in slots:
                problems.append(
                    (("actions", aname, "sets", i), f'slot "{slot}" is not declared under slots:')
                )
    for path, text, extra in _templates(plan):
        try:
            names = placeholders(text)
        except ValueError as exc:
            problems.append((path, str(exc)))
            continue
        for n in names:
            if n not in slots and n not in extra:
                problems.append(
                    (
                        path,
                        f"{{{n}}} is not a declared slot (declared: "
                        f"{', '.join(sorted(slots)) or 'none'})",
                    )
                )
    problems.extend(check_routing(plan))
    return problems


def _check_node(
    plan: Dialplan, name: str, node: object, global_keys: dict[str, str]
) -> list[Problem]:
    problems: list[Problem] = []
    base: Path_ = ("nodes", name)
    if isinstance(node, MenuNode):
        keys: dict[str, int] = {}
        names: dict[str, int] = {}
        for i, opt in enumerate(node.options):
            lowered = opt.name.strip().lower()
            if lowered in names:
                problems.append(
                    (
                        (*base, "options", i, "name"),
                        f'option name "{opt.name}" is used twice in this menu',
                    )
                )
            names[lowered] = i
            if opt.dtmf is None:
                continue
            if opt.dtmf in keys:
                problems.append(
                    (
                        (*base, "options", i, "dtmf"),
                        f"keypad key {opt.dtmf} is already used by option "
                        f'"{node.options[keys[opt.dtmf]].name}" in this menu',
                    )
                )
            elif opt.dtmf in global_keys:
                problems.append(
                    (
                        (*base, "options", i, "dtmf"),
                        f"keypad key {opt.dtmf} is taken by the global "
                        f'"{global_keys[opt.dtmf]}" intent',
                    )
                )
            keys[opt.dtmf] = i
        if not keys:
            problems.append(
                (
                    (*base, "options"),
                    "a menu needs at least one option with a "
                    "dtmf key, so callers can use the keypad",
                )
            )
    elif isinstance(node, CollectNode):
        if node.slot not in plan.slots:
            problems.append(((*base, "slot"), f'slot "{node.slot}" is not declared under slots:'))
        elif node.keypad_only and plan.slots[node.slot].type in ("text",):
            problems.append(((*base, "keypad_only"), "a text slot cannot be keyed"))
    elif isinstance(node, BranchNode):
        if node.slot not in plan.slots:
            problems.append(((*base, "slot"), f'slot "{node.slot}" is not declared under slots:'))
    elif isinstance(node, ActionNode):
        if node.action not in plan.actions:
            problems.append(
                (
                    (*base, "action"),
                    f'"{node.action}" is not declared under '
                    f"actions: (declared: {', '.join(sorted(plan.actions)) or 'none'})",
                )
            )
    elif isinstance(node, TransferNode | HangupNode):
        pass
    return problems
