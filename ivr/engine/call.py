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

import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from ivr import observability
from ivr.actions.runner import ActionCall, ActionFailed
from ivr.dialog import CallerInput, CallInfo, Directive, Hangup, Listen, Say, Transfer
from ivr.dialplan.models import (
    ActionNode,
    AnswerNode,
    BranchNode,
    CollectNode,
    HangupNode,
    MenuNode,
    Option,
    QuestionNode,
    RetryPolicy,
    SlotDef,
    TransferNode,
)
from ivr.engine.decide import decide, parse_choice
from ivr.engine.matching import FAQ_PREFIX, GLOBAL_PREFIX, ranked_of
from ivr.engine.slots import is_valid, parse_keys, parse_speech
from ivr.engine.speech import has_fields, render, spoken
from ivr.handoff.redact import partial, redact_keys, redact_sensitive, redact_text
from ivr.handoff.sentiment import Mood
from ivr.nlu.entities import parse_yes_no
from ivr.nlu.lexical import normalize
from ivr.transcript import Transcript

if TYPE_CHECKING:
    from ivr.engine.factory import PlanFactory

log = logging.getLogger(__name__)

Mode = Literal[
    "menu", "collect", "confirm_value", "confirm_intent", "disambiguate", "question", "done"
]
MAX_CHAIN = 25
"""Nodes entered in one turn before we call it a loop (answer -> answer -> ... is a plan bug)."""


class _Loop(Exception):
    pass


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


