"""The customer directory, stored call-back requests and call history in the records database.

Tables ``customers`` and ``callbacks`` live beside the store's ``calls`` (same SQLAlchemy base,
own Alembic revision ``0002_contact``). History is read from ``calls`` itself: what the caller
called about before and how the bot part ended, so "repeat caller" needs no second log.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, Float, Integer, String, select, update
from sqlalchemy.orm import Mapped, mapped_column

from ivr.contact.profiles import PastCall, Profile
from ivr.contact.queue import CallbackRequest, CallbackStatus
from ivr.store.records import Base, CallRow, RecordsDB


class CustomerRow(Base):
    __tablename__ = "customers"

    number: Mapped[str] = mapped_column(String(32), primary_key=True)
    """E.164, normalised with phonenumbers on import."""
    name: Mapped[str] = mapped_column(String(200), default="")
    tier: Mapped[str] = mapped_column(String(32), default="standard")
    language: Mapped[str] = mapped_column(String(16), default="")
    segments: Mapped[list[str]] = mapped_column(JSON)
    open_tickets: Mapped[list[str]] = mapped_column(JSON)
    account: Mapped[str] = mapped_column(String(64), default="", index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CallbackRow(Base):
    __tablename__ = "callbacks"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    number: Mapped[str] = mapped_column(String(32), index=True)
    group: Mapped[str] = mapped_column(String(128))
    intent: Mapped[str] = mapped_column(String(128), default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[float] = mapped_column(Float, index=True)
    call_sid: Mapped[str] = mapped_column(String(64))
    window: Mapped[str] = mapped_column(String(64), default="asap")
    reason: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), index=True, default="pending")


def _profile(row: CustomerRow) -> Profile:
    return Profile(number=row.number, name=row.name, tier=row.tier, language=row.language,
                   segments=tuple(row.segments or ()), open_tickets=tuple(row.open_tickets or ()),
                   account=row.account)


class DbDirectory:
    """:class:`~ivr.contact.profiles.Directory` on the ``customers`` table."""

    def __init__(self, db: RecordsDB) -> None:
        self.db = db

    def lookup(self, number: str) -> Profile | None:
        with self.db.session() as s:
            row = s.get(CustomerRow, number)
            return _profile(row) if row is not None else None

    def by_account(self, account: str) -> Profile | None:
        with self.db.session() as s:
            row = s.scalars(select(CustomerRow).where(CustomerRow.account == account)).first()
            return _profile(row) if row is not None else None

    def import_profiles(self, profiles: list[Profile]) -> int:
        """Insert or replace every profile in one transaction; returns how many."""
        now = datetime.now(timezone.utc)
        with self.db.transaction() as s:
            for p in profiles:
                s.merge(CustomerRow(number=p.number, name=p.name, tier=p.tier,
                                    language=p.language, segments=list(p.segments),
                                    open_tickets=list(p.open_tickets), account=p.account,
                                    updated_at=now))
        return len(profiles)


class DbCallbacks:
    """:class:`~ivr.contact.queue.CallbackStore` on the ``callbacks`` table: durable, and
    ``claim`` is a conditional UPDATE, so two diallers never take the same request."""

    def __init__(self, db: RecordsDB) -> None:
        self.db = db

    def add(self, request: CallbackRequest) -> None:
        with self.db.transaction() as s:
            s.add(CallbackRow(**request.to_json()))

    def _req(self, row: CallbackRow) -> CallbackRequest:
        status: CallbackStatus = row.status  # type: ignore[assignment]
        return CallbackRequest(number=row.number, group=row.group, intent=row.intent,
                               priority=row.priority, requested_at=row.requested_at,
                               call_sid=row.call_sid, window=row.window, reason=row.reason,
                               id=row.id, status=status)

    def pending(self) -> list[CallbackRequest]:
        with self.db.session() as s:
            rows = s.scalars(select(CallbackRow).where(CallbackRow.status == "pending")
                             .order_by(CallbackRow.priority.desc(), CallbackRow.requested_at))
            return [self._req(r) for r in rows]

    def claim(self) -> CallbackRequest | None:
        for req in self.pending():
            with self.db.transaction() as s:
                done = s.execute(update(CallbackRow)
                                 .where(CallbackRow.id == req.id, CallbackRow.status == "pending")
                                 .values(status="dialling"))
                if getattr(done, "rowcount", 0) == 1:
                    return replace(req, status="dialling")
        return None

    def set_status(self, request_id: str, status: CallbackStatus) -> None:
        with self.db.transaction() as s:
            s.execute(update(CallbackRow).where(CallbackRow.id == request_id)
                      .values(status=status))


class DbHistory:
    """:class:`~ivr.contact.profiles.History` read from the finished calls in ``calls``."""

    def __init__(self, db: RecordsDB) -> None:
        self.db = db

    def add(self, call: PastCall) -> None:
        """Nothing to do: the call's own row is written when it ends."""

    def since(self, number: str, t: float) -> list[PastCall]:
        start = datetime.fromtimestamp(t, timezone.utc)
        with self.db.session() as s:
            rows = s.execute(select(CallRow.intent, CallRow.outcome, CallRow.started_at,
                                    CallRow.call_sid)
                             .where(CallRow.from_number == number, CallRow.started_at >= start))
            return [PastCall(number, intent or "", outcome or "", _ts(at), sid)
                    for intent, outcome, at, sid in rows]


def _ts(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).timestamp()
