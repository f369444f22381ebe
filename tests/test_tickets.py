"""Automatic tickets: built from real engine output, queued in the records DB at call end,
delivered by webhook (HMAC-signed, idempotency key) with backoff, never lost across a kill -9."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import ivr.handoff.qa  # noqa: F401  (call_qa is migrated too: keep it in the metadata)
from ivr.dialog import Hangup, Transfer
from ivr.handoff import tickets
from ivr.handoff.tickets import Deliverer, TicketRow, TicketSink, build_ticket, enqueue, outbox
from ivr.store import CallRecord, Decision, MemoryStore, Turn
from ivr.store.records import Base, RecordsDB

from .test_engine_support import Caller, factory

SECRET = "hook-secret"


def _db(tmp_path: Path) -> RecordsDB:
    return RecordsDB(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool")


def _transferred(sid: str) -> tuple[CallRecord, Decision]:
    f = factory()
    call = Caller(f)
    call.say("where is my order")
    call.say("4 5 6 7 8 9")
    call.say("yes")
    call.say("agent")
    t = call.last
    assert isinstance(t, Transfer)
    record = CallRecord(sid, "+15555550199", intent="order_status", outcome=f"transfer: {t.group}",
                        turns=[Turn(x.speaker, x.text, x.kind, x.t)
                               for x in call.dialog.transcript])  # type: ignore[attr-defined]
    return record, Decision("transfer", f.agent_group(t.group), dict(t.context))


def test_ticket_from_a_real_transferred_call() -> None:
    record, decision = _transferred("CAt1")
    t = build_ticket(record, decision, "https://ivr.example.com/calls/CAt1")
    assert t["id"] == "ticket-CAt1" and t["schema"] == tickets.TICKET_SCHEMA
    assert t["issue_type"] == "order_status" and t["resolution"] == "transferred"
    assert t["slots"]["order_number"] == "456789" and "where is my order" in t["summary"]
    assert t["record_url"].endswith("/calls/CAt1") and t["customer"]["phone"] == "+15555550199"


def test_self_served_and_abandoned_calls() -> None:
    call = Caller(factory())
    call.say("goodbye")
    assert isinstance(call.last, Hangup)
    served = build_ticket(CallRecord("CAs", outcome="hangup"), Decision("hangup"))
    assert served["resolution"] == "self_served"
    gone = build_ticket(CallRecord("CAa", outcome="caller_hangup"), None)
    assert gone["resolution"] == "abandoned" and gone["issue_type"] == "unknown"


def test_migrations_include_the_outbox(tmp_path: Path) -> None:
    db = _db(tmp_path)
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        db.close()


def test_sink_queues_one_ticket_per_call(tmp_path: Path) -> None:
    db = _db(tmp_path)
    store = MemoryStore(sinks=[db, TicketSink(db, lambda sid: f"https://x/calls/{sid}")])
    try:
        record, decision = _transferred("CAq")
        store.put_decision("CAq", decision)
        store.finish(record)
        store.finish(record)  # finishing twice (a retry) never makes a second ticket
        rows = outbox(db)
        assert [r.id for r in rows] == ["ticket-CAq"] and rows[0].delivered_at is None
    finally:
        store.close()


def test_failures_back_off_then_deliver(tmp_path: Path) -> None:
    db = _db(tmp_path)
    calls: list[str] = []

    def flaky(url: str, secret: str, ticket: dict[str, object]) -> None:
        calls.append(str(ticket["id"]))
        if len(calls) < 3:
            raise OSError("connection refused")

    try:
        enqueue(db, build_ticket(CallRecord("CAb", outcome="hangup"), Decision("hangup")))
        worker = Deliverer(db, "http://127.0.0.1:9/hook", SECRET, send=flaky)
        wait = worker.run_once()
        assert wait is not None and 1.5 < wait <= 2.0  # first retry after ~2 s
        [row] = outbox(db)
        assert row.attempts == 1 and "refused" in (row.last_error or "")
        with db.transaction() as s:  # fast-forward the clock instead of sleeping
            live = s.get(TicketRow, row.id)
            assert live is not None
            live.next_attempt_at = datetime.now(timezone.utc)
        worker.run_once()
        [row] = outbox(db)
        assert row.attempts == 2
        assert (row.next_attempt_at.replace(tzinfo=timezone.utc)
                - datetime.now(timezone.utc)).total_seconds() > 3  # doubled: ~4 s
        with db.transaction() as s:
            live = s.get(TicketRow, row.id)
            assert live is not None
            live.next_attempt_at = datetime.now(timezone.utc)
        assert worker.run_once() is None
        [row] = outbox(db)
        assert row.delivered_at is not None and row.attempts == 3 and calls == ["ticket-CAb"] * 3
    finally:
        db.close()


class Receiver:
    """A test ticket system: checks signatures, dedupes by Idempotency-Key. ``hold_first``: the
    first request is held unanswered until :meth:`release` (so the sender can die mid-delivery)."""

    def __init__(self, hold_first: bool = False) -> None:
        self.raw: list[str] = []
        self.accepted: dict[str, dict[str, object]] = {}
        self.got_first = threading.Event()
        self._release = threading.Event()
        if not hold_first:
            self._release.set()
        self.lock = threading.Lock()
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts, sig = self.headers["X-Ivr-Timestamp"], self.headers["X-Ivr-Signature"]
                good = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body,
                                            hashlib.sha256).hexdigest()
                if not hmac.compare_digest(good, sig):
                    self.send_response(401)
                    self.end_headers()
                    return
                key = self.headers["Idempotency-Key"]
                with rx.lock:
                    rx.raw.append(key)
                    first = len(rx.raw) == 1
                if first:
                    rx.got_first.set()
                    rx._release.wait(30)
                with rx.lock:
                    rx.accepted.setdefault(key, json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def release(self) -> None:
        self._release.set()

    def close(self) -> None:
        self._release.set()
        self.server.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver(hold_first=True)
    yield rx
    rx.close()


def _worker(db_url: str, spool: Path, url: str) -> subprocess.Popen[bytes]:
    env = dict(os.environ, IVR_TICKETS_SECRET=SECRET, IVR_LOG_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "ivr", "tickets", "--db", db_url, "--spool",
                             str(spool), "--deliver", "--webhook", url], env=env)


def test_kill_9_with_tickets_in_the_outbox_then_restart_delivers_each_once(
        tmp_path: Path, receiver: Receiver) -> None:
    db_url = f"sqlite:///{tmp_path / 'calls.db'}"
    db = RecordsDB(db_url, tmp_path / "spool")
    sids = [f"CAk{i}" for i in range(4)]
    for sid in sids:
        enqueue(db, build_ticket(CallRecord(sid, outcome="hangup"), Decision("hangup")))
    first = _worker(db_url, tmp_path / "spool", receiver.url)
    try:
        assert receiver.got_first.wait(60), "the worker never sent anything"
        first.send_signal(signal.SIGKILL)  # dies with the first POST unanswered
        first.wait(10)
        assert all(r.delivered_at is None for r in outbox(db))  # nothing lost, nothing marked
        receiver.release()
        second = _worker(db_url, tmp_path / "spool", receiver.url)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not all(r.delivered_at for r in outbox(db)):
                time.sleep(0.2)
        finally:
            second.terminate()
            second.wait(10)
        rows = outbox(db)
        assert all(r.delivered_at is not None for r in rows), [(r.id, r.last_error) for r in rows]
        assert sorted(receiver.accepted) == sorted(f"ticket-{s}" for s in sids)  # each once
        assert len(receiver.raw) >= len(sids)  # the killed delivery was sent again, deduped
        listing = subprocess.run([sys.executable, "-m", "ivr", "tickets", "--db", db_url,
                                  "--spool", str(tmp_path / "spool"), "--json"],
                                 capture_output=True, text=True, timeout=60)
        statuses = [json.loads(line)["status"] for line in listing.stdout.splitlines()]
        assert statuses == ["delivered"] * len(sids), listing.stderr
    finally:
        if first.poll() is None:
            first.kill()
        db.close()
