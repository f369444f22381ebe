"""Customers, call-backs and history in the records database (real SQLite via SQLAlchemy,
the store's migrations plus ours)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ivr.contact.db import DbCallbacks, DbDirectory, DbHistory
from ivr.contact.profiles import (
    DirectoryFileError,
    is_repeat,
    normalise_number,
    read_customers_csv,
)
from ivr.contact.queue import CallbackRequest, FileCallbacks
from ivr.dialog import AgentTarget
from ivr.store import CallRecord, Decision, MemoryStore
from ivr.store.records import Base, RecordsDB

# Every model the migrations create a table for (the handoff's QA scores and ticket outbox
# too): compare_metadata sees only the tables imported into Base.metadata.
import ivr.handoff.qa  # noqa: E402, F401  isort: skip
import ivr.handoff.tickets  # noqa: E402, F401  isort: skip

CSV = Path(__file__).parent / "fixtures" / "routing" / "customers.csv"


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    d = RecordsDB(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool")
    yield d
    d.close()


def test_numbers_normalise_to_e164() -> None:
    assert normalise_number("+1 (555) 555-0142") == "+15555550142"
    assert normalise_number("555-555-0177") == "+15555550177"
    assert normalise_number("+44 20 7946 0958") == "+442079460958"
    assert normalise_number("anonymous") is None and normalise_number("") is None


def test_migrations_create_our_tables_exactly(db: RecordsDB) -> None:
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_customers_import_and_lookup(db: RecordsDB) -> None:
    directory = DbDirectory(db)
    assert directory.import_profiles(read_customers_csv(CSV)) == 4
    ana = directory.lookup("+15555550142")
    assert ana is not None and (ana.name, ana.tier, ana.segments) == ("Ana Lima", "gold",
                                                                      ("vip", "newsletter"))
    assert ana.open_tickets == ("T-1001",) and not ana.verified
    assert directory.lookup("+15555550000") is None
    directory.import_profiles(read_customers_csv(CSV))  # re-import replaces, never duplicates
    assert directory.lookup("+15555550177").language == "es"  # type: ignore[union-attr]


def test_bad_csv_rows_are_reported_with_line(tmp_path: Path) -> None:
    bad = tmp_path / "c.csv"
    bad.write_text("number,name\n+15555550142,Ana\nnot-a-number,Bo\n")
    with pytest.raises(DirectoryFileError, match=r"c.csv:3: 'not-a-number' is not a phone"):
        read_customers_csv(bad)
    bad.write_text("phone,name\n1,2\n")
    with pytest.raises(DirectoryFileError, match="number required"):
        read_customers_csv(bad)


def test_callbacks_are_durable_and_claimed_once(db: RecordsDB, tmp_path: Path) -> None:
    a, b = DbCallbacks(db), DbCallbacks(RecordsDB(db.url, tmp_path / "spool2"))
    a.add(CallbackRequest("+15555550177", "billing", "billing", 0, 100.0, "CA1"))
    a.add(CallbackRequest("+15555550142", "senior", "billing", 20, 200.0, "CA2"))
    assert [r.call_sid for r in b.pending()] == ["CA2", "CA1"]  # priority first
    first, second = a.claim(), b.claim()
    assert first is not None and second is not None and first.id != second.id
    assert a.claim() is None
    a.set_status(first.id, "done")
    assert {r.status for r in b.pending()} == set()
    b.db.close()


def test_file_callbacks_survive_restart(tmp_path: Path) -> None:
    path = tmp_path / "callbacks.jsonl"
    FileCallbacks(path).add(CallbackRequest("+15555550177", "billing", "billing", 0, 1.0, "CA"))
    again = FileCallbacks(path)
    assert [r.number for r in again.pending()] == ["+15555550177"]
    taken = again.claim()
    assert taken is not None and FileCallbacks(path).pending() == []


def test_history_comes_from_call_records(db: RecordsDB) -> None:
    store = MemoryStore(sinks=[db])
    target = AgentTarget("orders", "number", "+15555550102")
    rec = CallRecord("CA9", "+15555550177", "+15550000000", started_at=1_000_000.0,
                     intent="orders", outcome="transfer: orders")
    store.put_decision("CA9", Decision("transfer", target, {"intent": "orders"}))
    store.finish(rec)
    history = DbHistory(db)
    assert is_repeat(history, "+15555550177", "orders", 1_000_000.0 + 3 * 86400, days=7)
    assert not is_repeat(history, "+15555550177", "orders", 1_000_000.0 + 9 * 86400, days=7)
    assert not is_repeat(history, "+15555550177", "billing", 1_000_100.0, days=7)
