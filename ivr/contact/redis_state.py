"""Occupancy and our queue on Redis, so every server process sees the same seats and order.

Keys (under ``prefix``, default ``ivr:``): ``seats:<group>`` is a sorted set of CallSids scored
by their seat's expiry time, so a lost callback frees the seat when the score passes (expired
members are dropped by every read and claim); a claim is one Lua script (drop expired, count,
add), so two processes can never both take the last seat. ``q:<group>`` is a sorted set of the
waiting CallSids in serve order (priority, then arrival) and ``qe:<CallSid>`` the entry's JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict

import redis

from ivr.contact.profiles import PastCall
from ivr.contact.queue import QueueEntry

_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local cap = tonumber(ARGV[4])
if cap >= 0 and not redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  if redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

QUEUE_TTL_S = 6 * 3600
"""A queue entry nobody removed (the Enqueue action never came) is forgotten after this."""


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True, socket_timeout=1.0,
                                socket_connect_timeout=1.0)


class RedisOccupancy:
    """:class:`~ivr.contact.occupancy.Occupancy` shared through Redis."""

    def __init__(self, url: str, prefix: str = "ivr:",
                 clock: Callable[[], float] = time.time) -> None:
        self._r = _client(url)
        self._p = prefix + "seats:"
        self._clock = clock
        self._claim = self._r.register_script(_CLAIM)

    def try_claim(self, group: str, call_sid: str, capacity: int | None, ttl_s: float) -> bool:
        now = self._clock()
        cap = -1 if capacity is None else capacity
        keep = int(ttl_s) + 60
        return bool(self._claim(keys=[self._p + group],
                                args=[now, call_sid, now + ttl_s, cap, keep]))

    def hold(self, group: str, call_sid: str, ttl_s: float) -> None:
        key = self._p + group
        with self._r.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {call_sid: self._clock() + ttl_s})
            pipe.expire(key, int(ttl_s) + 60)
            pipe.execute()

    def release(self, group: str, call_sid: str) -> None:
        self._r.zrem(self._p + group, call_sid)

    def busy(self, group: str) -> int:
        key = self._p + group
        with self._r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", self._clock())
            pipe.zcard(key)
            _, count = pipe.execute()
        return int(count)

    def close(self) -> None:
        self._r.close()


def _score(e: QueueEntry) -> float:
    # higher priority first (0..100), then earlier arrival; epoch seconds < 1e10
    return (100 - e.priority) * 1e10 + e.enqueued_at


class RedisQueue:
    """:class:`~ivr.contact.queue.CallQueue` shared through Redis."""

    def __init__(self, url: str, prefix: str = "ivr:") -> None:
        self._r = _client(url)
        self._p = prefix

    def add(self, entry: QueueEntry) -> None:
        if self._r.set(self._p + "qe:" + entry.call_sid, json.dumps(asdict(entry)),
                       ex=QUEUE_TTL_S, nx=True):
            self._r.zadd(self._p + "q:" + entry.group, {entry.call_sid: _score(entry)})
            self._r.sadd(self._p + "qgroups", entry.group)

    def get(self, call_sid: str) -> QueueEntry | None:
        raw = self._r.get(self._p + "qe:" + call_sid)
        return QueueEntry(**json.loads(raw)) if raw else None

    def remove(self, call_sid: str) -> QueueEntry | None:
        entry = self.get(call_sid)
        if entry is not None:
            with self._r.pipeline(transaction=True) as pipe:
                pipe.delete(self._p + "qe:" + call_sid)
                pipe.zrem(self._p + "q:" + entry.group, call_sid)
                pipe.execute()
        return entry

    def touch(self, call_sid: str, now: float) -> None:
        entry = self.get(call_sid)
        if entry is not None:
            self._r.set(self._p + "qe:" + call_sid,
                        json.dumps(asdict(entry) | {"polled_at": now}), ex=QUEUE_TTL_S, xx=True)

    def mark_leaving(self, call_sid: str, why: str) -> None:
        entry = self.get(call_sid)
        if entry is None:
            return
        data = asdict(entry) | {"leaving": why}
        with self._r.pipeline(transaction=True) as pipe:
            pipe.set(self._p + "qe:" + call_sid, json.dumps(data), ex=QUEUE_TTL_S)
            pipe.zrem(self._p + "q:" + entry.group, call_sid)
            pipe.execute()

    def waiting(self, group: str) -> list[QueueEntry]:
        sids = [str(s) for s in self._r.zrange(self._p + "q:" + group, 0, -1)]
        if not sids:
            return []
        raws = self._r.mget([self._p + "qe:" + s for s in sids])
        out = []
        for sid, raw in zip(sids, raws, strict=True):
            if raw:
                out.append(QueueEntry(**json.loads(raw)))
            else:  # the entry expired: drop its stale place in line
                self._r.zrem(self._p + "q:" + group, sid)
        return out

    def groups(self) -> list[str]:
        return sorted(str(g) for g in self._r.smembers(self._p + "qgroups"))

    def close(self) -> None:
        self._r.close()


class RedisHistory:
    """:class:`~ivr.contact.profiles.History` of recent transfers per number, shared through
    Redis (``hist:<number>``, newest first, capped, expiring after ``keep_days``), so a repeat
    caller is recognised by whichever process takes their next call, before the finished call
    reaches the records database."""

    def __init__(self, url: str, prefix: str = "ivr:", keep_days: int = 30,
                 per_number: int = 50) -> None:
        self._r = _client(url)
        self._p = prefix + "hist:"
        self._keep = keep_days * 86400
        self._max = per_number

    def add(self, call: PastCall) -> None:
        key = self._p + call.number
        with self._r.pipeline(transaction=True) as pipe:
            pipe.lpush(key, json.dumps(asdict(call)))
            pipe.ltrim(key, 0, self._max - 1)
            pipe.expire(key, self._keep)
            pipe.execute()

    def since(self, number: str, t: float) -> list[PastCall]:
        calls = [PastCall(**json.loads(str(raw)))
                 for raw in self._r.lrange(self._p + number, 0, -1)]
        return [c for c in calls if c.at >= t]

    def close(self) -> None:
        self._r.close()
