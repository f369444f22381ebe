"""One call's walk through the dialplan: text in, Say/Listen/Transfer/Hangup out.

The call waits in one of a few modes (a menu, a slot question, a read-back, "did you mean...?",
a yes/no question). Every caller input is handled by the current mode; anything it cannot use
goes through the same no-match/no-input policies, so retries, reprompts and the final hand-off
behave identically everywhere. Global intents (agent, repeat, back, start over, goodbye) are
checked in every mode, after the mode had a chance to use the input (so "no" answers a yes/no
question rather than meaning anything global).

Any exception in here is caught at the turn boundary and becomes the plan's apology plus a
transfer to the default group: a bug must never leave a caller in silence.
"""

from __future__ import annotations

import logging
from typing import Any

from ivr.dialog import CallerInput, Directive, Hangup, Listen, Say, Transfer
from ivr.dialplan.models import (
    ActionNode,
    AnswerNode,
    BranchNode,
    CollectNode,
    HangupNode,
    MenuNode,
    QuestionNode,
    TransferNode,
)
from ivr.engine.answers import Answers
from ivr.engine.custom_actions import ActionTurns
from ivr.engine.failures import Failures
from ivr.engine.filling import SlotFilling
from ivr.engine.globals import GlobalTurns
from ivr.engine.menus import MenuTurns
from ivr.engine.state import CallCore, Mode, _Wait
from ivr.handoff.redact import redact_keys, redact_sensitive, redact_text

log = logging.getLogger(__name__)

__all__ = ["MAX_CHAIN", "Mode", "PlanCall"]

MAX_CHAIN = 25
"""Nodes entered in one turn before we call it a loop (answer -> answer -> ... is a plan bug)."""


class _Loop(Exception):
    pass



