"""Custom (rasa-sdk) action nodes: run the action, apply its events (slots set by a system of
record count as verified), speak its messages, follow its followup.

A part of :class:`ivr.engine.call.PlanCall` (see :mod:`ivr.engine.state`).
"""

from __future__ import annotations

import json
import logging

from ivr.actions.runner import ActionCall, ActionFailed
from ivr.dialplan.models import (
    ActionNode,
)
from ivr.engine.speech import render
from ivr.engine.state import CallCore

log = logging.getLogger("ivr.engine.call")


class ActionTurns(CallCore):
    """This part of :class:`~ivr.engine.call.PlanCall` (see the module docstring)."""

    def _run_action(self, name: str, node: ActionNode) -> None:
        adef = self.plan.actions[node.action]
        runner = self.f.runners[node.action]
        call = ActionCall(
            action_name=adef.action_name or node.action,
            sender_id=self.info.call_sid,
            slots=dict(self.slots),
            latest_text=self.last_text,
            intent=self.intent,
            confidence=self.last_confidence,
            transcript=self.transcript.to_json(),
            slot_names=list(self.plan.slots),
            intents=[],
            metadata={"call_sid": self.info.call_sid, "from": self.info.from_number,
                      "to": self.info.to_number},
        )
        try:
            result = runner.run(call)
        except ActionFailed as exc:
            log.warning("call %s: action %s failed: %s", self.info.call_sid, node.action, exc)
            policy = node.on_error or adef.on_error
            self.reason = "action_error"
            self._template(policy.say)
            self._go(policy.then)
            return
        next_node = node.then
        for ev in result.events:
            kind = ev.get("event")
            if kind == "slot" and isinstance(ev.get("name"), str):
                value = ev.get("value")
                try:
                    json.dumps(value)
                except (TypeError, ValueError):
                    value = str(value)
                self.slots[ev["name"]] = value
                self.verified.add(ev["name"])  # a system of record set it
            elif kind == "reset_slots":
                self.slots.clear()
                self.caller_verified = False
            elif kind == "followup" and isinstance(ev.get("name"), str):
                target = ev["name"]
                if target in self.plan.nodes or target in self.f.builtin:
                    next_node = target
                else:
                    log.warning("action %s asked for unknown node %r", node.action, target)
        self._check_verified()
        for text in result.messages:
            self._say(text, static=False)
        self._go(next_node)

    def _check_verified(self) -> None:
        """An action just set routing.verify_slot true: the caller is verified, and the plan's
        verified_say (the one text allowed to read profile fields) is said once, now."""
        rt = self.plan.routing
        if rt is None or rt.verify_slot is None or self.caller_verified:
            return
        value = self.slots.get(rt.verify_slot)
        if rt.verify_slot not in self.verified or value not in (True, "true", "yes", 1):
            return
        self.caller_verified = True
        log.info("call %s: caller verified (%s)", self.info.call_sid, rt.verify_slot)
        if rt.verified_say is None:
            return
        fields = dict(self.caller_lookup(dict(self.slots)) or {}) if self.caller_lookup else {}
        if not fields.get("name") and "{caller." in rt.verified_say:
            log.warning("call %s: verified, but the directory has no name", self.info.call_sid)
            return  # never "Thank you, ." : say nothing rather than half a sentence
        values = {f"caller.{k}": v for k, v in fields.items()}
        self._say(render(rt.verified_say, values), static=False)
