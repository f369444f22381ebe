"""The records database: masking, idempotent upserts, migrations, the spool, and kill -9."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

import ivr.contact.db  # noqa: F401  (its tables are in the metadata the migrations must match)
import ivr.handoff.qa  # noqa: F401  (its call_qa table is in Base.metadata)
import ivr.handoff.tickets  # noqa: F401  (its ticket_outbox table is in Base.metadata)
from ivr.dialog import AgentTarget
from ivr.store import CallRecord, Decision, MemoryStore, Turn
from ivr.store.records import MASK, Base, CallRow, RecordsDB, is_sensitive, record_row, row_turns


def _call(sid: str = "CA1") -> tuple[CallRecord, Decision]:
    record = CallRecord(sid, "+15550001", "+15550002", started_at=1_700_000_000.0,
                        turns=[Turn("bot", "Your PIN please.", "say", 0.5),
                               Turn("caller", "4321#", "dtmf", 3.2),
                               Turn("caller", "card 4111111111111111 please", t=7.0)],
                        intent="billing", outcome="transfer: billing", latency_ms=[410.0, 388.5],
                        timings=[{"asr_ms": 200.0, "nlu_ms": 5.0, "turn_ms": 400.0}])
    decision = Decision("transfer", AgentTarget("billing", "number", "+15555550101"),
                        {"intent": "billing", "slots": {"pin": "4321",
                                                        "card_number": "4111111111111111",
                                                        "order_number": "A123"}})
    return record, decision


def _db(tmp_path: Path, **kw: object) -> RecordsDB:
    return RecordsDB(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool", **kw)  # type: ignore[arg-type]


def test_sensitive_names() -> None:
    assert is_sensitive("pin") and is_sensitive("card_number") and is_sensitive("CVV")
    assert not is_sensitive("order_number") and not is_sensitive("spinner")


def test_row_masks_sensitive_slots_everywhere() -> None:
    record, decision = _call()
    row = record_row(record, decision, ended_at=1_700_000_060.0)
    assert row["slots"] == {"pin": MASK, "card_number": MASK, "order_number": "A123"}
    texts = " ".join(t["text"] for t in row["turns"])
    assert "4321" not in texts and "4111111111111111" not in texts and MASK in texts
    assert row["transfer_target"] == "billing" and row["duration_s"] == 60.0
    assert row["intents"] == ["billing"] and row["latency_ms"] == [410.0, 388.5]


def test_row_turns_are_the_transcript_shape_and_old_role_rows_still_load(tmp_path: Path) -> None:
    record, decision = _call()
    row = record_row(record, decision, ended_at=1_700_000_060.0)
    assert row["turns"][0] == {"speaker": "bot", "text": "Your PIN please.", "kind": "say",
                               "t": 0.5}
    db = _db(tmp_path)
    try:
        db.save(record, decision)
        stored = db.get("CA1")
        assert stored is not None
        assert [(t.speaker, t.kind) for t in row_turns(stored)] == [
            ("bot", "say"), ("caller", "dtmf"), ("caller", "speech")]
    finally:
        db.close()
    old = {"turns": [{"role": "caller", "text": "hi", "t": 1.0, "kind": "speech"}]}
    assert row_turns(old) == [Turn("caller", "hi", "speech", 1.0)]


def test_write_is_one_idempotent_row_per_call(tmp_path: Path) -> None:
    db = _db(tmp_path)
    try:
        record, decision = _call()
        db.save(record, decision)
        record.outcome = "transfer: billing (retried)"
        db.save(record, decision)  # e.g. a retry after a crash: replaces, never duplicates
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(CallRow)) == 1
        row = db.get("CA1")
        assert row is not None and row.outcome == "transfer: billing (retried)"
        assert row.slots["pin"] == MASK and row.timings[0]["asr_ms"] == 200.0
        assert [t["kind"] for t in row.turns] == ["say", "dtmf", "speech"]
    finally:
        db.close()


def test_migrations_match_models(tmp_path: Path) -> None:
    db = _db(tmp_path)
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        db.close()
    _db(tmp_path).close()  # re-opening an up-to-date database migrates nothing, fails nothing


def test_store_finish_writes_through_sink(tmp_path: Path) -> None:
    db = _db(tmp_path)
    store = MemoryStore(sinks=[db], log_path=tmp_path / "calls.jsonl")
    try:
        record, decision = _call("CA2")
        store.put_decision("CA2", decision)
        store.finish(record)
        row = db.get("CA2")
        assert row is not None and row.transfer_target == "billing"
        assert '"CA2"' in (tmp_path / "calls.jsonl").read_text()  # the JSONL export remains
    finally:
        store.close()


def test_failed_write_is_spooled_then_retried(tmp_path: Path) -> None:
    errors: list[str] = []
    db = _db(tmp_path, busy_timeout_ms=100, retry_max_s=0.5, on_error=errors.append)
    locker = sqlite3.connect(tmp_path / "calls.db", isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")  # another writer holds the database: writes fail
        record, decision = _call("CA3")
        db.save(record, decision)
        assert errors == ["db_write_failed"] and len(db.spool) == 1
        locker.execute("COMMIT")
        deadline = time.monotonic() + 10
        while len(db.spool) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(db.spool) == 0
        row = db.get("CA3")
        assert row is not None and row.slots["pin"] == MASK
    finally:
        locker.close()
        db.close()


def test_spool_left_by_a_previous_run_is_written_at_start(tmp_path: Path) -> None:
    db = _db(tmp_path)
    record, decision = _call("CA4")
    db.spool.put(record_row(record, decision))  # as if the last run spooled it and then died
    db.close()
    db = _db(tmp_path)
    try:
        deadline = time.monotonic() + 10
        while db.get("CA4") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert db.get("CA4") is not None and len(db.spool) == 0
    finally:
        db.close()


WRITER = textwrap.dedent("""
    import sys
    from ivr.store import CallRecord, Decision, Turn
    from ivr.store.records import RecordsDB
    db = RecordsDB(sys.argv[1], sys.argv[2])
    i = 0
    while True:
        rec = CallRecord(f"CA{i:06d}", "+1", "+2", turns=[Turn("caller", "x" * 2000, t=1.0)] * 20)
        db.save(rec, Decision("hangup"))
        print(rec.call_sid, flush=True)  # printed only after its transaction committed
        i += 1
