"""The durable record of every finished call, in a real database (SQLAlchemy 2 + Alembic).

SQLite file by default (``--db sqlite:///calls.db``), any SQLAlchemy URL for a fleet
(``postgresql+psycopg://...``). One row per call, written once when the call ends, as one
transaction, as an idempotent upsert by CallSid (a retried write never duplicates). A write that
fails is *spooled*: the row is written to a local directory (temp file, fsync, atomic rename) and
re-sent by a background thread, and at the next start-up, until the database takes it. SQLite
runs in WAL mode with full fsync, so ``kill -9`` mid-write loses nothing already committed and
never corrupts the file.

Sensitive slot values (a simple name list, :data:`SENSITIVE_WORDS`) are masked before anything
is written, including where the value appears in the transcript (e.g. a PIN typed as DTMF).

Other code gets the engine and sessions from :class:`RecordsDB` (``db.engine``,
``db.session()``) and adds tables with its own Alembic revisions in
``ivr/store/migrations/versions`` (see the README there); :func:`migrate` applies all heads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, Float, MetaData, String, create_engine, event, update
from sqlalchemy import insert as sa_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from ivr.errors import ConfigError
from ivr.store.base import CallRecord, Decision, ErrorHook
from ivr.transcript import Turn

log = logging.getLogger(__name__)

SENSITIVE_WORDS = frozenset({"card", "pin", "cvv", "cvc", "ssn", "password", "passcode",
                             "iban", "security", "secret", "otp"})
"""A slot whose name contains one of these words (split on ``_``/``-``) is masked everywhere."""
MASK = "[masked]"


class Base(DeclarativeBase):
    """Declarative base for the records database; other modules may add their tables to it
    (and must ship an Alembic revision creating them)."""

    metadata = MetaData(naming_convention={
        "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    })


class CallRow(Base):
    """One finished call. JSON columns keep the per-turn detail queryable without a join."""

    __tablename__ = "calls"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    from_number: Mapped[str] = mapped_column(String(64), default="")
    to_number: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    ended_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float] = mapped_column(Float)
    outcome: Mapped[str | None] = mapped_column(String(128), index=True)
    transfer_target: Mapped[str | None] = mapped_column(String(128))
    intent: Mapped[str | None] = mapped_column(String(128), index=True)
    intents: Mapped[list[str]] = mapped_column(JSON)
    slots: Mapped[dict[str, Any]] = mapped_column(JSON)
    turns: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    latency_ms: Mapped[list[float]] = mapped_column(JSON)
    timings: Mapped[list[dict[str, float]]] = mapped_column(JSON)
    errors: Mapped[list[str]] = mapped_column(JSON)


ROUTED = "routed_outcome"
"""Decision-context key: the outcome routing (ivr.contact) gave the call ("transfer: general"
after billing was full), which the row's outcome names instead of the bot's first choice."""


def final_outcome(record: CallRecord, decision: Decision | None) -> str | None:
    """The call's outcome: where routing sent a transferred caller when it knows (the stored
    decision carries it), else what the bot part decided. A caller who hung up on the bot
    keeps that outcome."""
    routed = decision.context.get(ROUTED) if decision is not None else None
    if isinstance(routed, str) and routed and (record.outcome or "").startswith("transfer"):
        return routed
    return record.outcome


def is_sensitive(slot: str) -> bool:
    return any(word in SENSITIVE_WORDS for word in re.split(r"[_\-\s]+", slot.lower()))


def record_row(record: CallRecord, decision: Decision | None,
               ended_at: float | None = None) -> dict[str, Any]:
    """The database row for a finished call, with sensitive values masked (pure; tested)."""
    context = decision.context if decision is not None else {}
    raw_slots = context.get("slots")
    slots: dict[str, Any] = dict(raw_slots) if isinstance(raw_slots, Mapping) else {}
    secrets_ = [str(v) for k, v in slots.items() if is_sensitive(k) and v not in (None, "")]
    slots = {k: (MASK if is_sensitive(k) and v not in (None, "") else v) for k, v in slots.items()}

    def scrub(text: str) -> str:
        for value in sorted(secrets_, key=len, reverse=True):
            text = text.replace(value, MASK)
        return text

    intents = [i for i in (record.intent, context.get("intent")) if isinstance(i, str) and i]
    target = decision.target.name if decision is not None and decision.target else None
    outcome = final_outcome(record, decision)
    if outcome != record.outcome and outcome is not None and ":" in outcome:
        target = outcome.split(":", 1)[1].strip()
    end = time.time() if ended_at is None else ended_at
    return {
        "call_sid": record.call_sid,
        "from_number": record.from_number,
        "to_number": record.to_number,
        "started_at": datetime.fromtimestamp(record.started_at, timezone.utc),
        "ended_at": datetime.fromtimestamp(end, timezone.utc),
        "duration_s": round(max(0.0, end - record.started_at), 3),
        "outcome": outcome,
        "transfer_target": target,
        "intent": record.intent or (intents[0] if intents else None),
        "intents": list(dict.fromkeys(intents)),
        "slots": slots,
        # ivr.transcript's JSON shape (speaker, text, kind, t[, redactions]); read it back with
        # row_turns, which also accepts rows written before the one turn type (``role``).
        "turns": [{**t.to_json(), "text": scrub(t.text)} for t in record.turns],
        "latency_ms": list(record.latency_ms),
        "timings": [dict(x) for x in record.timings],
        "errors": [scrub(e) for e in record.errors],
    }


def row_turns(row: CallRow | Mapping[str, Any]) -> list[Turn]:
    """A stored row's ``turns`` as :class:`ivr.transcript.Turn` (the one parsing edge for rows).

    Rows are ``{"speaker", "text", "kind", "t", "redactions"?}`` (see :func:`record_row`). Rows
    written before the store used ivr.transcript's turn say ``role`` instead of ``speaker``: that
    alias is accepted here, and only here, so old databases and spools stay readable.
    """
    raw = row.turns if isinstance(row, CallRow) else row.get("turns")
    out: list[Turn] = []
    for t in raw or []:
        if isinstance(t, Mapping) and "speaker" not in t and "role" in t:
            t = {**{k: v for k, v in t.items() if k != "role"}, "speaker": t["role"]}
        out.append(Turn.from_json(t))
    return out


def make_engine(url: str, busy_timeout_ms: int = 10_000) -> Engine:
    """An engine for ``url``; SQLite gets WAL, full fsync and a busy timeout so several
    processes can share one file and a killed process never corrupts it."""
    try:
        engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise ConfigError(f"--db {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        path = engine.url.database
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.close()
    return engine


def migrate(engine: Engine, attempts: int = 5) -> None:
    """Bring the schema to every head revision (other features' branches may add their own).

    Several processes may start at once on one database: a loser of the race to create a table
    retries after the winner has finished.
    """
    from alembic import command
    from alembic.config import Config

    logging.getLogger("alembic").setLevel(logging.WARNING)  # its INFO lines are set-up noise
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    for attempt in range(attempts):
        try:
            with engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "heads")
            return
        except SQLAlchemyError:
            if attempt == attempts - 1:
                raise
            log.warning("records database migration raced another process; retrying")
            time.sleep(0.5 * (attempt + 1))


class Spool:
    """Rows the database refused, one JSON file each, written atomically and fsynced."""

    def __init__(self, directory: str | Path) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)

    def put(self, row: Mapping[str, Any]) -> Path:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", str(row["call_sid"]))[:80]
        final = self.dir / f"{safe}.json"
        tmp = self.dir / f".{safe}.{os.getpid()}.{threading.get_ident()}.tmp"
        data = json.dumps(dict(row), default=_json_default).encode()
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return final

    def items(self) -> Iterator[tuple[Path, dict[str, Any]]]:
        for path in sorted(self.dir.glob("*.json")):
            try:
                row = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                log.error("spooled record %s unreadable (kept for an operator): %s", path, exc)
                continue
            for key in ("started_at", "ended_at"):
                row[key] = datetime.fromisoformat(row[key])
            yield path, row

    def __len__(self) -> int:
        return sum(1 for _ in self.dir.glob("*.json"))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class RecordsDB:
    """The records database as a :class:`~ivr.store.base.RecordSink`, with its spool.

    ``migrate_now``: apply migrations on open (the server does it once, before forking workers).
    """

    def __init__(self, url: str, spool_dir: str | Path, *, migrate_now: bool = True,
                 on_error: ErrorHook | None = None, retry_max_s: float = 30.0,
                 busy_timeout_ms: int = 10_000) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_ms)
        self.session = sessionmaker(self.engine, expire_on_commit=False)
        self.spool = Spool(spool_dir)
        self.on_error = on_error
        self._retry_max_s = retry_max_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        if migrate_now:
            migrate(self.engine)
        self._thread = threading.Thread(target=self._retry_loop, daemon=True,
                                        name="records-spool")
        self._thread.start()
        if len(self.spool):
            self._wake.set()  # records spooled by an earlier run: send them now

    def save(self, record: CallRecord, decision: Decision | None) -> None:
        """Write the call's row; on failure spool it (raises only if even the spool fails)."""
        row = record_row(record, decision)
        try:
            self.write_row(row)
        except SQLAlchemyError as exc:
            log.error("call %s: records database write failed, spooled for retry: %s",
                      record.call_sid, exc)
            self.spool.put(row)
            self._wake.set()
            if self.on_error is not None:
                self.on_error("db_write_failed")

    def write_row(self, row: Mapping[str, Any]) -> None:
        """One transaction: insert, or replace the row with the same CallSid."""
        values = dict(row)
        with self.engine.begin() as conn:
            dialect = conn.dialect.name
            if dialect in ("sqlite", "postgresql"):
                from sqlalchemy.dialects import postgresql, sqlite

                insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
                stmt = insert(CallRow).values(**values)
                conn.execute(stmt.on_conflict_do_update(
                    index_elements=["call_sid"],
                    set_={k: stmt.excluded[k] for k in values if k != "call_sid"}))
            else:
                res = conn.execute(update(CallRow).where(CallRow.call_sid == values["call_sid"])
                                   .values(**values))
                if res.rowcount == 0:
                    conn.execute(sa_insert(CallRow).values(**values))

    def set_outcome(self, call_sid: str, outcome: str, target: str) -> None:
        """Routing sent the call elsewhere than the bot asked (overflow, failed dial, queue,
        call-back): the row, when already written, names where it went. A row not written
        yet takes the outcome from the stored decision instead (:func:`record_row`)."""
        try:
            with self.engine.begin() as conn:
                conn.execute(update(CallRow).where(CallRow.call_sid == call_sid)
                             .values(outcome=outcome, transfer_target=target))
        except SQLAlchemyError as exc:
            log.error("call %s: could not record the routed outcome %r: %s", call_sid,
                      outcome, exc)
            if self.on_error is not None:
                self.on_error("db_write_failed")

    def get(self, call_sid: str) -> CallRow | None:
        with self.session() as s:
            return s.get(CallRow, call_sid)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """``with db.transaction() as s: ...`` commits at the end, rolls back on error."""
        with self.session.begin() as s:
            yield s

    def flush_spool(self) -> int:
        """Send every spooled row to the database; returns how many are still spooled."""
        for path, row in self.spool.items():
            self.write_row(row)
            path.unlink()
            log.info("call %s: spooled record written to the database", row["call_sid"])
        return len(self.spool)

    def _retry_loop(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            self._wake.wait()
            if self._stop.is_set():
                return
            try:
                left = self.flush_spool()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("records database still failing (%s); retry in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(self._retry_max_s, delay * 2)
                continue
            delay = 0.5
            if left == 0:
                self._wake.clear()
                if len(self.spool):  # a record spooled between the flush and the clear
                    self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"RecordsDB({self.engine.url.render_as_string(hide_password=True)!r})"
