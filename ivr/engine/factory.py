"""``build_factory``: everything expensive about a plan, done once when it loads.

Intent classifiers (one per menu, one for the global intents), the FAQ index, custom-action
runners and agent targets are built here and shared read-only by every call the factory makes;
a call only holds its own small state (:mod:`ivr.engine.call`).
"""

from __future__ import annotations

import logging
import string
from collections.abc import Callable, Iterator
from datetime import date, datetime, timezone
from typing import Literal

from ivr.actions.runner import ActionRunner, InProcessRunner, WebhookRunner
from ivr.dialog import AgentTarget, CallDialog, CallInfo
from ivr.dialplan.checks import GLOBAL_NAMES
from ivr.dialplan.models import (
    AgentGroup,
    Dialplan,
    HangupNode,
    MenuNode,
    Node,
    QuestionNode,
    TransferNode,
)
from ivr.engine.hours import OpeningHours
from ivr.engine.matching import (
    FAQ_PREFIX,
    GLOBAL_PREFIX,
    FaqFactory,
    FaqSearcher,
    IntentMatcher,
    MatcherFactory,
    Repaired,
    WholeUtterance,
    nlu_faq,
    nlu_matcher,
)
from ivr.engine.speech import has_fields, render

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
Noised = Literal["off", "cached", "build"]
"""ASR-noised examples (:mod:`ivr.nlu.noised`): ``cached`` uses the transcripts earlier builds
left in the cache (never speaks at start-up), ``build`` speaks the missing ones first (progress
bar; what ``ivr eval`` does), ``off`` ignores them."""
MAX_FAQ_AS_LABELS = 200
"""Up to this many FAQ entries join the menus' classifiers; a bigger FAQ keeps its own search."""


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class PlanFactory:
    """A loaded plan ready to take calls (implements :class:`ivr.dialog.DialogFactory`)."""

    def __init__(
        self,
        plan: Dialplan,
        *,
        clock: Clock | None = None,
        matcher_factory: MatcherFactory | None = None,
        faq_factory: FaqFactory | None = None,
        noised: Noised = "cached",
        asr_model: str = "",
    ) -> None:
        self.plan = plan
        self.clock: Clock = clock or _utcnow
        make = matcher_factory or nlu_matcher
        gi = plan.global_intents
        global_examples = {
            n: list(getattr(gi, n).examples) for n in GLOBAL_NAMES if getattr(gi, n).examples
        }
        kb = plan.knowledge_base
        self.faq: FaqSearcher | None = None
        if kb is not None and kb.entries:
            self.faq = (faq_factory or nlu_faq)(kb.entries)
        # A small FAQ becomes labels of the menus that consult it, like the global intents:
        # then "answer it, route it, or do a global thing?" is one calibrated choice.
        self.faq_in_menus = kb is not None and 0 < len(kb.entries) <= MAX_FAQ_AS_LABELS
        self.menu_matchers: dict[str, IntentMatcher] = {}
        for name, node in plan.nodes.items():
            if not isinstance(node, MenuNode):
                continue
            labels: dict[str, list[str]] = {o.name: [o.name, *o.examples] for o in node.options}
            for g, ex in global_examples.items():
                labels.setdefault(GLOBAL_PREFIX + g, ex)
            for faq, questions in faq_labels(plan, node).items():
                labels.setdefault(faq, questions)
            heard = _heard(plan, node, noised, asr_model) if matcher_factory is None else {}
            inner = nlu_matcher(labels, heard) if heard else make(labels)
            if plan.vocabulary:
                inner = Repaired(inner, plan.vocabulary)
            self.menu_matchers[name] = WholeUtterance(inner, labels, GLOBAL_PREFIX)
        self.global_matcher: IntentMatcher | None = (
            WholeUtterance(make(global_examples), global_examples) if global_examples else None
        )
        self.global_keys = {getattr(gi, n).dtmf: n for n in GLOBAL_NAMES if getattr(gi, n).dtmf}
        self.hours = OpeningHours(plan.hours) if plan.hours is not None else None
        self.runners: dict[str, ActionRunner] = {}
        for name, adef in plan.actions.items():
            cls = plan.action_class(name)
            if cls is not None:
                self.runners[name] = InProcessRunner(cls)
            elif adef.url is not None:
                self.runners[name] = WebhookRunner(
                    adef.url, adef.action_name or name, adef.timeout_s
                )
        self.targets = {name: _target(name, g) for name, g in plan.agents.items()}
        self.builtin: dict[str, Node] = {
            "goodbye": HangupNode(type="hangup", say=plan.settings.goodbye),
            "agent": TransferNode(type="transfer", group=plan.default_group),
            "followup": QuestionNode(
                type="question",
                prompt=plan.settings.followup.prompt,
                yes=plan.settings.followup.yes or plan.start,
                no=plan.settings.followup.no,
            ),
        }

    # --- DialogFactory -------------------------------------------------------------------------

    def new_call(self, info: CallInfo) -> CallDialog:
        from ivr.engine.call import PlanCall

        return PlanCall(self, info)

    def agent_group(self, name: str) -> AgentTarget:
        return self.targets[name]

    @property
    def default_group(self) -> str:
        return self.plan.default_group

    def asr_vocabulary(self) -> tuple[str, ...]:
        words: list[str] = list(self.plan.vocabulary)
        for node in self.plan.nodes.values():
            if isinstance(node, MenuNode):
                words.extend(o.name for o in node.options)
        words.extend(self.plan.agents)
        return tuple(dict.fromkeys(words))

    # --- helpers for calls ---------------------------------------------------------------------

    def node(self, name: str) -> Node:
        found = self.plan.nodes.get(name)
        if found is not None:
            return found
        return self.builtin[name]

    def today(self) -> date:
        """Today's date where the business is (for "tomorrow" in a date slot)."""
        now = self.clock()
        return (now.astimezone(self.hours.zone) if self.hours is not None else now).date()

    def is_open(self) -> bool:
        return self.hours is None or self.hours.is_open(self.clock())

    def static_prompts(self) -> list[str]:
        """Every fixed line the plan can speak, for the TTS cache to render at startup."""
        return sorted({t for t in self._texts() if t and not has_fields(t)})

    def number_templates(self) -> list[str]:
        """The plan's per-call lines with every field filled by a number, as a read-back of an
        order number or an amount would be: the TTS renders their fixed lead ("I heard") at
        startup (``Speaker.prepare_lead``) so a caller's read-back starts without waiting for
        Piper. The numbers themselves are never rendered or kept."""
        s = self.plan.settings
        shared = (s.confirm_intent, s.disambiguate_intent, s.suggest_options, s.confirm_value)
        confirms = (getattr(n, "confirm", None) for n in self.plan.nodes.values())
        out = set()
        for t in (*self._texts(), *shared, *(c for c in confirms if isinstance(c, str))):
            if t and has_fields(t):
                names = [f for _, f, _, _ in string.Formatter().parse(t) if f]
                out.add(render(t, dict.fromkeys(names, "1 2 3 4 5 6")))
        return sorted(out)

    def _texts(self) -> Iterator[str]:
        p, s = self.plan, self.plan.settings
        if p.greeting:
            yield p.greeting
        yield from (
            s.invalid,
            s.retry_value,
            s.transfer_say,
            s.goodbye,
            s.error_say,
            s.followup.prompt,
            *s.no_input.say,
            *s.no_match.say,
        )
        for n in GLOBAL_NAMES:
            say = getattr(p.global_intents, n).say
            if say:
                yield say
        if p.hours is not None:
            yield from (p.hours.closed.say, p.hours.closed.transfer_say)
        if p.frustration is not None:
            yield p.frustration.say
        if p.knowledge_base is not None:
            yield from (e.answer for e in p.knowledge_base.entries)
        for a in p.actions.values():
            yield a.on_error.say
        for node in p.nodes.values():
            for key in ("prompt", "reprompt", "say", "invalid"):
                v = getattr(node, key, None)
                if isinstance(v, str):
                    yield v
            for key in ("no_input", "no_match"):
                pol = getattr(node, key, None)
                if pol is not None:
                    yield from pol.say


