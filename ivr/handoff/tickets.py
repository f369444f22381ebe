"""Automatic tickets: one per finished call, delivered from a durable outbox in the records DB.

Why an outbox: the ticket is written in the same database as the call record, in one transaction,
the moment the call ends (:class:`TicketSink`, a :class:`~ivr.store.base.RecordSink`); a separate
worker (:class:`Deliverer`) POSTs due rows to the operator's webhook and marks them delivered only
after a 2xx. A crash between the POST and the mark re-sends it after restart: delivery is at least
once, and the receiver makes it exactly once with the ``Idempotency-Key`` header (the ticket id,
stable across retries). Failures back off exponentially (2 s, 4 s ... capped at 10 min).

Each request: ``POST <webhook>`` with the ticket JSON as body, ``Idempotency-Key``,
``X-Ivr-Timestamp`` and ``X-Ivr-Signature: sha256=<hex HMAC-SHA256(secret, "<ts>.<body>")>``
(the receiver recomputes it and rejects stale timestamps). The secret is the webhook's own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ivr.handoff.context import HandoffContext
from ivr.handoff.redact import scrub
from ivr.store.base import CallRecord, Decision
from ivr.store.records import Base, RecordsDB

log = logging.getLogger(__name__)

TICKET_SCHEMA = "ivr.ticket/1"
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 600.0


class TicketRow(Base):
    """One ticket waiting for (or done with) delivery."""

    __tablename__ = "ticket_outbox"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    """The idempotency key: ``ticket-<CallSid>`` (one ticket per call)."""
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)


def resolution(record: CallRecord, decision: Decision | None) -> str:
    if decision is not None and decision.outcome == "transfer":
        return "transferred"
    if record.outcome in (None, "caller_hangup"):
        return "abandoned"
    return "self_served"


def build_ticket(record: CallRecord, decision: Decision | None,
                 record_url: str = "") -> dict[str, Any]:
    """The ticket for a finished call (pure). Built from the redacted sources, scrubbed again."""
    ctx_in = decision.context if decision is not None else {}
    group = decision.target.name if decision is not None and decision.target else ""
    try:
        ctx = HandoffContext.from_engine(record.call_sid, group, ctx_in)
    except (ValueError, TypeError) as exc:
        log.error("call %s: ticket without handoff context (%s)", record.call_sid, exc)
        ctx = HandoffContext.from_engine(record.call_sid, group, {})
    ended = time.time()
    ticket = {
        "schema": TICKET_SCHEMA,
        "id": f"ticket-{record.call_sid}",
        "call_sid": record.call_sid,
        "customer": {"phone": record.from_number, "profile": ctx.profile},
        "issue_type": ctx.intent or record.intent or "unknown",
        "summary": ctx.summary if ctx_in else (
            f"Call {resolution(record, decision).replace('_', ' ')}"
            + (f"; intent {record.intent}" if record.intent else "") + "."),
        "slots": {k: s.value for k, s in ctx.slots.items()},
        "resolution": resolution(record, decision),
        "outcome": record.outcome,
        "group": group or None,
        "frustrated": ctx.sentiment.frustrated,
        "started_at": datetime.fromtimestamp(record.started_at, timezone.utc).isoformat(),
        "ended_at": datetime.fromtimestamp(ended, timezone.utc).isoformat(),
        "record_url": record_url or None,
    }
    result: dict[str, Any] = scrub(ticket)
    return result


class TicketSink:
    """A record sink: queue the call's ticket in the outbox, in the records DB, at call end."""

    def __init__(self, db: RecordsDB, record_url: Callable[[str], str] | None = None,
                 deliverer: Deliverer | None = None) -> None:
        self.db = db
        self.record_url = record_url
        self.deliverer = deliverer

    def save(self, record: CallRecord, decision: Decision | None) -> None:
        url = self.record_url(record.call_sid) if self.record_url else ""
        enqueue(self.db, build_ticket(record, decision, url))
        if self.deliverer is not None:
            self.deliverer.wake()


def enqueue(db: RecordsDB, ticket: dict[str, Any]) -> bool:
    """Insert the ticket once (False when that call's ticket is already queued)."""
    now = _now()
    try:
        with db.transaction() as s:
            s.add(TicketRow(id=ticket["id"], call_sid=ticket["call_sid"], payload=ticket,
                            created_at=now, attempts=0, next_attempt_at=now))
    except IntegrityError:
        return False
    return True


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def post(url: str, secret: str, ticket: dict[str, Any], timeout_s: float = 10.0) -> None:
    """POST one ticket; raises on anything but a 2xx."""
    body = json.dumps(ticket, separators=(",", ":"), sort_keys=True).encode()
    ts = str(int(time.time()))
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": ticket["id"],
        "X-Ivr-Timestamp": ts, "X-Ivr-Signature": sign(secret, ts, body),
        "User-Agent": "ivr-tickets/1"})
    with urllib.request.urlopen(req, timeout=timeout_s) as resp:
        if not 200 <= resp.status < 300:
            raise urllib.error.HTTPError(url, resp.status, "not 2xx", resp.headers, None)


class Deliverer:
    """Sends due outbox rows, oldest first, in a background thread (or :meth:`run_once`)."""

    def __init__(self, db: RecordsDB, url: str, secret: str,
                 send: Callable[[str, str, dict[str, Any]], None] = post) -> None:
        if not url:
            raise ValueError("tickets webhook URL is empty")
        self.db, self.url, self.secret, self._send = db, url, secret, send
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> float | None:
        """Deliver every due ticket; returns seconds until the next one is due (None: none)."""
        while True:
            with self.db.session() as s:
                row = s.scalars(select(TicketRow).where(TicketRow.delivered_at.is_(None))
                                .order_by(TicketRow.next_attempt_at).limit(1)).first()
            if row is None:
                return None
            wait = (_aware(row.next_attempt_at) - _now()).total_seconds()
            if wait > 0:
                return wait
            self._attempt(row)

    def _attempt(self, row: TicketRow) -> None:
        error: str | None = None
        try:
            self._send(self.url, self.secret, row.payload)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        with self.db.transaction() as s:
            live = s.get(TicketRow, row.id)
            assert live is not None
            live.attempts += 1
            if error is None:
                live.delivered_at, live.last_error = _now(), None
                log.info("ticket %s delivered (attempt %d)", live.id, live.attempts)
            else:
                delay = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (live.attempts - 1))
                live.next_attempt_at = datetime.fromtimestamp(time.time() + delay, timezone.utc)
                live.last_error = error[:500]
                log.warning("ticket %s: delivery failed (%s); retry in %.0f s", live.id, error,
                            delay)

    def start(self) -> Deliverer:
        self._thread = threading.Thread(target=self._loop, daemon=True, name="ticket-outbox")
        self._thread.start()
        return self

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self.run_once()
            except Exception:  # a DB hiccup must not kill the worker: log, back off, retry
                log.exception("ticket outbox worker failed; retrying in %.0f s", BACKOFF_FIRST_S)
                wait = BACKOFF_FIRST_S
            self._wake.wait(timeout=wait)  # sleeps until the next due ticket or a new one
            self._wake.clear()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def outbox(db: RecordsDB) -> list[TicketRow]:
    with db.session() as s:
        return list(s.scalars(select(TicketRow).order_by(TicketRow.created_at)))