""")


def test_kill_9_mid_write_never_corrupts_or_loses_committed_calls(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'calls.db'}"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url, str(tmp_path / "spool")],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    committed: list[str] = []
    while len(committed) < 40:
        line = proc.stdout.readline()
        assert line, "writer died before writing"
        committed.append(line.strip())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    committed += [line.strip() for line in proc.stdout.read().splitlines() if line.strip()]
    conn = sqlite3.connect(tmp_path / "calls.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in conn.execute("SELECT call_sid FROM calls")}
    finally:
        conn.close()
    assert set(committed) <= stored


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real PostgreSQL server (``pgserver``: binaries in a PyPI wheel) on a Unix socket."""
    try:
        import pgserver  # type: ignore[import-untyped]
    except ImportError:
        pytest.skip("pgserver not installed (dev extra): PostgreSQL tests need it")
    server = pgserver.get_server(str(tmp_path_factory.mktemp("pg")), cleanup_mode="stop")
    uri = server.get_uri()  # postgresql://postgres:@/postgres?host=/tmp/...
    try:
        yield uri.replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        server.cleanup()


def test_postgresql_migrations_and_upserts(postgres_url: str, tmp_path: Path) -> None:
    db = RecordsDB(postgres_url, tmp_path / "spool")
    try:
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
        record, decision = _call("CA-PG")
        db.save(record, decision)
        db.save(record, decision)
        with db.session() as s:
            assert s.scalar(select(func.count()).select_from(CallRow)) == 1
        row = db.get("CA-PG")
        assert row is not None and row.slots["pin"] == MASK
        assert row.started_at.timestamp() == 1_700_000_000.0  # timezone-aware round trip
        assert len(db.spool) == 0
    finally:
        db.close()
