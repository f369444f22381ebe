"""Global intents (agent, repeat, back, start over, goodbye), by key or by words, in every mode.

A part of :class:`ivr.engine.call.PlanCall` (see :mod:`ivr.engine.state`).
"""

from __future__ import annotations

import logging

from ivr.dialog import CallerInput, Hangup
from ivr.engine.state import CallCore

log = logging.getLogger("ivr.engine.call")


class GlobalTurns(CallCore):
    """This part of :class:`~ivr.engine.call.PlanCall` (see the module docstring)."""

    def _global(self, ev: CallerInput) -> bool:
        """Handle a global intent (agent, repeat...) if ``ev`` is one; True when handled."""
        name: str | None = None
        if ev.kind == "dtmf":
            name = self.f.global_keys.get(ev.digits.rstrip("#"))
        elif self.f.global_matcher is not None:
            g = self.f.global_matcher.classify(ev.text)
            if g.intent and g.confidence >= self.plan.settings.thresholds.accept:
                name = g.intent
        if name is None:
            return False
        self._do_global(name)
        return True

    def _do_global(self, name: str) -> None:
        gi = getattr(self.plan.global_intents, name)
        assert self.wait is not None
        wait = self.wait
        if name == "agent":
            self._succeeded()
            self.reason = "caller_request"
            self.intent = self.intent or "agent"
            self._transfer(gi.group or self.plan.default_group, gi.say)
        elif name == "repeat":
            if gi.say:
                self._say(gi.say)
            for s in wait.prompt:
                self.out.append(s)
                self.transcript.add("bot", s.text, "say")
            self._listen_now(wait)
        elif name == "goodbye":
            self._template(gi.say or self.plan.settings.goodbye)
            self.out.append(Hangup("caller_goodbye"))
            self.wait = None
        elif name == "start_over":
            if gi.say:
                self._say(gi.say)
            self.history.clear()
            self.wait = None
            self._go(self.plan.start)
        elif name == "back":
            if gi.say:
                self._say(gi.say)
            if wait.mode in ("menu", "confirm_intent") and self.history:
                self.history.pop()
            target = self.history.pop() if self.history else self.plan.start
            self.wait = None
            self._go(target)
