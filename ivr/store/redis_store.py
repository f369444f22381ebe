"""A :class:`CallStore` on Redis, shared by every process and host of a deployment.

Keys (all under ``prefix``, default ``ivr:``): ``tok:<token>`` -> CallSid (taken once, atomically,
by a Lua GET+DEL so it works on any Redis >= 2.6), ``dec:<CallSid>`` -> decision JSON,
``rec:<CallSid>`` -> live call record JSON, each with a TTL; ``cnt:``/``h:`` keys for the live
counters. The durable record of a finished call goes to the records database (a sink), not here.

Degraded mode: every write also lands in a small local cache, and a write Redis refused is kept
as *pending* and re-sent by a background thread as soon as Redis answers again. Reads prefer a
pending (newer) local value, then Redis, then the local copy when Redis is unreachable. So a live
call whose Redis vanished goes on, its decision is served to an action request reaching this
process, and it reaches Redis when Redis returns. Each failure calls ``on_error(reason)``.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ivr.errors import IvrError
from ivr.store.base import CallRecord, CallStore, Decision, ErrorHook, RecordSink

log = logging.getLogger(__name__)

_TAKE = "local v = redis.call('GET', KEYS[1]); if v then redis.call('DEL', KEYS[1]) end; return v"


class StoreUnavailable(IvrError):
    """The shared store cannot be reached (the caller degrades: see ivr.app)."""

    code = "store_unavailable"


class RedisStore(CallStore):
    """Stream tokens, decisions, live records and counters on Redis (see module docs)."""

    def __init__(self, url: str, *, prefix: str = "ivr:", decision_ttl_s: int = 3600,
                 record_ttl_s: int = 86_400, timeout_s: float = 0.5, retry_max_s: float = 2.0,
                 local_max: int = 10_000, sinks: list[RecordSink] | None = None,
                 on_error: ErrorHook | None = None) -> None:
        super().__init__(sinks)
        self.url = url
        self._p = prefix
        self._ttl = {"dec": decision_ttl_s, "rec": record_ttl_s}
        self._r = redis.Redis.from_url(
            url, decode_responses=True, socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False, health_check_interval=0,
        )
        self._take = self._r.register_script(_TAKE)
        if on_error is not None:
            self.errors.listeners.append(on_error)
        self._lock = threading.Lock()
        self._local: OrderedDict[str, str] = OrderedDict()
        self._pending: dict[str, str] = {}
        self._local_max = local_max
        self._retry_max_s = retry_max_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._flusher = threading.Thread(target=self._flush_loop, daemon=True,
                                         name="redis-write-behind")
        self._flusher.start()

    @property
    def shared(self) -> bool:
        return True

    def ping(self) -> None:
        """Raise :class:`StoreUnavailable` unless Redis answers (used at start-up)."""
        try:
            self._r.ping()
        except redis.RedisError as exc:
            raise StoreUnavailable(f"Redis at {self._safe_url()} is unreachable: {exc}") from exc

    # --------------------------------------------------------------------- tokens
    def issue_token(self, call_sid: str, ttl_s: float = 120.0) -> str:
        """Raises :class:`StoreUnavailable` when Redis is down: a token only this process knows
        would be refused by whichever process the stream reaches."""
        token = secrets.token_urlsafe(24)
        try:
            self._r.set(self._p + "tok:" + token, call_sid, ex=max(1, int(ttl_s)), nx=True)
        except redis.RedisError as exc:
            self._failed("issue_token", exc)
            raise StoreUnavailable(f"cannot issue a stream token: {exc}") from exc
        return token

    def consume_token(self, token: str) -> str | None:
        try:
            owner = self._take(keys=[self._p + "tok:" + token])
        except redis.RedisError as exc:
            self._failed("consume_token", exc)
            return None
        return owner if isinstance(owner, str) else None

    # ------------------------------------------------------------ decisions/records
    def put_decision(self, call_sid: str, decision: Decision) -> None:
        self._write("dec:" + call_sid, json.dumps(decision.to_json(), default=str))

    def get_decision(self, call_sid: str) -> Decision | None:
        raw = self._read("dec:" + call_sid)
        return Decision.from_json(json.loads(raw)) if raw is not None else None

    def put_record(self, record: CallRecord) -> None:
        self._write("rec:" + record.call_sid, json.dumps(record.to_json(), default=str))

    def get_record(self, call_sid: str) -> CallRecord | None:
        raw = self._read("rec:" + call_sid)
        return CallRecord.from_json(json.loads(raw)) if raw is not None else None

    def pending_writes(self) -> int:
        """Writes Redis has not acknowledged yet (0 in normal operation)."""
        with self._lock:
            return len(self._pending)

    # ----------------------------------------------------------------- counters
    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        name = self._p + "cnt:" + key
        return int(self._atomic(lambda p: p.incrby(name, amount), name, ttl_s)[0])

    def get_count(self, key: str) -> int:
        try:
            value = self._r.get(self._p + "cnt:" + key)
        except redis.RedisError as exc:
            self._failed("get_count", exc)
            raise StoreUnavailable(str(exc)) from exc
        return int(value) if value is not None else 0

    def hincr(self, key: str, fld: str, amount: int = 1, ttl_s: float | None = None) -> int:
        name = self._p + "h:" + key
        return int(self._atomic(lambda p: p.hincrby(name, fld, amount), name, ttl_s)[0])

    def hgetall(self, key: str) -> dict[str, int]:
        try:
            raw = self._r.hgetall(self._p + "h:" + key)
        except redis.RedisError as exc:
            self._failed("hgetall", exc)
            raise StoreUnavailable(str(exc)) from exc
        return {str(k): int(v) for k, v in raw.items()}

    def publish(self, channel: str, message: Mapping[str, Any]) -> None:
        """Push ``message`` to live views subscribed to ``channel`` (best effort: a view that
        misses one re-reads the counters); a failure is logged and counted."""
        try:
            self._r.publish(self._p + channel, json.dumps(dict(message), default=str))
        except redis.RedisError as exc:
            self._failed("publish", exc)

    def subscribe(self, channel: str,
                  callback: Callable[[dict[str, Any]], None]) -> Subscription:
        """Call ``callback`` with each message published on ``channel``, from a thread blocked
        on the subscription socket; ``.stop()`` the returned subscription to end it."""
        return Subscription(self._r, self._p + channel, callback)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._flusher.join(timeout=2 * self._retry_max_s)
        super().close()
        self._r.close()

    # ----------------------------------------------------------------- internals
    def _atomic(self, op: Callable[[Any], Any], name: str, ttl_s: float | None) -> list[Any]:
        try:
            with self._r.pipeline(transaction=True) as pipe:
                op(pipe)
                if ttl_s is not None:
                    pipe.expire(name, max(1, int(ttl_s)))
                result: list[Any] = pipe.execute()
                return result
        except redis.RedisError as exc:
            self._failed("counter", exc)
            raise StoreUnavailable(str(exc)) from exc

    def _write(self, key: str, value: str) -> None:
        with self._lock:
            self._remember(key, value)
            if self._pending:  # keep order: never let a newer write overtake a pending one
                self._pending[key] = value
                self._wake.set()
                return
        try:
            self._r.set(self._p + key, value, ex=self._ttl[key[:3]])
        except redis.RedisError as exc:
            self._failed("write", exc)
            with self._lock:
                self._pending[key] = value
            self._wake.set()

    def _read(self, key: str) -> str | None:
        with self._lock:
            if key in self._pending:
                return self._pending[key]
        try:
            value = self._r.get(self._p + key)
        except redis.RedisError as exc:
            self._failed("read", exc)
            with self._lock:
                return self._local.get(key)
        return value if isinstance(value, str) else None

    def _remember(self, key: str, value: str) -> None:
        self._local[key] = value
        self._local.move_to_end(key)
        while len(self._local) > self._local_max:
            self._local.popitem(last=False)

    def _flush_loop(self) -> None:
        """Re-send pending writes once Redis answers again. Sleeps on an event while there is
        nothing pending; backs off (up to ``retry_max_s``) while Redis stays away."""
        delay = 0.1
        while not self._stop.is_set():
            self._wake.wait()
            with self._lock:
                batch = dict(self._pending)
            if not batch:
                self._wake.clear()
                with self._lock:  # a write may have arrived between the copy and the clear
                    if self._pending:
                        self._wake.set()
                continue
            try:
                with self._r.pipeline(transaction=False) as pipe:
                    for key, value in batch.items():
                        pipe.set(self._p + key, value, ex=self._ttl[key[:3]])
                    pipe.execute()
            except redis.RedisError:
                self._stop.wait(delay)
                delay = min(self._retry_max_s, delay * 2)
                continue
            delay = 0.1
            with self._lock:
                for key, value in batch.items():
                    if self._pending.get(key) == value:
                        del self._pending[key]
            log.info("redis store: %d pending write(s) flushed", len(batch))

    def _failed(self, what: str, exc: Exception) -> None:
        log.warning("redis store %s failed (%s): %s", what, self._safe_url(), exc)
        try:
            self.errors("redis_unreachable")
        except Exception:
            log.exception("store error listener failed")

    def _safe_url(self) -> str:
        """The URL without its password, for logs."""
        head, sep, tail = self.url.rpartition("@")
        return f"redis://***@{tail}" if sep else self.url

    def __repr__(self) -> str:
        return f"RedisStore({self._safe_url()!r})"


class Subscription:
    """A thread reading one pub/sub channel. It blocks on the socket (waking at most once a
    second to notice :meth:`stop`), so an idle subscription costs nothing."""

    def __init__(self, client: redis.Redis, channel: str,
                 callback: Callable[[dict[str, Any]], None]) -> None:
        self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(channel)
        self._callback = callback
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"sub-{channel}")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self._pubsub.get_message(timeout=1.0)
            except redis.RedisError as exc:
                log.warning("subscription lost (%s); resubscribing", exc)
                self._stop.wait(1.0)
                continue
            if msg is None or msg.get("type") != "message":
                continue
            try:
                self._callback(json.loads(msg["data"]))
            except Exception:
                log.exception("subscriber callback failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pubsub.close()
