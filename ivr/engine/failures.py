"""No-input and no-match: the same retry/reprompt policy everywhere, frustration hand-off, and
naming the likeliest options instead of the whole menu again.

A part of :class:`ivr.engine.call.PlanCall` (see :mod:`ivr.engine.state`).
"""

from __future__ import annotations

import logging

from ivr import observability
from ivr.dialplan.models import (
    RetryPolicy,
)
from ivr.engine.state import CallCore

log = logging.getLogger("ivr.engine.call")


class Failures(CallCore):
    """This part of :class:`~ivr.engine.call.PlanCall` (see the module docstring)."""

    def _policy(self, kind: str) -> RetryPolicy:
        assert self.wait is not None
        node = self.f.node(self.wait.node)
        own = getattr(node, kind, None)
        if isinstance(own, RetryPolicy):
            return own
        pol: RetryPolicy = getattr(self.plan.settings, kind)
        return pol

    def _frustration_due(self) -> bool:
        fr = self.plan.frustration
        if fr is not None and self.failures >= fr.max_failures:
            self._frustrated()
            return True
        return False

    def _frustrated(self) -> None:
        fr = self.plan.frustration
        assert fr is not None
        self.reason = "frustration"
        if self.plan.hours is not None and not self.f.is_open():
            self._transfer(fr.group or self.plan.default_group, None)
            return
        self._say(fr.say)
        self._transfer_now(fr.group or self.plan.default_group)

    def _no_input(self) -> None:
        self.no_input_tries += 1
        self._failed("no_input", self.no_input_tries)

    def _no_match(self) -> None:
        observability.no_match()  # a counter only: the engine's decisions do not depend on it
        self.no_match_tries += 1
        self._failed("no_match", self.no_match_tries)

    def _failed(self, kind: str, tries: int) -> None:
        assert self.wait is not None
        self.failures += 1
        if self._frustration_due():
            return
        policy = self._policy(kind)
        if tries > policy.retries:
            self.reason = kind
            self.wait = None
            self._go(policy.then)
            return
        self._say(policy.say[min(tries, len(policy.say)) - 1])
        wait = self.wait
        suggest, self._suggest = self._suggest, ()
        if kind == "no_match" and suggest and wait.mode == "menu":
            # Nothing was likely: name the likeliest options instead of the whole menu again.
            names = ", ".join(suggest[:-1]) + (f", or {suggest[-1]}" if len(suggest) > 1 else
                                                suggest[-1])
            self._template(self.plan.settings.suggest_options, options=names)
            self._listen_now(wait)
            return
        for s in wait.reprompt:
            self.out.append(s)
            self.transcript.add("bot", s.text, "say")
        self._listen_now(wait)