def faq_labels(plan: Dialplan, node: MenuNode) -> dict[str, list[str]]:
    """The FAQ entries that join this menu's classifier as labels (``faq:<index>``: its
    questions), when it consults a knowledge base of at most :data:`MAX_FAQ_AS_LABELS`."""
    kb = plan.knowledge_base
    if not node.knowledge_base or kb is None or not 0 < len(kb.entries) <= MAX_FAQ_AS_LABELS:
        return {}
    return {FAQ_PREFIX + str(i): list(e.questions) for i, e in enumerate(kb.entries)}


def noised_inputs(plan: Dialplan, node: MenuNode) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    """What a menu's ASR-noised copies are made of, and the hints they are decoded with: its
    options' examples and, when it consults a knowledge base small enough to join its
    classifier, the FAQ questions (a caller asks those aloud too).

    One definition for the server, its background build and ``ivr eval``, so all three find
    the same cache entries.
    """
    from ivr.nlu.noised import menu_hints

    examples = {o.name: list(o.examples) for o in node.options}
    for faq, questions in faq_labels(plan, node).items():
        examples.setdefault(faq, questions)
    hints = menu_hints(plan.vocabulary, [o.name for o in node.options], list(plan.agents))
    return examples, hints


def _heard(plan: Dialplan, node: MenuNode, noised: Noised, asr_model: str) -> dict[str, str]:
    """This menu's ASR-noised example transcripts (heard by ``asr_model``), as ``noised``
    allows."""
    if noised == "off":
        return {}
    from ivr.nlu.noised import heard_examples
    from ivr.nlu.spoken import bar

    examples, hints = noised_inputs(plan, node)
    heard = heard_examples(examples, hints, cached_only=noised == "cached", asr_model=asr_model,
                           progress=bar("speaking examples") if noised == "build" else None)
    if heard:
        log.info("%s: %d ASR-noised example transcripts (%s)", plan.name, len(heard), noised)
    return heard


def _target(name: str, g: AgentGroup) -> AgentTarget:
    """An agent group's one route as the plain data the TwiML route needs."""
    if g.number:
        return AgentTarget(name, "number", g.number, g.timeout_s)
    if g.sip:
        return AgentTarget(name, "sip", g.sip, g.timeout_s)
    if g.client:
        return AgentTarget(name, "client", g.client, g.timeout_s)
    assert g.workflow_sid is not None
    return AgentTarget(name, "taskrouter", g.workflow_sid, g.timeout_s)


def build_factory(
    plan: Dialplan,
    *,
    clock: Clock | None = None,
    matcher_factory: MatcherFactory | None = None,
    faq_factory: FaqFactory | None = None,
    noised: Noised = "cached",
    asr_model: str = "",
) -> PlanFactory:
    """Make the :class:`ivr.dialog.DialogFactory` for ``plan``.

    ``clock`` returns the current aware datetime (tests pin it for business hours);
    ``matcher_factory``/``faq_factory`` replace the intent classifiers and the FAQ search (tests
    inject deterministic ones); by default they are :mod:`ivr.nlu`'s models. Slot values are
    always parsed by :mod:`ivr.nlu.entities` (pure functions, no model).
    """
    return PlanFactory(plan, clock=clock, matcher_factory=matcher_factory, faq_factory=faq_factory,
                       noised=noised, asr_model=asr_model)
