"""The state one call keeps, and the helpers every part of the engine speaks through.

:class:`CallCore` holds the call's dialogue state (slots, transcript, counters, what the call
waits for) and the output helpers (say, template, listen, transfer context). The engine's parts
(menus, slot filling, answers, global intents, failures, custom actions) are mixins over it, put
together in :class:`ivr.engine.call.PlanCall`; the methods one part calls in another are
declared here for the type checker only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ivr.dialog import CallerInput, CallInfo, Directive, Listen, Say, Transfer
from ivr.dialplan.models import (
    ActionNode,
    CollectNode,
    MenuNode,
    Option,
)
from ivr.engine.speech import has_fields, render, spoken
from ivr.handoff.redact import partial
from ivr.handoff.sentiment import Mood
from ivr.nlu.entities import parse_yes_no
from ivr.transcript import Transcript

if TYPE_CHECKING:
    from ivr.engine.factory import PlanFactory

CallerLookup = Callable[[dict[str, Any]], Mapping[str, str] | None]
"""slots -> the caller's profile fields ({} / None: not in the directory)."""

Mode = Literal[
    "menu", "collect", "confirm_value", "confirm_intent", "disambiguate", "question", "done"
]


@dataclass
class _Wait:
    """What the call is waiting for, and how to ask again."""

    mode: Mode
    node: str
    prompt: list[Say]
    reprompt: list[Say]
    listen: Listen
    option: Option | None = None
    value: Any = None
    options: tuple[Option, ...] = ()
    """The two options a "disambiguate" wait offered."""
    rejected: frozenset[str] = frozenset()
    """Candidates the caller said no to at this menu in this turn: never offered again."""



