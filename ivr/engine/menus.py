"""Menus: the caller's answer to a menu, "did you mean...?" and "A, or B?", and the
yes/no question; the decision policy (:mod:`ivr.engine.decide`) picks accept/confirm/ask/reprompt.

A part of :class:`ivr.engine.call.PlanCall` (see :mod:`ivr.engine.state`).
"""

from __future__ import annotations

import logging
from typing import Any

from ivr.dialog import CallerInput, Listen, Say
from ivr.dialplan.models import (
    MenuNode,
    Option,
    QuestionNode,
)
from ivr.engine.decide import decide, parse_choice
from ivr.engine.speech import has_fields
from ivr.engine.state import CallCore, _Wait
from ivr.nlu.lexical import normalize

log = logging.getLogger("ivr.engine.call")


class MenuTurns(CallCore):
    """This part of :class:`~ivr.engine.call.PlanCall` (see the module docstring)."""

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


def _has_more_than_no(text: str) -> bool:
    """ "no" / "no thanks" / "nope, not that" are a bare rejection; more words are an answer."""
    filler = {"no", "nope", "nah", "not", "that", "thats", "it", "isn't", "isnt", "thanks",
              "thank", "you", "neither", "none", "wrong", "of", "them", "those", "yes", "yeah",
              "sorry", "um", "uh", "the", "one", "right"}
    words = [w for w in normalize(text).split() if w not in filler]
    return len(words) >= 2
