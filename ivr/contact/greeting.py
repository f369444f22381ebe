"""Who is calling, at the greeting: "Welcome back" for known callers, and the likely reason for
the call offered before the menu (``routing.anticipate``).

A thin :class:`~ivr.dialog.CallDialog` around the engine's own: the engine's first turn is
computed as usual (greeting, menu prompt); when an offer applies, the greeting is spoken, then
the offer, and the engine's menu turn is held back. Yes (or key 1) transfers straight to the
offer's group with the offer's intent, or (``go``) plays the engine's turn at the offer's node;
no (key 2, or silence) plays the held-back menu turn;
anything else the caller says is handed to the engine's menu as if the offer had not been made.
The profile lookup runs in ``start()``, on a model worker, never on the socket thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ivr.contact.crm import directory_for
from ivr.contact.profiles import Directory
from ivr.contact.rules import failed_conditions, zone_of
from ivr.contact.service import ContactCentre
from ivr.dialog import (
    AgentTarget,
    CallDialog,
    CallerInput,
    CallInfo,
    DialogFactory,
    Directive,
    Listen,
    Say,
    Transfer,
)
from ivr.dialplan.models import Dialplan
from ivr.dialplan.routing_checks import option_groups
from ivr.dialplan.routing_models import Anticipate
from ivr.nlu.entities import parse_yes_no

log = logging.getLogger(__name__)


def greets(plan: Dialplan) -> bool:
    return plan.routing is not None and bool(plan.routing.welcome_back or
                                             plan.routing.anticipate)


def verifies(plan: Dialplan) -> bool:
    """Plans whose verified callers may hear their profile (routing.verify_slot)."""
    return plan.routing is not None and plan.routing.verify_slot is not None


def caller_lookup(plan: Dialplan, centre: ContactCentre, info: CallInfo,
                  directory: Directory | None) -> Callable[[dict[str, Any]], dict[str, str]]:
    """The engine's view of the caller's profile for the slots so far (by the account slot
    once filled, else by number): name, first_name, tier, language. The engine asks only once
    the caller is verified; the directory may be slow (a database), so it runs on the engine's
    worker."""
    def lookup(slots: dict[str, Any]) -> dict[str, str]:
        profile = centre.profile(plan, {"call_sid": info.call_sid, "from": info.from_number,
                                        "slots": slots}, directory)
        if profile is None:
            return {}
        fields = {k: profile.field_value(k) for k in ("name", "tier", "language")}
        fields["first_name"] = profile.name.split()[0] if profile.name.strip() else ""
        return fields

    return lookup


class GreetingDialog:
    """One call: the offer turn in front of the engine's dialog."""

    def __init__(self, inner: CallDialog, plan: Dialplan, centre: ContactCentre, info: CallInfo,
                 is_open: Callable[[], bool], now: Callable[[], datetime],
                 directory: Directory | None = None) -> None:
        self.inner, self.plan, self.centre, self.info = inner, plan, centre, info
        self.directory = directory
        self._is_open, self._now = is_open, now
        self._offer: Anticipate | None = None
        self._held: list[Directive] = []

    def start(self) -> list[Directive]:
        out = self.inner.start()
        routing = self.plan.routing
        assert routing is not None
        facts = self.centre.facts(self.plan, self.plan.default_group,
                                  {"from": self.info.from_number, "call_sid": self.info.call_sid},
                                  self._now(), self.directory)
        cut = 1 if self.plan.greeting and out and isinstance(out[0], Say) else 0
        head: list[Directive] = list(out[:cut])
        if facts.profile is not None and routing.welcome_back:
            head.append(Say(routing.welcome_back))
        zone = zone_of(self.plan)
        self._offer = next((a for a in routing.anticipate
                            if not failed_conditions(a.when, facts, zone)), None)
        if self._offer is None or not self._is_open():
            self._offer = None
            return head + list(out[cut:])
        log.info("call %s: offering %s", self.info.call_sid, self._offer.name)
        self._held = list(out[cut:])
        return [*head, Say(self._offer.say),
                Listen(timeout_s=self.plan.settings.timeout_s, hints=("yes", "no"))]

    def handle(self, event: CallerInput) -> list[Directive]:
        offer, self._offer = self._offer, None
        if offer is None:
            return self.inner.handle(event)
        answer: bool | None
        if event.kind == "dtmf":
            answer = {"1": True, "2": False}.get(event.digits[:1])
        elif event.kind == "speech":
            answer = parse_yes_no(event.text)
        else:
            answer = False
        if answer is True and offer.go is not None:
            enter = getattr(self.inner, "enter", None)
            if callable(enter):  # the engine's own dialog: its turn at the offer's node
                said = event.text or event.digits
                out: list[Directive] = enter(offer.go, offer.intent, (offer.say, said))
                return out
            log.error("call %s: dialog cannot enter %s; playing the menu", self.info.call_sid,
                      offer.go)
            return self._held
        if answer is True:
            group = offer.group or option_groups(self.plan)[offer.intent]
            context: dict[str, Any] = {
                "call_sid": self.info.call_sid, "from": self.info.from_number,
                "intent": offer.intent, "reason": "anticipated", "node": None, "slots": {},
                "transcript": [{"speaker": "bot", "text": offer.say},
                               {"speaker": "caller", "text": event.text or event.digits}],
            }
            return [Say(self.plan.settings.transfer_say), Transfer(group, context)]
        if answer is False or event.kind == "dtmf":
            return self._held
        return self.inner.handle(event)  # they said what they want: the menu takes it