class CallCore:
    """A call's state and output helpers (see the module docstring)."""

    def __init__(self, factory: PlanFactory, info: CallInfo) -> None:
        self.f = factory
        self.plan = factory.plan
        self.info = info
        self.slots: dict[str, Any] = {}
        self.transcript = Transcript()
        """What was said, already redacted (ivr.handoff.redact): the one transcript type."""
        self.intent: str | None = None
        self.intent_confidence: float | None = None
        self.options_tried: list[str] = []
        self.options_rejected: list[str] = []
        self.kb_answers: list[str] = []
        self.verified: set[str] = set()
        self.mood = Mood()
        self.reason = "requested"
        self.history: list[str] = []
        self.failures = 0
        self.no_input_tries = 0
        self.no_match_tries = 0
        self.wait: _Wait | None = None
        self.out: list[Directive] = []
        self.last_text = ""
        self.last_confidence = 1.0
        self._chain = 0
        self._suggest: tuple[str, ...] = ()
        """Options to name in the next no-match reprompt (set by the decision policy)."""
        self.caller_verified = False
        """The operator's system verified who is calling (an action set routing.verify_slot
        true): only then may profile values be read out."""
        self.caller_lookup: CallerLookup | None = None
        """The caller's profile fields (name, tier, language) for the slots so far; set by
        :mod:`ivr.contact.greeting` on plans with routing.verify_slot."""

    def _say(self, text: str, static: bool = True, barge_in: bool = True) -> Say:
        """Speak ``text`` (and log it in the transcript handed to agents)."""
        d = Say(text, static=static, barge_in=barge_in)
        self.out.append(d)
        self.transcript.add("bot", text, "say")
        return d

    def _template(self, template: str, barge_in: bool = True, **extra: str) -> Say:
        """Say a template: static when it has no fields, else filled from slots."""
        if not has_fields(template):
            return self._say(template, barge_in=barge_in)
        values = {n: self._spoken_slot(n, v) for n, v in self.slots.items()}
        values.update(extra)
        return self._say(render(template, values), static=False, barge_in=barge_in)

    def _spoken_slot(self, name: str, value: Any) -> str:
        """A slot as spoken: sensitive ones only partly ("ending in 4 2 4 2")."""
        sd = self.plan.slots.get(name)
        if sd is not None and sd.sensitive:
            return partial(value)
        return spoken(value, self._slot_type(name))

    def _sensitive(self, name: str) -> bool:
        sd = self.plan.slots.get(name)
        return bool(sd is not None and sd.sensitive)

    def _slot_type(self, name: str) -> str:
        sd = self.plan.slots.get(name)
        return sd.type if sd else "text"

    def _listen_now(self, wait: _Wait) -> None:
        self.wait = wait
        self.out.append(wait.listen)

    def _context(self) -> dict[str, Any]:
        ctx = {
            "call_sid": self.info.call_sid,
            "from": self.info.from_number,
            "intent": self.intent,
            "reason": self.reason,
            "node": self.wait.node if self.wait else None,
            "slots": {k: (partial(v) if self._sensitive(k) else v) for k, v in self.slots.items()},
            "slot_meta": {k: {"verified": k in self.verified, "sensitive": self._sensitive(k)}
                          for k in self.slots},
            "intent_confidence": self.intent_confidence,
            "options_tried": list(self.options_tried),
            "options_rejected": list(self.options_rejected),
            "kb_answers": list(self.kb_answers),
            "sentiment": self.mood.to_json(),
            "transcript": self.transcript.to_json(),
        }
        json.dumps(ctx)  # the contract: it must serialise (raises here, caught, if not)
        return ctx

    def _transfer_now(self, group: str) -> None:
        self.out.append(Transfer(group, self._context()))
        self.wait = None

    def _timeout(self, node: object) -> float:
        t = getattr(node, "timeout_s", None)
        return float(t) if t else self.plan.settings.timeout_s

    def _succeeded(self) -> None:
        self.failures = 0

    def _yes_no(self, ev: CallerInput) -> bool | None:
        if ev.kind == "dtmf":
            return {"1": True, "2": False}.get(ev.digits[:1])
        return parse_yes_no(ev.text)

    def snapshot(self) -> dict[str, Any]:
        """This call's dialogue state, to take back the turn about to be handled.

        Why: the session may end the caller's turn early (the words sounded complete) and then
        hear the caller go on; it restores this snapshot and handles the joined words as one
        turn. The plan, factory and call info are shared and read-only, so they are referenced;
        everything else (slots, transcript, counters, what the call waits for) is copied, so
        fields added later are covered without touching this method. Side effects outside the
        engine (a custom action that already ran) are not undone: the session only takes back
        a turn within a second of committing it.
        """
        import copy

        shared = ("f", "plan", "info")
        return {k: copy.deepcopy(v) for k, v in vars(self).items() if k not in shared}

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Go back to a :meth:`snapshot` (which stays reusable)."""
        import copy

        for key, value in snapshot.items():
            setattr(self, key, copy.deepcopy(value))

    if TYPE_CHECKING:  # implemented by the mixins PlanCall is made of

        def _enter_menu(
            self, name: str, node: MenuNode, rejected: frozenset[str] = frozenset()
        ) -> None:
            raise NotImplementedError

        def _in_menu(self, ev: CallerInput) -> None:
            raise NotImplementedError

        def _in_confirm_intent(self, ev: CallerInput) -> None:
            raise NotImplementedError

        def _in_disambiguate(self, ev: CallerInput) -> None:
            raise NotImplementedError

        def _in_question(self, ev: CallerInput) -> None:
            raise NotImplementedError

        def _candidates(
            self, menu_name: str, menu: MenuNode, text: str
        ) -> tuple[list[tuple[str, float]], dict[str, Any]]:
            raise NotImplementedError

        def _act(self, name: str, extra: dict[str, Any]) -> None:
            raise NotImplementedError

        def _enter_collect(self, name: str, node: CollectNode, preface: str | None = None) -> None:
            raise NotImplementedError

        def _in_collect(self, ev: CallerInput) -> None:
            raise NotImplementedError

        def _in_confirm_value(self, ev: CallerInput) -> None:
            raise NotImplementedError

        def _global(self, ev: CallerInput) -> bool:
            raise NotImplementedError

        def _do_global(self, name: str) -> None:
            raise NotImplementedError

        def _frustration_due(self) -> bool:
            raise NotImplementedError

        def _frustrated(self) -> None:
            raise NotImplementedError

        def _no_input(self) -> None:
            raise NotImplementedError

        def _no_match(self) -> None:
            raise NotImplementedError

        def _run_action(self, name: str, node: ActionNode) -> None:
            raise NotImplementedError

        def _go(self, name: str) -> None:
            raise NotImplementedError

        def _transfer(self, group: str, say: str | None) -> None:
            raise NotImplementedError
