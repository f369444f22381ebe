"""Done-when fixtures for routing: the real engine's transfer, the real app and plan, and every
Twilio callback (<Dial action>, noun statusCallback, <Enqueue waitUrl/action>, <Gather>)
played signed, as Twilio makes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ivr.caller.transfer import Agents, Caller
from ivr.contact.profiles import MemoryDirectory, read_customers_csv
from ivr.contact.service import ContactCentre
from tests.redis_server import RedisServer, redis_server  # noqa: F401
from tests.routing_harness import Line

CSV = Path(__file__).parent / "fixtures" / "routing" / "customers.csv"
ANA, BEN, NEW = "+15555550142", "+15555550177", "+15555550123"
SENIOR, BILLING, GENERAL, ORDERS = ("+15555550109", "+15555550101", "+15555550100",
                                    "+15555550102")


@pytest.fixture
def line() -> Line:
    return Line(ContactCentre(directory=MemoryDirectory(read_customers_csv(CSV))))


def fill(line: Line, group: str, n: int | None = None) -> None:
    """Agents of ``group`` busy on other calls (seats held as a <Dial> holds them)."""
    cap = line.factory.plan.agents[group].capacity
    for i in range(n if n is not None else cap or 0):
        assert line.centre.occupancy.try_claim(group, f"CAbusy-{group}-{i}", cap, 3600)


def test_gold_caller_goes_to_senior(line: Line) -> None:
    seen: list[int] = []
    agents = Agents(during_call=lambda _: seen.append(line.centre.occupancy.busy("senior")))
    report = line.call("CAgold", ANA, "billing", agents)
    assert report.outcome == f"connected {SENIOR}"
    assert seen == [1]  # the answered leg holds a senior seat ...
    assert line.centre.occupancy.busy("senior") == 0  # ... freed by the completed callback
    assert report.events[:4] == ["dial-event initiated", "dial-event ringing",
                                 "dial-event in-progress", "dial-event completed"]


def test_standard_caller_goes_to_the_bots_group(line: Line) -> None:
    assert line.call("CAnew", NEW, "billing").outcome == f"connected {BILLING}"


def test_repeat_caller_about_same_issue_is_prioritised(line: Line) -> None:
    first = line.call("CAben1", BEN, "orders")
    assert first.outcome == f"connected {ORDERS}"
    second = line.call("CAben2", BEN, "orders")  # same unresolved issue, next day
    assert second.outcome == f"connected {SENIOR}"
    # and, everyone full, they go ahead of an earlier standard caller in the queue
    for g in line.factory.plan.agents:
        fill(line, g)
    from ivr.contact.queue import QueueEntry

    line.centre.queue.add(QueueEntry("CAearly", "senior", 0, 1.0))
    report = line.call("CAben3", BEN, "orders", caller=Caller(patience_s=15))
    assert "You are number 1 in the queue." in " ".join(report.says)


def test_billing_full_overflows_to_general(line: Line) -> None:
    fill(line, "billing")
    report = line.call("CAover", NEW, "billing")
    assert report.outcome == f"connected {GENERAL}"


def test_dial_no_answer_tries_next_group(line: Line) -> None:
    agents = Agents(behaviour={BILLING: "no-answer"})
    report = line.call("CAnoans", NEW, "billing", agents)
    assert report.dials == [(BILLING, "no-answer"), (GENERAL, "completed")]
    assert "dial-action no-answer" in report.events
    assert report.outcome == f"connected {GENERAL}"
    assert line.centre.occupancy.busy("billing") == 0


def test_every_group_unanswered_queues_never_hangs_up(line: Line) -> None:
    agents = Agents(default="busy")
    report = line.call("CAbusy", NEW, "billing", agents, Caller(press="1", after_s=0))
    assert [d[0] for d in report.dials] == [BILLING, GENERAL]
    assert report.outcome == "hangup" and "call you back" in report.says[-1]
    assert [r.call_sid for r in line.centre.callbacks.pending()] == ["CAbusy"]


def test_everyone_full_queue_position_callback_stored(line: Line) -> None:
    for g in line.factory.plan.agents:
        fill(line, g)
    report = line.call("CAfull", BEN, "billing", caller=Caller(press="1", after_s=120))
    said = " ".join(report.says)
    assert "You are number 1 in the queue. The expected wait is about" in said
    assert "press 1 or say call me back" in said  # offered after max_wait_s (120 s)
    assert report.queued_s >= 120 and report.events[-2:] == ["gather", "queue-action leave"]
    assert report.outcome == "hangup" and "We will call you back" in report.says[-1]
    [req] = line.centre.callbacks.pending()
    assert (req.number, req.group, req.intent, req.call_sid) == (BEN, "billing", "billing",
                                                                 "CAfull")
    assert line.centre.queue.get("CAfull") is None  # left our queue


def test_queued_caller_leaves_for_a_freed_seat(line: Line) -> None:
    for g in line.factory.plan.agents:
        fill(line, g)
    gave_up = line.call("CAwait", "+15555550131", "billing", caller=Caller(patience_s=5))
    assert gave_up.outcome == "caller_hangup" and line.centre.queue.get("CAwait") is None

    def free_a_billing_seat(poll: int) -> None:
        if poll == 1:
            line.centre.occupancy.release("billing", "CAbusy-billing-0")

    report = line.call("CAwait2", "+15555550132", "billing",
                       caller=Caller(patience_s=300, on_wait=free_a_billing_seat))
    assert report.events.count("wait") == 2 and "queue-action leave" in report.events
    assert report.outcome == f"connected {BILLING}"


def test_priority_caller_is_served_first(line: Line) -> None:
    for g in line.factory.plan.agents:
        fill(line, g)
    from ivr.contact.queue import QueueEntry

    line.centre.queue.add(QueueEntry("CAearlier", "senior", 0, 1.0))  # waiting already
    first_poll: list[str] = []

    def free_seat(poll: int) -> None:
        if poll == 0:
            line.centre.occupancy.release("senior", "CAbusy-senior-0")
            first_poll.append("freed")

    report = line.call("CAgoldq", ANA, "billing", caller=Caller(on_wait=free_seat))
    assert report.outcome == f"connected {SENIOR}"  # gold (priority 20) did not wait behind
    assert [e.call_sid for e in line.centre.queue.waiting("senior")] == ["CAearlier"]


def test_taskrouter_task_carries_routing_attributes(tmp_path: Path) -> None:
    from tests.routing_harness import PLAN, write_plan

    plan = write_plan(tmp_path, PLAN.read_text().replace(
        'number: "+15555550109"', "workflow_sid: WW0123456789abcdef0123456789abcdef"))
    line = Line(ContactCentre(directory=MemoryDirectory(read_customers_csv(CSV))),
                plan_path=plan)
    report = line.call("CAtask", ANA, "billing")
    assert report.outcome == "taskrouter WW0123456789abcdef0123456789abcdef"
    [task] = report.tasks
    assert task["priority"] == "20" and task["timeout"] == "120"
    attrs = json.loads(task["body"])
    assert attrs["tier"] == "gold" and attrs["intent"] == "billing"
    assert attrs["priority"] == 20 and attrs["routing_rule"] == "premium_to_senior"
    assert attrs["group"] == "senior" and attrs["call_sid"] == "CAtask"  # the transfer
    # path's own context (its renderer decides what the agent gets) is kept beside ours
    assert "call_sid" in attrs and attrs["from"] == ANA


def test_occupancy_right_with_two_processes_sharing_the_store(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    """Process A answers the action URL; every later callback reaches process B."""
    from ivr.contact.redis_state import RedisOccupancy, RedisQueue
    from ivr.store.redis_store import RedisStore

    redis_server.flush()
    directory = MemoryDirectory(read_customers_csv(CSV))

    def process() -> Line:
        centre = ContactCentre(occupancy=RedisOccupancy(redis_server.url),
                               queue=RedisQueue(redis_server.url), directory=directory)
        return Line(centre, store=RedisStore(redis_server.url))

    a, b = process(), process()
    seen: list[tuple[int, int]] = []
    agents = Agents(during_call=lambda _: seen.append(
        (a.centre.occupancy.busy("senior"), b.centre.occupancy.busy("senior"))))
    report = a.call("CA2p-gold", ANA, "billing", agents, then=b)
    assert report.outcome == f"connected {SENIOR}"
    assert seen == [(1, 1)]  # both processes see the answered seat ...
    assert a.centre.occupancy.busy("senior") == 0  # ... and B's completed callback freed it
    for i in range(3):  # billing's three seats taken through B (Dial sent, agent talking)
        assert b.centre.occupancy.try_claim("billing", f"CAb{i}", 3, 3600)
    report = a.call("CA2p-over", NEW, "billing", then=b)
    assert report.outcome == f"connected {GENERAL}"  # A saw billing full: overflow
    unanswered = a.call("CA2p-noans", "+15555550133", "orders",
                        Agents(behaviour={ORDERS: "no-answer"}), then=b)
    assert unanswered.dials == [(ORDERS, "no-answer"), (GENERAL, "completed")]
    assert a.centre.occupancy.busy("orders") == 0 and b.centre.occupancy.busy("general") == 0


def test_routed_dial_keeps_the_transfer_paths_rendering(line: Line) -> None:
    """The whisper and agent context come from the transfer path; routing adds the callbacks
    and drops the "nobody is available" hang-up (an unanswered dial goes to the next group)."""
    line.bot_part("CArender", NEW, "billing")
    params = {"CallSid": "CArender", "AccountSid": "AC1", "From": NEW, "To": "+15550000000",
              "CallStatus": "in-progress"}
    body = line.post("https://ivr.example.com/twilio/after-stream", params)
    assert 'action="https://ivr.example.com/twilio/contact/dial-done?group=billing' in body
    assert 'url="https://ivr.example.com/twilio/whisper?call=CArender"' in body
    assert 'statusCallbackEvent="initiated ringing answered completed"' in body
    assert "<Hangup" not in body and "nobody is available" not in body


def test_a_caller_ahead_holds_the_seat_but_a_vanished_one_does_not(line: Line) -> None:
    from ivr.contact.queue import QueueEntry

    for g in line.factory.plan.agents:
        fill(line, g)
    now = line.centre.clock()
    line.centre.queue.add(QueueEntry("CAahead", "billing", 50, 1.0, polled_at=now))

    def free(poll: int) -> None:
        if poll == 0:
            line.centre.occupancy.release("billing", "CAbusy-billing-0")

    held = line.call("CAbehind", "+15555550141", "billing", caller=Caller(patience_s=40,
                                                                           on_wait=free))
    assert held.outcome == "caller_hangup"  # the seat waited for the caller ahead
    # the caller ahead stops being polled (hung up, and the Enqueue action was lost) ...
    line.centre.queue.add(QueueEntry("CAghost", "billing", 60, 0.5, polled_at=now - 600))
    line.centre.queue.remove("CAahead")
    assert line.centre.occupancy.try_claim("billing", "CAbusy-billing-0", 3, 3600)  # full

    def free_again(poll: int) -> None:
        if poll == 0:
            line.centre.occupancy.release("billing", "CAbusy-billing-1")

    report = line.call("CAnext", "+15555550143", "billing",
                       caller=Caller(patience_s=40, on_wait=free_again))
    assert "queue-action leave" in report.events  # waited, then took the freed seat:
    assert report.outcome == f"connected {BILLING}"  # the vanished caller held nobody back


def test_new_arrival_does_not_jump_the_queue(line: Line) -> None:
    from ivr.contact.queue import QueueEntry

    fill(line, "billing", 2)  # one billing seat free ...
    fill(line, "general")
    line.centre.queue.add(QueueEntry("CAwaiting", "billing", 0, 1.0,
                                     polled_at=line.centre.clock()))  # ... but someone waits
    report = line.call("CAlate", "+15555550144", "billing", caller=Caller(patience_s=20))
    assert report.outcome == "caller_hangup" and "wait" in report.events
