"""Does occupancy-aware routing shorten waits? A discrete-event simulation of an hour of calls.

The simulated clock drives the *real* routing code: :func:`ivr.contact.rules.evaluate` (the
plan's rules over each caller's profile and history), :meth:`ContactCentre.place` (target
choice with :class:`MemoryOccupancy` seat claims) and :class:`MemoryQueue` (our serve order).
Only the agents and callers are simulated: Poisson arrivals, exponential service times per
intent, exponential patience (a caller who waits longer abandons).

Three policies on the same arrivals (same seeds):
- ``static``: every caller waits for the bot's group (no rules, no overflow, FIFO);
- ``occupancy``: rules + live occupancy + overflow, but no priority in the queue;
- ``full``: rules + occupancy + overflow + priority (what the server does).

Run: ``python bench/routing.py [--json] [--seeds 5] [--rate 200]``. Medians over seeds.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ivr.contact.occupancy import MemoryOccupancy  # noqa: E402
from ivr.contact.profiles import MemoryDirectory, MemoryHistory, Profile  # noqa: E402
from ivr.contact.queue import MemoryQueue, QueueEntry  # noqa: E402
from ivr.contact.rules import RouteSpec, evaluate  # noqa: E402
from ivr.contact.service import ContactCentre  # noqa: E402
from ivr.dialplan.loader import load_dialplan  # noqa: E402
from ivr.dialplan.models import Dialplan  # noqa: E402

PLAN = ROOT / "dialplans" / "contact_centre.yaml"
HOUR = 3600.0
START = datetime(2026, 11, 24, 14, 0, tzinfo=timezone.utc)  # Tuesday 09:00 New York
# intent: (share of calls, the bot's group, mean service time in s)
INTENTS = {
    "billing": (0.45, "billing", 240.0),
    "orders": (0.30, "orders", 180.0),
    "technical": (0.15, "tech", 420.0),
    "agent": (0.10, "general", 150.0),
}
PATIENCE_S = 180.0
POOL = 1500  # distinct caller numbers (some call twice about the same thing: repeat callers)
PREMIUM = 0.10


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    pos = (len(s) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


@dataclass
class Caller:
    sid: str
    number: str
    intent: str
    arrive: float
    service_s: float
    patience_s: float
    spec: RouteSpec | None = None
    waited: float | None = None


@dataclass
class Sim:
    plan: Dialplan
    policy: str
    now: float = 0.0
    events: list[tuple[float, int, str, str]] = field(default_factory=list)
    seq: int = 0
    busy_s: dict[str, float] = field(default_factory=dict)
    decide_us: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.occupancy = MemoryOccupancy(clock=lambda: self.now)
        self.queue = MemoryQueue()
        self.centre = ContactCentre(occupancy=self.occupancy, queue=self.queue,
                                    directory=MemoryDirectory(), history=MemoryHistory(),
                                    clock=lambda: START.timestamp() + self.now)
        self.callers: dict[str, Caller] = {}
        self.seat_of: dict[str, str] = {}
        if self.policy == "static":
            agents = {n: g.model_copy(update={"overflow": []}) for n, g in self.plan.agents.items()}
            self.plan = self.plan.model_copy(update={"agents": agents, "routing": None})

    def at(self, t: float, kind: str, sid: str) -> None:
        self.seq += 1
        heapq.heappush(self.events, (t, self.seq, kind, sid))

    def clock(self) -> datetime:
        return START + timedelta(seconds=self.now)

    def arrive(self, c: Caller) -> None:
        self.callers[c.sid] = c
        group = INTENTS[c.intent][1]
        t0 = time.perf_counter()
        ctx = {"from": c.number, "intent": c.intent, "call_sid": c.sid}
        facts = self.centre.facts(self.plan, group, ctx, self.clock())
        spec = evaluate(self.plan, facts)
        if self.policy == "occupancy":
            spec = replace(spec, priority=0)
        c.spec = spec
        choice = self.centre.place(self.plan, spec, c.sid, self.clock())
        self.decide_us.append((time.perf_counter() - t0) * 1e6)
        self.centre.remember(c.number, c.intent, f"transfer: {group}", c.sid)
        if choice.kind == "dial" and choice.group:
            self.start_service(c, choice.group)
        else:
            q = choice.group or group
            self.queue.add(QueueEntry(c.sid, q, spec.priority, self.centre.clock(), c.number,
                                      c.intent, skills=spec.skills))
            self.at(self.now + c.patience_s, "abandon", c.sid)

    def start_service(self, c: Caller, group: str) -> None:
        c.waited = self.now - c.arrive
        self.occupancy.hold(group, c.sid, c.service_s + 1)
        self.seat_of[c.sid] = group
        self.busy_s[group] = self.busy_s.get(group, 0.0) + c.service_s
        self.at(self.now + c.service_s, "depart", c.sid)

    def depart(self, sid: str) -> None:
        self.occupancy.release(self.seat_of.pop(sid), sid)
        self.serve_queues()

    def serve_queues(self) -> None:
        """What the waitUrl polls do once a seat frees: each waiting caller, in serve order,
        asks :meth:`ContactCentre.seat_for_waiting` (the server's own rule)."""
        waiting = sorted((e for q in self.queue.groups() for e in self.queue.waiting(q)),
                         key=lambda e: (-e.priority, e.enqueued_at, e.call_sid))
        for entry in waiting:
            choice = self.centre.seat_for_waiting(self.plan, entry, self.clock())
            if choice is not None and choice.group is not None:
                self.queue.remove(entry.call_sid)
                self.start_service(self.callers[entry.call_sid], choice.group)

    def abandon(self, sid: str) -> None:
        if self.queue.remove(sid) is not None:
            self.callers[sid].waited = None  # gave up

    def run(self, arrivals: list[Caller]) -> dict[str, object]:
        for c in arrivals:
            self.at(c.arrive, "arrive", c.sid)
        by_sid = {c.sid: c for c in arrivals}
        while self.events:
            t, _, kind, sid = heapq.heappop(self.events)
            self.now = t
            if kind == "arrive":
                self.arrive(by_sid[sid])
            elif kind == "depart":
                self.depart(sid)
            elif kind == "abandon":
                self.abandon(sid)
        served = [c for c in arrivals if c.waited is not None]
        waits = [c.waited for c in served if c.waited is not None]
        prio = [c for c in arrivals if c.spec is not None and
                evaluate_priority(self.plan, c) > 0]
        prio_waits = [c.waited if c.waited is not None else c.patience_s for c in prio]
        span = max(HOUR, self.now)
        return {
            "calls": len(arrivals),
            "mean_wait_s": statistics.fmean(waits) if waits else 0.0,
            "p90_wait_s": percentile(waits, 90),
            "abandoned": 1 - len(served) / len(arrivals),
            "priority_callers": len(prio),
            "priority_p90_wait_s": percentile(prio_waits, 90),
            "occupancy": {g: self.busy_s.get(g, 0.0) / ((a.capacity or 1) * span)
                          for g, a in self.plan.agents.items()},
            "decide_us_median": statistics.median(self.decide_us),
        }


def evaluate_priority(plan: Dialplan, c: Caller) -> int:
    """Whether the caller is one the full policy would prioritise (same set in every policy)."""
    return c.spec.priority if c.spec is not None and c.spec.rule else 0


def arrivals(rate_per_h: float, seed: int) -> tuple[list[Caller], list[Profile]]:
    rng = random.Random(seed)
    numbers = [f"+1555{rng.randrange(10**6, 10**7)}" for _ in range(POOL)]
    profiles = [Profile(n, tier=rng.choice(["gold", "platinum"])) for n in numbers
                if rng.random() < PREMIUM]
    names, weights = list(INTENTS), [v[0] for v in INTENTS.values()]
    out, t, i = [], 0.0, 0
    while True:
        t += rng.expovariate(rate_per_h / HOUR)
        if t >= HOUR:
            return out, profiles
        intent = rng.choices(names, weights)[0]
        out.append(Caller(f"CA{seed}-{i}", rng.choice(numbers), intent, t,
                          rng.expovariate(1 / INTENTS[intent][2]),
                          rng.expovariate(1 / PATIENCE_S)))
        i += 1


def run_policy(plan: Dialplan, policy: str, rate: float, seed: int) -> dict[str, object]:
    calls, profiles = arrivals(rate, seed)
    sim = Sim(plan, policy)
    for p in profiles:
        sim.centre.directory.add(p)  # type: ignore[attr-defined]
    result = sim.run([replace(c) for c in calls])
    if policy != "full":  # priority callers = the ones the full policy's rules prioritise
        full = Sim(plan, "full")
        for p in profiles:
            full.centre.directory.add(p)  # type: ignore[attr-defined]
        marked = {c.sid for c in full_marked(full, calls)}
        waits = [(c.waited if c.waited is not None else c.patience_s)
                 for c in sim.callers.values() if c.sid in marked]
        result["priority_callers"] = len(marked)
        result["priority_p90_wait_s"] = percentile(waits, 90)
    return result


def full_marked(full: Sim, calls: list[Caller]) -> list[Caller]:
    ran = [replace(c) for c in calls]
    full.run(ran)
    return [c for c in ran if c.spec is not None and c.spec.priority > 0]


def at_rate(plan: Dialplan, rate: float, seeds: int) -> dict[str, object]:
    per: dict[str, list[dict[str, object]]] = {p: [] for p in ("static", "occupancy", "full")}
    for seed in range(seeds):
        for policy in per:
            per[policy].append(run_policy(plan, policy, rate, seed))

    def med(policy: str, key: str) -> float:
        return round(statistics.median(float(r[key]) for r in per[policy]), 3)  # type: ignore[arg-type]

    out: dict[str, object] = {"rate_per_h": rate}
    for policy in per:
        occ = {g: round(statistics.median(float(r["occupancy"][g])  # type: ignore[index]
                                          for r in per[policy]), 3) for g in plan.agents}
        out[policy] = {k: med(policy, k) for k in (
            "calls", "mean_wait_s", "p90_wait_s", "abandoned", "priority_callers",
            "priority_p90_wait_s", "decide_us_median")} | {"occupancy": occ}
    s, f = out["static"], out["full"]
    assert isinstance(s, dict) and isinstance(f, dict)
    out["p90_wait_ratio_full_vs_static"] = (round(f["p90_wait_s"] / s["p90_wait_s"], 3)
                                            if s["p90_wait_s"] else None)
    out["abandon_ratio_full_vs_static"] = (round(f["abandoned"] / s["abandoned"], 3)
                                           if s["abandoned"] else None)
    for policy in per:
        r = out[policy]
        assert isinstance(r, dict)
        print(f"{rate:5.0f}/h {policy:>9}: mean wait {r['mean_wait_s']:6.1f}s  p90 "
              f"{r['p90_wait_s']:6.1f}s  abandoned {100 * r['abandoned']:5.1f}%  priority p90 "
              f"{r['priority_p90_wait_s']:6.1f}s  occupancy {r['occupancy']}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--rates", default="200,280", help="calls per hour, comma-separated")
    args = ap.parse_args()
    plan = load_dialplan(PLAN)
    t0 = time.perf_counter()
    summary: dict[str, object] = {
        "bench": "routing", "plan": str(PLAN.relative_to(ROOT)), "seeds": args.seeds,
        "seats": {g: a.capacity for g, a in plan.agents.items()},
        "patience_mean_s": PATIENCE_S, "hour_s": HOUR,
        "loads": [at_rate(plan, float(r), args.seeds) for r in args.rates.split(",")],
    }
    summary["elapsed_s"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
