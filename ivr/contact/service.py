"""``ContactCentre``: the routing state a server shares across processes, and the one place a
transfer is turned into a routed choice (facts -> rules -> occupancy -> seat claim)."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ivr.contact.choice import Choice, choose
from ivr.contact.occupancy import MemoryOccupancy, Occupancy
from ivr.contact.profiles import (
    Directory,
    History,
    MemoryDirectory,
    MemoryHistory,
    PastCall,
    Profile,
    is_repeat,
    last_unresolved,
    normalise_number,
)
from ivr.contact.queue import (
    STALE_S,
    CallbackStore,
    CallQueue,
    MemoryCallbacks,
    MemoryQueue,
    QueueEntry,
)
from ivr.contact.rules import RouteFacts, RouteSpec, evaluate
from ivr.dialplan.models import Dialplan

log = logging.getLogger(__name__)

RING_MARGIN_S = 15.0
"""A ringing seat is held this much longer than the <Dial> timeout before it frees itself."""
TALK_TTL_S = 4 * 3600.0
"""An answered seat frees itself after this long if the completed callback never comes."""


@dataclass
class ContactCentre:
    """Occupancy, queue, callbacks, directory and history behind their protocols; memory
    implementations by default (one process), the shared store's for several."""

    occupancy: Occupancy = field(default_factory=MemoryOccupancy)
    queue: CallQueue = field(default_factory=MemoryQueue)
    callbacks: CallbackStore = field(default_factory=MemoryCallbacks)
    directory: Directory = field(default_factory=MemoryDirectory)
    history: History = field(default_factory=MemoryHistory)
    clock: Callable[[], float] = time.time
    region: str = "US"
    _profiles: OrderedDict[str, Profile | None] = field(default_factory=OrderedDict,
                                                        repr=False)

    def profile(self, plan: Dialplan, context: Mapping[str, Any],
                directory: Directory | None = None) -> Profile | None:
        """The caller's profile: by the plan's account slot once filled, else by number;
        looked up once per call (cached by CallSid)."""
        source = directory or self.directory
        call_sid = str(context.get("call_sid") or "")
        slots = context.get("slots")
        acct_slot = plan.routing.account_slot if plan.routing else None
        account = slots.get(acct_slot) if acct_slot and isinstance(slots, Mapping) else None
        by_account = getattr(source, "by_account", None)
        if account and callable(by_account):
            found = by_account(str(account))
            if isinstance(found, Profile):
                return found
        if call_sid and call_sid in self._profiles:
            return self._profiles[call_sid]
        number = normalise_number(str(context.get("from") or ""), self.region)
        profile = source.lookup(number) if number else None
        if call_sid:
            self._profiles[call_sid] = profile
            while len(self._profiles) > 10_000:
                self._profiles.popitem(last=False)
        return profile

    def facts(self, plan: Dialplan, group: str, context: Mapping[str, Any],
              now: datetime | None = None, directory: Directory | None = None) -> RouteFacts:
        """Everything the rules may look at. ``context`` is the engine's transfer context
        (``call_sid``, ``from``, ``intent``, ``reason``, ``slots``); this call's own history
        entry is never counted as a repeat."""
        number = normalise_number(str(context.get("from") or ""), self.region)
        profile = self.profile(plan, context, directory)
        intent = context.get("intent")
        intent = intent if isinstance(intent, str) else None
        days = plan.routing.repeat_within_days if plan.routing else 7
        this_call = str(context.get("call_sid") or "")
        return RouteFacts(
            group=group,
            intent=intent,
            frustrated=context.get("reason") == "frustration",
            profile=profile,
            repeat=is_repeat(self.history, number, intent, self.clock(), days, this_call),
            now=now or datetime.now(timezone.utc),
            last_intent=last_unresolved(self.history, number, self.clock(), days, this_call),
        )

    def remember(self, number: str, intent: str | None, outcome: str,
                 call_sid: str = "") -> None:
        """Add this call to the caller's history (a no-op where history is the records DB)."""
        n = normalise_number(number, self.region)
        if n and intent:
            self.history.add(PastCall(n, intent, outcome, self.clock(), call_sid))

    def decide(self, plan: Dialplan, facts: RouteFacts, call_sid: str,
               tried: Collection[str] = ()) -> tuple[RouteSpec, Choice]:
        """Rules, then a group with a seat we could actually claim."""
        spec = evaluate(plan, facts)
        return spec, self.place(plan, spec, call_sid, facts.now, tried)

    def place(self, plan: Dialplan, spec: RouteSpec, call_sid: str, now: datetime | None,
              tried: Collection[str] = (),
              mine: tuple[int, float, str] | None = None) -> Choice:
        """Choose for ``spec`` and claim the seat (atomic in the store). A seat another process
        took first, or one a caller ahead of us in our queues is waiting for (no queue
        jumping), counts as full and the choice is made again. ``mine`` is this caller's place
        in serve order (default: a new arrival at ``spec.priority``)."""
        key = mine or (-spec.priority, self.clock(), call_sid)
        full: set[str] = set()

        def busy(name: str) -> int:
            cap = plan.agents[name].capacity
            return cap if name in full and cap is not None else self.occupancy.busy(name)

        when = now or datetime.now(timezone.utc)
        for _ in range(len(plan.agents) + 1):
            choice = choose(plan, spec, busy, when, tried)
            if choice.kind != "dial" or choice.group is None:
                return choice
            g = plan.agents[choice.group]
            if g.capacity is not None and self._waiting_ahead(plan, choice.group, key):
                full.add(choice.group)
                continue
            if self.occupancy.try_claim(choice.group, call_sid, g.capacity,
                                        g.timeout_s + RING_MARGIN_S):
                return choice
            full.add(choice.group)
        return Choice("queue", spec.prefer[0] if spec.prefer else spec.group,
                      "no seat could be claimed")

    def _waiting_ahead(self, plan: Dialplan, group: str, mine: tuple[int, float, str]) -> bool:
        """Whether a caller ahead of ``mine`` in serve order (priority, then arrival, across
        every queue) waits for a queue whose group or overflow is ``group``."""
        cutoff = self.clock() - STALE_S
        for q in self.queue.groups():
            reach = {q, *(plan.agents[q].overflow if q in plan.agents else [])}
            if group not in reach:
                continue
            for other in self.queue.waiting(q):
                if (-other.priority, other.enqueued_at, other.call_sid) >= mine:
                    break
                gone = 0 < other.polled_at < cutoff
                if other.call_sid != mine[2] and group not in other.tried and not gone:
                    return True
        return False

    def seat_for_waiting(self, plan: Dialplan, entry: QueueEntry,
                         now: datetime | None) -> Choice | None:
        """A free seat (claimed) for a queued caller, or None: no seat, or a caller ahead of
        them could take it (they go first)."""
        spec = RouteSpec(entry.group, None, (entry.group,), entry.skills, entry.priority)
        placed = self.place(plan, spec, entry.call_sid, now, entry.tried,
                            (-entry.priority, entry.enqueued_at, entry.call_sid))
        return placed if placed.kind == "dial" else None

    def seat_ttl(self, plan: Dialplan, group: str) -> float:
        g = plan.agents.get(group)
        return (g.timeout_s if g else 30) + RING_MARGIN_S
