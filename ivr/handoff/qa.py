"""Call QA: automatic checks on the bot side of each finished call, stored with its record.

Checks (each a :class:`Finding` with the evidence an operator needs to replay the moment):

- ``dead_air``: the caller waited more than :data:`DEAD_AIR_S` for the bot after their turn;
- ``repeated_prompt``: the bot said the same thing three times or more;
- ``no_match_streak``: two or more no-match apologies in a row;
- ``missing_recording_notice``: the plan announces recording but this call never heard it;
- ``slow_turn``: a turn's response latency over the budget (:data:`LATENCY_BUDGET_MS`);
- ``transfer_without_context``: handed to an agent with no intent and none of the caller's words;
- ``hangup_during_long_prompt``: the caller hung up while a long prompt was playing.

Findings go to the ``call_qa`` table (Alembic ``0003_call_qa``) by :class:`QaSink`, a record sink,
and :func:`summary` sums them per plan.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, DateTime, String, select
from sqlalchemy.orm import Mapped, mapped_column

from ivr.store.base import CallRecord, Decision
from ivr.store.records import Base, RecordsDB

DEAD_AIR_S = 3.0
LATENCY_BUDGET_MS = 1500.0
LONG_PROMPT_WORDS = 25
NO_MATCH_CUES = ("didn't get that", "didn't understand", "didn't catch that", "still didn't")
CHECKS = ("dead_air", "repeated_prompt", "no_match_streak", "missing_recording_notice",
          "slow_turn", "transfer_without_context", "hangup_during_long_prompt")


@dataclass(frozen=True, slots=True)
class Finding:
    check: str
    detail: str
    t: float | None = None
    """Seconds into the call, where known."""


def check_call(record: CallRecord, decision: Decision | None, *,
               recording_notice: str | None = None,
               latency_budget_ms: float = LATENCY_BUDGET_MS) -> list[Finding]:
    """All QA findings for one finished call (pure)."""
    out: list[Finding] = []
    turns = record.turns
    for prev, nxt in zip(turns, turns[1:], strict=False):
        if prev.speaker == "caller" and nxt.speaker == "bot" and nxt.t - prev.t > DEAD_AIR_S:
            out.append(Finding("dead_air", f"{nxt.t - prev.t:.1f} s of silence before "
                               f"'{nxt.text[:60]}'", prev.t))
    said = Counter(t.text for t in turns if t.speaker == "bot" and t.kind == "say" and t.text)
    for text, n in said.items():
        if n >= 3:
            out.append(Finding("repeated_prompt", f"said {n} times: '{text[:80]}'"))
    streak = 0
    for i, t in enumerate(turns):  # each caller turn: was the bot's first reply an apology?
        if t.speaker != "caller":
            continue
        reply = next((r for r in turns[i + 1:] if r.speaker == "bot"), None)
        if reply is None:
            break
        streak = streak + 1 if any(c in reply.text.lower() for c in NO_MATCH_CUES) else 0
        if streak == 2:
            out.append(Finding("no_match_streak", "two no-match apologies in a row", t.t))
    if recording_notice and not any(recording_notice.lower() in t.text.lower()
                                    for t in turns if t.speaker == "bot"):
        out.append(Finding("missing_recording_notice", f"never said '{recording_notice}'"))
    for i, ms in enumerate(record.latency_ms):
        if ms > latency_budget_ms:
            out.append(Finding("slow_turn", f"turn {i + 1}: {ms:.0f} ms > "
                               f"{latency_budget_ms:.0f} ms budget"))
    if decision is not None and decision.outcome == "transfer":
        ctx: Mapping[str, Any] = decision.context
        words = [t for t in ctx.get("transcript") or []
                 if isinstance(t, Mapping) and t.get("speaker") == "caller" and t.get("text")]
        if not ctx.get("intent") and not words:
            out.append(Finding("transfer_without_context", "no intent and no caller words"))
    if record.outcome == "caller_hangup" and turns and turns[-1].speaker == "bot":
        last = turns[-1]
        if len(last.text.split()) >= LONG_PROMPT_WORDS:
            out.append(Finding("hangup_during_long_prompt",
                               f"{len(last.text.split())}-word prompt", last.t))
    return out


class QaRow(Base):
    __tablename__ = "call_qa"

    call_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan: Mapped[str] = mapped_column(String(128), index=True)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class QaSink:
    """A record sink: run the checks when a call ends and store them beside its record."""

    def __init__(self, db: RecordsDB, plan: str, recording_notice: str | None = None) -> None:
        self.db, self.plan, self.notice = db, plan, recording_notice

    def save(self, record: CallRecord, decision: Decision | None) -> None:
        findings = [asdict(f) for f in check_call(record, decision,
                                                  recording_notice=self.notice)]
        with self.db.transaction() as s:
            row = s.get(QaRow, record.call_sid)
            if row is None:
                s.add(QaRow(call_sid=record.call_sid, plan=self.plan, findings=findings,
                            checked_at=datetime.now(timezone.utc)))
            else:
                row.findings, row.checked_at = findings, datetime.now(timezone.utc)


def summary(db: RecordsDB, plan: str) -> dict[str, Any]:
    """Per plan: calls checked and how many calls had each finding."""
    with db.session() as s:
        rows = list(s.scalars(select(QaRow).where(QaRow.plan == plan)))
    counts = Counter(c for r in rows for c in {f["check"] for f in r.findings})
    return {"plan": plan, "calls": len(rows), "calls_with": {c: counts.get(c, 0) for c in CHECKS}}