class PlanCall(MenuTurns, Answers, SlotFilling, GlobalTurns, Failures, ActionTurns, CallCore):
    """A :class:`ivr.dialog.CallDialog` over a :class:`PlanFactory`'s plan."""

    def start(self) -> list[Directive]:
        return self._turn(self._start)

    def handle(self, event: CallerInput) -> list[Directive]:
        return self._turn(lambda: self._handle(event))

    def enter(self, name: str, intent: str | None = None,
              heard: tuple[str, str] = ("", "")) -> list[Directive]:
        """Go to node ``name`` now, whatever the call waits for: an anticipated reason the
        caller said yes to (routing.anticipate ``go``). ``heard`` is (what was offered, what
        the caller answered), kept in the transcript agents see."""
        def body() -> None:
            offered, answer = heard
            if offered:
                self.transcript.add("bot", offered, "say")
            if answer:
                red = redact_text(answer, offered)
                self.transcript.add("caller", red.text, "speech", redactions=red.kinds)
            if intent:
                self.intent, self.reason = intent, "anticipated"
            self.wait = None
            self._go(name)

        return self._turn(body)

    def _turn(self, body: Any) -> list[Directive]:
        self.out = []
        self._chain = 0
        try:
            body()
            if not self.out or not isinstance(self.out[-1], Listen | Transfer | Hangup):
                raise RuntimeError("turn did not end with Listen, Transfer or Hangup")
        except Exception:
            log.exception(
                "call %s: engine error at node %s",
                self.info.call_sid,
                self.wait.node if self.wait else "-",
            )
            self.out = [d for d in self.out if isinstance(d, Say)]
            self.reason = "error"
            self._say(self.plan.settings.error_say)
            self._transfer_now(self.plan.default_group)
        return self.out

    def _start(self) -> None:
        if self.plan.greeting:
            self._template(self.plan.greeting)
        if self.plan.hours is not None and not self.f.is_open():
            self._say(self.plan.hours.closed.say)
            self._go(self.plan.hours.closed.then)
            return
        self._go(self.plan.start)

    def _go(self, name: str) -> None:
        self._chain += 1
        if self._chain > MAX_CHAIN:
            raise _Loop(f"more than {MAX_CHAIN} nodes in one turn (loop at {name!r})")
        node = self.f.node(name)
        if self.wait is None or self.wait.node != name:
            self.no_input_tries = self.no_match_tries = 0
        if isinstance(node, MenuNode):
            if not self.history or self.history[-1] != name:
                self.history.append(name)
            self._enter_menu(name, node)
        elif isinstance(node, AnswerNode):
            self._template(node.say, barge_in=node.barge_in)
            self._go(node.then)
        elif isinstance(node, CollectNode):
            self._enter_collect(name, node)
        elif isinstance(node, QuestionNode):
            self._enter_question(name, node)
        elif isinstance(node, ActionNode):
            self._run_action(name, node)
        elif isinstance(node, BranchNode):
            self._go(self._branch(node))
        elif isinstance(node, TransferNode):
            self._transfer(node.group, node.say)
        elif isinstance(node, HangupNode):
            if node.say:
                self._template(node.say)
            self.out.append(Hangup("completed"))
            self.wait = None
        else:  # pragma: no cover - the models admit no other node type
            raise TypeError(f"unknown node {name}")

    def _enter_question(self, name: str, node: QuestionNode) -> None:
        prompt = [self._template(node.prompt)]
        listen = Listen(timeout_s=self._timeout(node), dtmf_max_digits=1, hints=("yes", "no"))
        self._listen_now(_Wait("question", name, prompt, prompt, listen))

    def _branch(self, node: BranchNode) -> str:
        value = self.slots.get(node.slot)
        keys = {str(value).lower()}
        if isinstance(value, bool):
            keys = {"yes", "true"} if value else {"no", "false"}
        elif isinstance(value, float) and value.is_integer():
            keys.add(str(int(value)))
        for case, target in node.cases.items():
            if case.lower() in keys:
                return target
        return node.default

    def _transfer(self, group: str, say: str | None) -> None:
        if self.plan.hours is not None and not self.f.is_open():
            self._say(self.plan.hours.closed.transfer_say)
            self._go("goodbye")
            return
        self._template(say or self.plan.settings.transfer_say)
        self._transfer_now(group)

    def _handle(self, ev: CallerInput) -> None:
        if self.wait is None:  # the call already ended or was handed over
            self.out.append(Hangup("completed"))
            return
        shown = self._log_caller(ev)
        if ev.kind == "speech":
            self.last_text, self.last_confidence = ev.text, ev.confidence
        if ev.kind == "no_input":
            self._no_input()
            return
        if ev.kind == "speech" and not ev.text.strip():
            self._no_match()
            return
        fr = self.plan.frustration
        upset = ev.kind == "speech" and self.mood.observe(ev.text, shown)
        if upset and fr is not None and fr.negative_sentiment and self.mood.frustrated(
            self.failures
        ):
            self._frustrated()
            return
        mode = self.wait.mode
        if mode == "menu":
            self._in_menu(ev)
        elif mode == "collect":
            self._in_collect(ev)
        elif mode == "confirm_value":
            self._in_confirm_value(ev)
        elif mode == "confirm_intent":
            self._in_confirm_intent(ev)
        elif mode == "disambiguate":
            self._in_disambiguate(ev)
        elif mode == "question":
            self._in_question(ev)

    def _log_caller(self, ev: CallerInput) -> str:
        """Add the caller's turn to the transcript, redacted at the source; returns the text kept.

        An answer to a sensitive slot's question or read-back is masked whole when it holds
        digits; anything else goes through the detectors (a card number said in a menu, a PIN
        after "my PIN is")."""
        sensitive = None
        if self.wait is not None and self.wait.mode in ("collect", "confirm_value"):
            node = self.f.node(self.wait.node)
            if isinstance(node, CollectNode) and self._sensitive(node.slot):
                sensitive = node.slot
        hint = self.wait.prompt[-1].text if self.wait is not None and self.wait.prompt else ""
        if ev.kind == "speech":
            red = redact_sensitive(ev.text, sensitive) if sensitive else redact_text(ev.text, hint)
            self.transcript.add("caller", red.text, "speech", redactions=red.kinds)
            return red.text
        if ev.kind == "dtmf":
            red = redact_keys(ev.digits, sensitive, hint)
            self.transcript.add("caller", red.text, "dtmf", redactions=red.kinds)
            return red.text
        self.transcript.add("caller", "", "no_input")
        return ""
