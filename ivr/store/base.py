"""The call's shared data types and the :class:`CallStore` interface every store implements.

Twilio's ``<Connect action>`` request for a call may reach a different process (or host) than the
WebSocket that made the decision, so everything the action route needs goes through
:class:`CallStore`. Implementations: :class:`~ivr.store.memory.MemoryStore` (one process) and
:class:`~ivr.store.redis_store.RedisStore` (many). A finished call is also handed to every
:class:`RecordSink` (the records database, the JSON-lines export).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

from ivr.dialog import AgentTarget
from ivr.transcript import Turn

log = logging.getLogger(__name__)

ErrorHook = Callable[[str], None]
"""Called with a short reason (e.g. ``redis_unreachable``) each time the store degrades; the
metrics code counts these."""


class ErrorCounter:
    """An :data:`ErrorHook` that counts store/database failures by reason and forwards each to
    listeners (the metrics code registers one: ``counter.listeners.append(fn)``)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.listeners: list[ErrorHook] = []
        self._lock = threading.Lock()

    def __call__(self, reason: str) -> None:
        with self._lock:
            self.counts[reason] = self.counts.get(reason, 0) + 1
            listeners = list(self.listeners)
        for listener in listeners:
            listener(reason)


@dataclass(frozen=True, slots=True)
class Decision:
    """How the bot part of a call ended: what the action URL must tell Twilio to do next."""

    outcome: Literal["transfer", "hangup"]
    target: AgentTarget | None = None
    context: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Decision:
        """Parse what :meth:`to_json` wrote (the shared store's wire form)."""
        outcome = data["outcome"]
        if outcome not in ("transfer", "hangup"):
            raise ValueError(f"unknown decision outcome {outcome!r}")
        target = data.get("target")
        return Decision(
            outcome,
            AgentTarget(**target) if isinstance(target, Mapping) else None,
            dict(data.get("context") or {}),
        )


@dataclass(slots=True)
class CallRecord:
    """What happened on one call, for operators (what callers ask) and developers (fixtures)."""

    call_sid: str
    from_number: str = ""
    to_number: str = ""
    started_at: float = field(default_factory=time.time)
    turns: list[Turn] = field(default_factory=list)
    intent: str | None = None
    outcome: str | None = None
    """e.g. ``transfer: billing``, ``hangup``, ``caller_hangup``."""
    latency_ms: list[float] = field(default_factory=list)
    """Per caller turn: from our end-of-speech decision to the first audio frame sent."""
    timings: list[dict[str, float]] = field(default_factory=list)
    """Per caller turn: where that time went (asr_ms, nlu_ms, turn_ms)."""
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The shared store's and ``/calls/<sid>``'s wire form; ``turns`` is
        :meth:`ivr.transcript.Transcript.to_json` (``speaker``, ``text``, ``kind``, ``t``,
        ``redactions`` when any)."""
        out = asdict(self)
        out["turns"] = [t.to_json() for t in self.turns]
        return out

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> CallRecord:
        """Parse what :meth:`to_json` wrote (the shared store's and the spool's wire form)."""
        values = dict(data)
        values["turns"] = [Turn.from_json(t) for t in values.get("turns") or []]
        return CallRecord(**values)


class RecordSink(Protocol):
    """Somewhere a finished call's record goes (database, export file). ``decision`` is the
    call's stored decision, when it has one (it carries the slots and the transfer target)."""

    def save(self, record: CallRecord, decision: Decision | None) -> None: ...


class LiveCounters(Protocol):
    """Small atomic counters/hashes for live views (e.g. agent-group occupancy).

    Every operation is a single atomic server-side step: callers never read, modify and write.
    ``ttl_s`` (re)arms the key's expiry so counters of a dead process do not live for ever.
    """

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int: ...

    def get_count(self, key: str) -> int: ...

    def hincr(self, key: str, fld: str, amount: int = 1, ttl_s: float | None = None) -> int: ...

    def hgetall(self, key: str) -> dict[str, int]: ...

    def publish(self, channel: str, message: Mapping[str, Any]) -> None: ...


class CallStore(ABC):
    """The interface a multi-process deployment implements on shared storage."""

    sinks: list[RecordSink]
    errors: ErrorCounter
    """Failures of this store and its sinks, by reason (``redis_unreachable``,
    ``db_write_failed``); the webhook's degraded mode adds ``store_unavailable_webhook``."""
    records: Any = None
    """The :class:`~ivr.store.records.RecordsDB` among the sinks, when there is one (other
    features get the database engine/sessions from it)."""

    def __init__(self, sinks: list[RecordSink] | None = None) -> None:
        self.sinks = list(sinks or [])
        self.errors = ErrorCounter()

    @abstractmethod
    def issue_token(self, call_sid: str, ttl_s: float = 120.0) -> str:
        """A one-time secret the WebSocket must present for this call."""

    @abstractmethod
    def consume_token(self, token: str) -> str | None:
        """The call the token was issued for, once; None if unknown, used or expired."""

    @abstractmethod
    def put_decision(self, call_sid: str, decision: Decision) -> None: ...

    @abstractmethod
    def get_decision(self, call_sid: str) -> Decision | None: ...

    @abstractmethod
    def put_record(self, record: CallRecord) -> None: ...

    @abstractmethod
    def get_record(self, call_sid: str) -> CallRecord | None: ...

    @property
    def shared(self) -> bool:
        """Whether other processes see this store's state (required for ``--workers`` > 1)."""
        return False

    def finish(self, record: CallRecord) -> None:
        """The call is over: store its final record and hand it to every sink.

        A sink failing never stops the others (each sink is responsible for not losing what it
        was given, e.g. by spooling); the first failure is re-raised after all have run.
        """
        self.put_record(record)
        decision = self.get_decision(record.call_sid)
        first: Exception | None = None
        for sink in self.sinks:
            try:
                sink.save(record, decision)
            except Exception as exc:
                log.exception("call %s: record sink %r failed", record.call_sid, sink)
                first = first or exc
        if first is not None:
            raise first

    def close(self) -> None:
        """Release connections and background threads."""
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                close()
