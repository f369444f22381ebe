"""Slot filling: asking for a value, parsing keys or speech, validating, reading it back, taking
corrections ("no, it's 4 5 6 8") and giving up after the node's retries.

A part of :class:`ivr.engine.call.PlanCall` (see :mod:`ivr.engine.state`).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from ivr.dialog import CallerInput, Listen, Say
from ivr.dialplan.models import (
    CollectNode,
    SlotDef,
)
from ivr.engine.slots import is_valid, parse_keys, parse_speech
from ivr.engine.speech import has_fields, spoken
from ivr.engine.state import CallCore, _Wait
from ivr.handoff.redact import partial

log = logging.getLogger("ivr.engine.call")


class SlotFilling(CallCore):
    """This part of :class:`~ivr.engine.call.PlanCall` (see the module docstring)."""

    def _collect_listen(self, node: CollectNode, sd: SlotDef) -> Listen:
        listen = self._plain_collect_listen(node, sd)
        if sd.sensitive:
            return replace(listen, sensitive=node.slot)
        return listen

    def _plain_collect_listen(self, node: CollectNode, sd: SlotDef) -> Listen:
        t = self._timeout(node)
        if sd.type in ("digits", "number", "amount"):
            n = sd.max_length or 20
            return Listen(
                timeout_s=t, dtmf_max_digits=n, dtmf_finish_key="#", speech=not node.keypad_only
            )
        if sd.type == "date":
            return Listen(
                timeout_s=t, dtmf_max_digits=8, dtmf_finish_key="#", speech=not node.keypad_only
            )
        if sd.type == "yes_no":
            return Listen(timeout_s=t, dtmf_max_digits=1, hints=("yes", "no"))
        return Listen(timeout_s=t, dtmf_max_digits=1)

    def _enter_collect(self, name: str, node: CollectNode, preface: str | None = None) -> None:
        if preface:
            self._say(preface)
        prompt = [self._template(node.prompt)]
        reprompt = [Say(node.reprompt, not has_fields(node.reprompt))] if node.reprompt else prompt
        sd = self.plan.slots[node.slot]
        self._listen_now(_Wait("collect", name, prompt, reprompt, self._collect_listen(node, sd)))

    def _parse(self, ev: CallerInput, sd: SlotDef) -> Any:
        """The caller's value for a slot of this type, JSON-ready; None when none was given."""
        if ev.kind == "dtmf":
            return parse_keys(ev.digits, sd, self.plan.settings.keypad_date_format)
        return parse_speech(ev.text, sd, self.f.today())

    def _valid(self, value: Any, sd: SlotDef) -> bool:
        return is_valid(value, sd)

    def _in_collect(self, ev: CallerInput) -> None:
        assert self.wait is not None
        node = self.f.node(self.wait.node)
        assert isinstance(node, CollectNode)
        sd = self.plan.slots[node.slot]
        if ev.kind == "speech" and node.keypad_only:
            self._no_match()
            return
        if sd.type == "text" and ev.kind == "speech" and self._global(ev):
            return
        value = self._parse(ev, sd)
        if value is None:
            if self._global(ev):
                return
            self._invalid(node)
            return
        self._offer(node, sd, value)

    def _offer(self, node: CollectNode, sd: SlotDef, value: Any) -> None:
        """A parsed value: validate, then confirm or store it."""
        assert self.wait is not None
        if not self._valid(value, sd):
            self._invalid(node)
            return
        self._succeeded()
        if node.confirm is False:
            self.slots[node.slot] = value
            self._go(node.then)
            return
        template = (
            node.confirm if isinstance(node.confirm, str) else self.plan.settings.confirm_value
        )
        shown = partial(value) if sd.sensitive else spoken(value, sd.type)
        say = self._template(template, value=shown)
        listen = Listen(timeout_s=self._timeout(node), dtmf_max_digits=1, hints=("yes", "no"),
                        sensitive=node.slot if sd.sensitive else "")  # "no, it's 4 2 4 1..."
        self._listen_now(_Wait("confirm_value", self.wait.node, [say], [say], listen, value=value))

    def _invalid(self, node: CollectNode) -> None:
        assert self.wait is not None
        self.no_match_tries += 1
        self.failures += 1
        if self._frustration_due() or self._out_of_tries(node):
            return
        self._template(node.invalid or self.plan.settings.invalid)
        self._reprompt_collect(node)

    def _out_of_tries(self, node: CollectNode) -> bool:
        """Too many wrong values for this slot: go to the node's ``on_fail`` (True) or not."""
        if self.no_match_tries <= node.retries:
            return False
        self.reason = "invalid_value"
        self.wait = None
        self._go(node.on_fail)
        return True

    def _reprompt_collect(self, node: CollectNode, fresh: bool = False) -> None:
        """Ask for the slot again: the help wording after a bad value, the prompt after "no"."""
        assert self.wait is not None
        name = self.wait.node
        sd = self.plan.slots[node.slot]
        prompt_text = node.prompt if fresh else (node.reprompt or node.prompt)
        prompt = [self._template(prompt_text)]
        self._listen_now(_Wait("collect", name, prompt, prompt, self._collect_listen(node, sd)))

    def _in_confirm_value(self, ev: CallerInput) -> None:
        assert self.wait is not None
        node = self.f.node(self.wait.node)
        assert isinstance(node, CollectNode)
        sd = self.plan.slots[node.slot]
        yn = self._yes_no(ev)
        if yn is True:
            self._succeeded()
            self.slots[node.slot] = self.wait.value
            self.verified.add(node.slot)
            self._go(node.then)
            return
        if yn is False:
            self.no_match_tries += 1
            # "No, it's 4 5 6 8": take the correction straight away.
            if ev.kind == "speech" and sd.type not in ("yes_no", "text"):
                value = self._parse(ev, sd)
                if value is not None and value != self.wait.value and self._valid(value, sd):
                    self._offer(node, sd, value)
                    return
            if self._out_of_tries(node):
                return
            self._say(self.plan.settings.retry_value)
            self._reprompt_collect(node, fresh=True)
            return
        if self._global(ev):
            return
        self._no_match()
