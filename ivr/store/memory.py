"""The single-process store, and the JSON-lines export of finished calls."""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ivr.store.base import CallRecord, CallStore, Decision, RecordSink


class JsonlLog:
    """Appends each finished call record (one JSON object a line) to a file: an export for
    operators' tools; the records database is the system of record."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def save(self, record: CallRecord, decision: Decision | None) -> None:
        line = json.dumps(record.to_json(), default=str)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")

    def __repr__(self) -> str:
        return f"JsonlLog({str(self.path)!r})"


class MemoryStore(CallStore):
    """In-process store, bounded so a long-running server does not grow without end.

    With ``log_path`` set, every finished call record is also appended to a JSON-lines file.
    Counters and publish work within the process (publish hands messages to subscribers
    registered with :meth:`subscribe`), so single-process code uses the same API as with Redis.
    """

    def __init__(self, max_calls: int = 10_000, log_path: str | Path | None = None,
                 sinks: list[RecordSink] | None = None) -> None:
        super().__init__(sinks)
        if log_path:
            self.sinks.append(JsonlLog(log_path))
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._decisions: dict[str, Decision] = {}
        self._records: dict[str, CallRecord] = {}
        self._counts: dict[str, int] = {}
        self._hashes: dict[str, dict[str, int]] = {}
        self._subscribers: dict[str, list[Any]] = {}
        self._max = max_calls

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

    # --- LiveCounters (expiry is meaningless within one process: ttl_s is accepted, unused)

    def incr(self, key: str, amount: int = 1, ttl_s: float | None = None) -> int:
        with self._lock:
            value = self._counts[key] = self._counts.get(key, 0) + amount
            return value

    def get_count(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)

    def hincr(self, key: str, fld: str, amount: int = 1, ttl_s: float | None = None) -> int:
        with self._lock:
            table = self._hashes.setdefault(key, {})
            value = table[fld] = table.get(fld, 0) + amount
            return value

    def hgetall(self, key: str) -> dict[str, int]:
        with self._lock:
            return dict(self._hashes.get(key, {}))

    def publish(self, channel: str, message: Mapping[str, Any]) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(channel, []))
        for callback in subscribers:
            callback(dict(message))

    def subscribe(self, channel: str, callback: Any) -> None:
        with self._lock:
            self._subscribers.setdefault(channel, []).append(callback)

    def _trim(self, table: dict[str, Any]) -> None:
        while len(table) > self._max:
            table.pop(next(iter(table)))
