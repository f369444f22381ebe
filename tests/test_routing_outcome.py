"""The call record's outcome names the group routing chose (after an overflow or a failed
dial, the one the caller ended at), in the real records database (SQLite), whichever of the
stream's end and Twilio's action request is processed first."""

from __future__ import annotations

from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from ivr.caller.transfer import Agents
from ivr.contact.profiles import MemoryDirectory, read_customers_csv
from ivr.contact.service import ContactCentre
from ivr.store import CallRecord, MemoryStore
from ivr.store.records import RecordsDB
from tests.routing_harness import BASE, TOKEN, Line

CSV = Path(__file__).parent / "fixtures" / "routing" / "customers.csv"
CARA, NEW = "+15555550199", "+15555550123"  # Cara: platinum (rule premium_to_senior)


@pytest.fixture
def db(tmp_path: Path):  # type: ignore[no-untyped-def]
    records = RecordsDB(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool")
    yield records
    records.close()


@pytest.fixture
def line(db: RecordsDB) -> Line:
    store = MemoryStore(sinks=[db])
    store.records = db
    return Line(ContactCentre(directory=MemoryDirectory(read_customers_csv(CSV))), store)


def finish(line: Line, sid: str, number: str, outcome: str) -> None:
    """What the session does when the stream ends: the bot part's record, to every sink."""
    line.store.finish(CallRecord(sid, number, "+15550000000", outcome=outcome, intent="billing"))


def row(db: RecordsDB, sid: str) -> tuple[str | None, str | None]:
    r = db.get(sid)
    assert r is not None
    return r.outcome, r.transfer_target


def after_stream(line: Line, sid: str, number: str, agents: Agents | None = None) -> str:
    from ivr.caller.transfer import TransferFollower

    params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": number,
              "To": "+15550000000", "CallStatus": "in-progress"}
    body = line.post(BASE + "/twilio/after-stream", params)
    return TransferFollower(line.post, params, agents, None, BASE).run(
        body, BASE + "/twilio/after-stream").outcome


def test_rule_choice_recorded_when_the_stream_ended_first(line: Line, db: RecordsDB) -> None:
    line.bot_part("CAcara", CARA, "billing")
    finish(line, "CAcara", CARA, "transfer: billing")
    assert row(db, "CAcara") == ("transfer: billing", "billing")  # the bot's choice, for now
    assert after_stream(line, "CAcara", CARA) == "connected +15555550109"
    assert row(db, "CAcara") == ("transfer: senior", "senior")


def test_overflow_recorded_when_the_action_request_came_first(line: Line,
                                                              db: RecordsDB) -> None:
    for i in range(3):
        assert line.centre.occupancy.try_claim("billing", f"CAbusy-{i}", 3, 600)
    line.bot_part("CAnew", NEW, "billing")
    assert after_stream(line, "CAnew", NEW) == "connected +15555550100"
    finish(line, "CAnew", NEW, "transfer: billing")  # the session's record says billing
    assert row(db, "CAnew") == ("transfer: general", "general")
    sig = RequestValidator(TOKEN).compute_signature(BASE + "/calls/CAnew", {})
    live = line.client.get("/calls/CAnew", headers={"X-Twilio-Signature": sig})
    assert live.status_code == 200, live.status_code  # the developer view the player reads
    assert live.get_json()["outcome"] == "transfer: general"


def test_failed_dial_records_the_group_the_caller_ended_at(line: Line, db: RecordsDB) -> None:
    line.bot_part("CAna", NEW, "billing")
    finish(line, "CAna", NEW, "transfer: billing")
    out = after_stream(line, "CAna", NEW, Agents(behaviour={"+15555550101": "no-answer"}))
    assert out == "connected +15555550100"
    assert row(db, "CAna") == ("transfer: general", "general")


def test_caller_who_hung_up_on_the_bot_keeps_that_outcome(line: Line, db: RecordsDB) -> None:
    line.bot_part("CAgone", NEW, "billing")
    line.post(BASE + "/twilio/after-stream", {"CallSid": "CAgone", "From": NEW,
                                              "To": "+15550000000", "CallStatus": "completed"})
    finish(line, "CAgone", NEW, "caller_hangup")
    assert row(db, "CAgone")[0] == "caller_hangup"


def test_unreachable_routing_state_still_transfers(db: RecordsDB) -> None:
    """Degraded mode: Redis (seats, queue) is down at the action request. The caller still
    gets the plain transfer to the bot's group, and the failure is counted."""
    from ivr.contact.redis_state import RedisOccupancy

    store = MemoryStore(sinks=[db])
    centre = ContactCentre(occupancy=RedisOccupancy("redis://127.0.0.1:9/0"),  # nothing there
                           directory=MemoryDirectory(read_customers_csv(CSV)))
    line = Line(centre, store)
    line.bot_part("CAdown", NEW, "billing")
    params = {"CallSid": "CAdown", "AccountSid": "AC" + "0" * 32, "From": NEW,
              "To": "+15550000000", "CallStatus": "in-progress"}
    body = line.post(BASE + "/twilio/after-stream", params)
    assert "+15555550101</Number>" in body  # billing, as the bot decided
    assert store.errors.counts.get("routing_state_unavailable") == 1