@dataclass
class GreetingFactory:
    """Wraps the engine's factory (a :class:`~ivr.dialog.DialogFactory`) for plans that greet
    known callers or anticipate reasons; otherwise hands out the engine's dialogs unchanged."""

    inner: DialogFactory
    centre: Callable[[], ContactCentre]

    def new_call(self, info: CallInfo) -> CallDialog:
        plan = getattr(self.inner, "plan", None)
        call = self.inner.new_call(info)
        if not isinstance(plan, Dialplan) or not (greets(plan) or verifies(plan)):
            return call
        centre = self.centre()
        directory = directory_for(plan, self.inner, centre.directory)
        if verifies(plan) and hasattr(call, "caller_lookup"):
            call.caller_lookup = caller_lookup(plan, centre, info, directory)
        if not greets(plan):
            return call
        is_open = getattr(self.inner, "is_open", lambda: True)
        clock = getattr(self.inner, "clock", lambda: datetime.now(timezone.utc))
        return GreetingDialog(call, plan, centre, info, is_open, clock, directory)

    def agent_group(self, name: str) -> AgentTarget:
        return self.inner.agent_group(name)

    @property
    def default_group(self) -> str:
        return self.inner.default_group

    def asr_vocabulary(self) -> tuple[str, ...]:
        return self.inner.asr_vocabulary()

    def static_prompts(self) -> list[str]:
        """The engine's fixed lines plus ours, for the TTS cache."""
        inner = getattr(self.inner, "static_prompts", None)
        lines = list(inner()) if callable(inner) else []
        plan = getattr(self.inner, "plan", None)
        if isinstance(plan, Dialplan) and plan.routing is not None:
            lines.extend(_texts(plan))
        return sorted(set(lines))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # plan, clock, is_open... for the routing routes


def _texts(plan: Dialplan) -> Iterator[str]:
    r = plan.routing
    assert r is not None
    if r.welcome_back:
        yield r.welcome_back
    yield from (a.say for a in r.anticipate)
    yield from (r.hold_say, r.callback_offer, r.callback_said, r.nobody_say)


def wrap_plan(plan: Callable[[], DialogFactory],
              centre: Callable[[], ContactCentre]) -> Callable[[], DialogFactory]:
    """``Services.plan`` with every factory it returns wrapped (one wrapper per plan load)."""
    cache: dict[int, GreetingFactory] = {}

    def current() -> DialogFactory:
        inner = plan()
        wrapped = cache.get(id(inner))
        if wrapped is None or wrapped.inner is not inner:
            cache.clear()
            wrapped = cache[id(inner)] = GreetingFactory(inner, centre)
        return wrapped

    current.greets_callers = True  # type: ignore[attr-defined]
    return current
