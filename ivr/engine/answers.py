"""Candidates beyond the menu's options: global intents and FAQ/knowledge-base answers on the
same probability scale as the options, and what acting on one of them means.

A part of :class:`ivr.engine.call.PlanCall` (see :mod:`ivr.engine.state`).
"""

from __future__ import annotations

import logging
from typing import Any

from ivr.dialplan.models import (
    MenuNode,
)
from ivr.engine.matching import FAQ_PREFIX, GLOBAL_PREFIX, ranked_of
from ivr.engine.state import CallCore

log = logging.getLogger("ivr.engine.call")


class Answers(CallCore):
    """This part of :class:`~ivr.engine.call.PlanCall` (see the module docstring)."""

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