class PlanCall:
    """A :class:`ivr.dialog.CallDialog` over a :class:`PlanFactory`'s plan."""

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

    # --- contract ------------------------------------------------------------------------------

    def start(self) -> list[Directive]:
        return self._turn(self._start)

    def handle(self, event: CallerInput) -> list[Directive]:
        return self._turn(lambda: self._handle(event))

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

    # --- output helpers ------------------------------------------------------------------------

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

    # --- entering nodes ------------------------------------------------------------------------

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

    def _timeout(self, node: object) -> float:
        t = getattr(node, "timeout_s", None)
        return float(t) if t else self.plan.settings.timeout_s

    def _enter_menu(
        self, name: str, node: MenuNode, rejected: frozenset[str] = frozenset()
    ) -> None:
        prompt = [self._template(node.prompt)]
        reprompt = [Say(node.reprompt, not has_fields(node.reprompt))] if node.reprompt else prompt
        # The plan's vocabulary first: the decoder prompt has a budget and these are the words
        # Whisper gets wrong without help ("PIN" -> "opinion"); then this menu's options.
        hints = tuple(dict.fromkeys([*self.plan.vocabulary, *(o.name for o in node.options)]))
        listen = Listen(timeout_s=self._timeout(node), dtmf_max_digits=1, hints=hints)
        self._listen_now(_Wait("menu", name, prompt, reprompt, listen, rejected=rejected))

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

    # --- custom actions ------------------------------------------------------------------------

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
            elif kind == "followup" and isinstance(ev.get("name"), str):
                target = ev["name"]
                if target in self.plan.nodes or target in self.f.builtin:
                    next_node = target
                else:
                    log.warning("action %s asked for unknown node %r", node.action, target)
        for text in result.messages:
            self._say(text, static=False)
        self._go(next_node)

    # --- input handling ------------------------------------------------------------------------

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

    def _succeeded(self) -> None:
        self.failures = 0

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

    def _candidates(
        self, menu_name: str, menu: MenuNode, text: str
    ) -> tuple[list[tuple[str, float]], dict[str, Any]]:
        """Menu options, global intents and FAQ answers for ``text``, one probability scale.

        The menu's classifier was built with the global intents (and a small FAQ) as extra
        labels, so they compete on the same calibrated scale. A large FAQ keeps its own search
        and competes with its score; the returned dict maps such a candidate to its entry.
        """
        ranked = ranked_of(self.f.menu_matchers[menu_name].classify(text))
        extra: dict[str, Any] = {}
        kb = self.plan.knowledge_base
        if menu.knowledge_base and self.f.faq is not None and kb is not None:
            if not self.f.faq_in_menus:
                hit = self.f.faq.best(text)
                if hit is not None and hit[1] >= kb.threshold:
                    name = FAQ_PREFIX + "search"
                    extra[name] = hit[0]
                    ranked.append((name, float(hit[1])))
        elif any(n.startswith(FAQ_PREFIX) for n, _ in ranked):
            ranked = [(n, p) for n, p in ranked if not n.startswith(FAQ_PREFIX)]
        ranked.sort(key=lambda c: -c[1])
        return ranked, extra

    def _best_option(
        self,
        menu_name: str,
        menu: MenuNode,
        ev: CallerInput,
        rejected: frozenset[str] = frozenset(),
        ranked: list[tuple[str, float]] | None = None,
    ) -> bool:
        """Route a menu input; False when nothing fits (the caller gets the no-match policy).

        The decision is :func:`ivr.engine.decide.decide` over calibrated candidates: accept,
        confirm one, disambiguate two, or (False) reprompt naming the likeliest options.
        """
        if ev.kind == "dtmf":
            key = ev.digits[:1]
            for opt in menu.options:
                if opt.dtmf == key:
                    self._choose(opt)
                    return True
            return self._global(ev)
        th = self.plan.settings.thresholds
        extra: dict[str, Any] = {}
        if ranked is None:
            ranked, extra = self._candidates(menu_name, menu, ev.text)
        d = decide(ranked, th, rejected)
        options = {o.name: o for o in menu.options}
        prob = dict(ranked)
        if not d.options or d.kind == "reprompt":
            self._suggest = tuple(n for n in d.options if n in options)
            return False
        top = d.options[0]
        self.intent_confidence = round(float(prob[top]), 3)
        if top not in options:
            # A global intent or an FAQ answer: cheap to act on and distinctive, so the confirm
            # band is enough; below it, ask again.
            if prob[top] < th.confirm:
                self._suggest = tuple(n for n in d.options if n in options)
                return False
            self._act(top, extra)
            return True
        if d.kind == "accept":
            self._choose(options[top])
            return True
        two = [options[n] for n in d.options if n in options]
        if d.kind == "disambiguate" and len(two) == 2:
            self._ask_which(menu_name, menu, (two[0], two[1]), rejected, ranked)
            return True
        if prob[top] >= th.confirm or d.kind == "confirm":
            self._ask_confirm(menu_name, menu, options[top], rejected, ranked)
            return True
        self._suggest = tuple(n for n in d.options if n in options)
        return False

    def _act(self, name: str, extra: dict[str, Any]) -> None:
        """Do what a non-option candidate (global intent, FAQ answer) means."""
        if name.startswith(GLOBAL_PREFIX):
            self._do_global(name[len(GLOBAL_PREFIX):])
            return
        kb = self.plan.knowledge_base
        assert kb is not None and name.startswith(FAQ_PREFIX)
        entry = extra.get(name)
        suffix = name[len(FAQ_PREFIX):]
        if entry is None and suffix.isdigit():
            entry = kb.entries[int(suffix)]
        elif entry is None and self.f.faq is not None:  # a large FAQ's own search, redone
            hit = self.f.faq.best(self.last_text)
            entry = hit[0] if hit is not None else None
        if entry is None:
            raise RuntimeError(f"FAQ candidate {name!r} has no entry")
        self._succeeded()
        self.intent = f"faq:{getattr(entry, 'id', None) or 'answer'}"
        self.kb_answers.append(self.intent[4:])
        self._say(entry.answer)
        self.wait = None
        self._go(kb.then)

    def _ask_confirm(
        self,
        menu_name: str,
        menu: MenuNode,
        opt: Option,
        rejected: frozenset[str],
        ranked: list[tuple[str, float]],
    ) -> None:
        self.options_tried.append(opt.name)
        say = self._template(self.plan.settings.confirm_intent, option=opt.name)
        listen = Listen(
            timeout_s=self._timeout(menu), dtmf_max_digits=1, hints=("yes", "no", opt.name)
        )
        self._listen_now(
            _Wait("confirm_intent", menu_name, [say], [say], listen, option=opt, value=ranked,
                  rejected=rejected)
        )

    def _ask_which(
        self,
        menu_name: str,
        menu: MenuNode,
        two: tuple[Option, Option],
        rejected: frozenset[str],
        ranked: list[tuple[str, float]],
    ) -> None:
        say = self._template(
            self.plan.settings.disambiguate_intent, first=two[0].name, second=two[1].name
        )
        listen = Listen(
            timeout_s=self._timeout(menu), dtmf_max_digits=1,
            hints=(two[0].name, two[1].name, "the first one", "the second one"),
        )
        self._listen_now(
            _Wait("disambiguate", menu_name, [say], [say], listen, options=two, value=ranked,
                  rejected=rejected)
        )

    def _choose(self, opt: Option) -> None:
        self._succeeded()
        if not self.options_tried or self.options_tried[-1] != opt.name:
            self.options_tried.append(opt.name)
        self.intent = opt.intent_name
        self.reason = "menu"
        if opt.transfer is not None:
            self._transfer(opt.transfer, None)
        else:
            assert opt.go is not None
            self._go(opt.go)

    def _in_menu(self, ev: CallerInput) -> None:
        assert self.wait is not None
        node = self.f.node(self.wait.node)
        assert isinstance(node, MenuNode)
        if not self._best_option(self.wait.node, node, ev, self.wait.rejected):
            self._no_match()

    def _yes_no(self, ev: CallerInput) -> bool | None:
        if ev.kind == "dtmf":
            return {"1": True, "2": False}.get(ev.digits[:1])
        return parse_yes_no(ev.text)

    def _after_rejection(self, ev: CallerInput, rejected: frozenset[str]) -> None:
        """The caller said no to what we offered: never offer it again in this turn.

        "No, I want to change my PIN" is a fresh answer; a bare "no" gets the next likely
        option (asked, never acted on silently) or a request to rephrase.
        """
        assert self.wait is not None
        menu_name = self.wait.node
        node = self.f.node(menu_name)
        assert isinstance(node, MenuNode)
        ranked: list[tuple[str, float]] = list(self.wait.value or [])
        if ev.kind == "speech" and _has_more_than_no(ev.text):
            if self._best_option(menu_name, node, ev, rejected):
                return
        else:
            th = self.plan.settings.thresholds
            options = {o.name: o for o in node.options}
            # Bayes: once the caller excluded some candidates, the others share their mass.
            left = 1.0 - sum(p for n, p in ranked if n in rejected)
            live = [
                (n, min(1.0, p / max(left, 1e-6)))
                for n, p in ranked
                if n in options and n not in rejected
            ]
            nxt = decide(live, th, rejected)
            if nxt.kind != "reprompt" and nxt.options:
                self._say("Okay.")
                if nxt.kind == "disambiguate":
                    a, b = nxt.options[:2]
                    self._ask_which(menu_name, node, (options[a], options[b]), rejected, ranked)
                else:
                    self._ask_confirm(menu_name, node, options[nxt.options[0]], rejected, ranked)
                return
        self._say("Okay.")
        self._suggest = ()
        self._enter_menu(menu_name, node, rejected)

    def _in_confirm_intent(self, ev: CallerInput) -> None:
        assert self.wait is not None and self.wait.option is not None
        yn = self._yes_no(ev)
        menu_name, option = self.wait.node, self.wait.option
        node = self.f.node(menu_name)
        assert isinstance(node, MenuNode)
        if yn is True:
            self._choose(option)
        elif yn is False:
            self.options_rejected.append(option.name)
            self._after_rejection(ev, self.wait.rejected | {option.name})
        elif not self._best_option(menu_name, node, ev, self.wait.rejected):
            self._no_match()

    def _in_disambiguate(self, ev: CallerInput) -> None:
        """"Is it A, or B?": a key (1/2), "the first/second one", an option's name, yes/no."""
        assert self.wait is not None and len(self.wait.options) == 2
        menu_name, two = self.wait.node, self.wait.options
        node = self.f.node(menu_name)
        assert isinstance(node, MenuNode)
        pick: int | None = None
        if ev.kind == "dtmf":
            pick = {"1": 0, "2": 1}.get(ev.digits[:1])
        else:
            pick = parse_choice(ev.text, [o.name for o in two])
        if pick is not None:
            self._choose(two[pick])
            return
        yn = self._yes_no(ev) if ev.kind == "speech" else None
        if yn is False and not _has_more_than_no(ev.text):
            self._after_rejection(ev, self.wait.rejected | {two[0].name, two[1].name})
            return
        if yn is True and not _has_more_than_no(ev.text):
            self._choose(two[0])  # "yes" to "A, or B?": the likelier one, which was said first
            return
        if ev.kind == "speech":
            # A rephrase: if it now clearly favours one of the two, take it; else start over.
            ranked, _ = self._candidates(menu_name, node, ev.text)
            prob = dict(ranked)
            pa, pb = prob.get(two[0].name, 0.0), prob.get(two[1].name, 0.0)
            th = self.plan.settings.thresholds
            if max(pa, pb) >= th.disambiguate and max(pa, pb) >= 2 * min(pa, pb):
                self._choose(two[0] if pa >= pb else two[1])
                return
            if self._best_option(menu_name, node, ev, self.wait.rejected, ranked):
                return
        self._no_match()

    def _in_question(self, ev: CallerInput) -> None:
        assert self.wait is not None
        node = self.f.node(self.wait.node)
        assert isinstance(node, QuestionNode)
        yn = self._yes_no(ev)
        if yn is not None:
            self._succeeded()
            self._go(node.yes if yn else node.no)
            return
        if self._global(ev):
            return
        # "Anything else?" -- "my refund": answer the question the caller actually asked.
        target = self.f.node(node.yes)
        if ev.kind == "speech" and isinstance(target, MenuNode):
            if not self.history or self.history[-1] != node.yes:
                self.history.append(node.yes)
            if self._best_option(node.yes, target, ev):
                return
            if self.history and self.history[-1] == node.yes:
                self.history.pop()
        self._no_match()

    # --- slots ---------------------------------------------------------------------------------

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

    # --- failures ------------------------------------------------------------------------------

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

    # --- taking a turn back (issue 12: commit early, roll back safely) --------------------------

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

def _has_more_than_no(text: str) -> bool:
    """ "no" / "no thanks" / "nope, not that" are a bare rejection; more words are an answer."""
    filler = {"no", "nope", "nah", "not", "that", "thats", "it", "isn't", "isnt", "thanks",
              "thank", "you", "neither", "none", "wrong", "of", "them", "those", "yes", "yeah",
              "sorry", "um", "uh", "the", "one", "right"}
    words = [w for w in normalize(text).split() if w not in filler]
    return len(words) >= 2
