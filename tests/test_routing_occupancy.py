"""Occupancy and our queue on a real Redis shared by several clients and processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from ivr.contact.queue import QueueEntry
from ivr.contact.redis_state import RedisOccupancy, RedisQueue

from .redis_server import RedisServer, redis_server  # noqa: F401


def test_last_seat_goes_to_one_process_only(redis_server: RedisServer) -> None:  # noqa: F811
    redis_server.flush()
    script = textwrap.dedent(f"""
        import sys
        from ivr.contact.redis_state import RedisOccupancy
        occ = RedisOccupancy({redis_server.url!r})
        won = sum(occ.try_claim("billing", f"{{sys.argv[1]}}-{{i}}", 5, 60) for i in range(40))
        print(won)
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, name], stdout=subprocess.PIPE,
                              text=True) for name in ("A", "B", "C")]
    won = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert sum(won) == 5  # 120 attempts on 5 seats from 3 processes: exactly 5 claimed
    assert RedisOccupancy(redis_server.url).busy("billing") == 5


def test_seats_expire_and_release_across_clients(redis_server: RedisServer) -> None:  # noqa: F811
    redis_server.flush()
    now = [1_000.0]
    a = RedisOccupancy(redis_server.url, clock=lambda: now[0])
    b = RedisOccupancy(redis_server.url, clock=lambda: now[0])
    assert a.try_claim("billing", "CA1", 1, 30) and not b.try_claim("billing", "CA2", 1, 30)
    b.hold("billing", "CA1", 3600)  # answered (seen by the other process)
    now[0] += 60
    assert a.busy("billing") == 1
    b.release("billing", "CA1")  # completed
    assert a.busy("billing") == 0
    assert a.try_claim("billing", "CA3", 1, 30)
    now[0] += 31  # its callbacks were lost: the seat frees itself
    assert b.busy("billing") == 0
    assert a.try_claim("general", "CA4", None, 30)  # unlimited group still counts


def test_queue_order_is_priority_then_arrival(redis_server: RedisServer) -> None:  # noqa: F811
    redis_server.flush()
    a, b = RedisQueue(redis_server.url), RedisQueue(redis_server.url)
    a.add(QueueEntry("CA1", "billing", 0, 100.0, "+15555550101", "billing"))
    b.add(QueueEntry("CA2", "billing", 0, 101.0))
    a.add(QueueEntry("CA3", "billing", 10, 102.0))
    assert [e.call_sid for e in b.waiting("billing")] == ["CA3", "CA1", "CA2"]
    b.mark_leaving("CA3", "seat:billing")
    assert [e.call_sid for e in a.waiting("billing")] == ["CA1", "CA2"]
    left = a.remove("CA3")
    assert left is not None and left.leaving == "seat:billing" and a.groups() == ["billing"]


def test_recent_transfers_are_shared_history(redis_server: RedisServer) -> None:  # noqa: F811
    from ivr.contact.profiles import MemoryHistory, MergedHistory, PastCall, is_repeat
    from ivr.contact.redis_state import RedisHistory

    redis_server.flush()
    RedisHistory(redis_server.url).add(PastCall("+15555550177", "orders", "transfer: orders",
                                                1000.0, "CA1"))
    other_process = RedisHistory(redis_server.url)
    assert is_repeat(other_process, "+15555550177", "orders", 2000.0, days=7)
    assert not is_repeat(other_process, "+15555550177", "orders", 2000.0, days=7,
                         this_call="CA1")  # a call is never its own repeat
    db_like = MemoryHistory()
    db_like.add(PastCall("+15555550177", "orders", "transfer: orders", 1000.0, "CA1"))
    assert len(MergedHistory(other_process, db_like).since("+15555550177", 0.0)) == 1
