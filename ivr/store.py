"""Per-call state that must outlive the WebSocket: stream tokens, decisions, call records.

Twilio's ``<Connect action>`` request for a call may reach a different process (or host) than the
WebSocket that made the decision, so everything the action route needs goes through
:class:`CallStore`. :class:`MemoryStore` is the single-process default; a shared implementation
(Redis, a database) only has to provide these few methods.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from ivr.dialog import AgentTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Decision:
    """How the bot part of a call ended: what the action URL must tell Twilio to do next."""

    outcome: Literal["transfer", "hangup"]
    target: AgentTarget | None = None
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Turn:
    role: Literal["caller", "bot"]
    text: str
    t: float
    kind: str = "speech"
    """caller: speech | dtmf | no_input; bot: say."""


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
        return asdict(self)


class CallStore(ABC):
    """The interface a multi-process deployment implements on shared storage."""

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

    def finish(self, record: CallRecord) -> None:
        """The call is over: store its final record (implementations may also archive it)."""
        self.put_record(record)


class MemoryStore(CallStore):
    """In-process store, bounded so a long-running server does not grow without end.

    With ``log_path`` set, every finished call record is also appended to a JSON-lines file, so
    records survive restarts and operators can read what callers asked.
    """

    def __init__(self, max_calls: int = 10_000, log_path: str | Path | None = None) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._decisions: dict[str, Decision] = {}
        self._records: dict[str, CallRecord] = {}
        self._max = max_calls
        self._log_path = Path(log_path) if log_path else None

    def issue_token(self, call_sid: str, ttl_s: float = 120.0) -> str:
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
            self._tokens[token] = (call_sid, now + ttl_s)
        return token

    def consume_token(self, token: str) -> str | None:
        with self._lock:
            entry = self._tokens.pop(token, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put_decision(self, call_sid: str, decision: Decision) -> None:
        with self._lock:
            self._decisions[call_sid] = decision
            self._trim(self._decisions)

    def get_decision(self, call_sid: str) -> Decision | None:
        with self._lock:
            return self._decisions.get(call_sid)

    def put_record(self, record: CallRecord) -> None:
        with self._lock:
            self._records[record.call_sid] = record
            self._trim(self._records)

    def get_record(self, call_sid: str) -> CallRecord | None:
        with self._lock:
            return self._records.get(call_sid)

    def finish(self, record: CallRecord) -> None:
        """Store the final record and append it to the call log."""
        self.put_record(record)
        if self._log_path is None:
            return
        line = json.dumps(record.to_json(), default=str)
        with self._lock:
            self._log_path.parent.mkdir(parents=True, exist_ok=True)
            with self._log_path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def _trim(self, table: dict[str, Any]) -> None:
        while len(table) > self._max:
            table.pop(next(iter(table)))
