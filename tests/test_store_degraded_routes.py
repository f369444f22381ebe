"""The webhook routes when the shared store is unreachable (a real refused connection) and when
a stream died without a decision: callers always go somewhere, records are still written."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from twilio.request_validator import RequestValidator

from ivr.app import create_app
from ivr.config import Settings
from ivr.store import CallRecord, MemoryStore
from ivr.store.records import RecordsDB
from ivr.store.redis_store import RedisStore

from .fakes import fake_services

TOKEN = "secret"
BASE = "https://ivr.example.com"


def _post(client, path: str, form: dict[str, str]):  # type: ignore[no-untyped-def]
    sig = RequestValidator(TOKEN).compute_signature(BASE + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": sig})


def _client(store):  # type: ignore[no-untyped-def]
    settings = Settings(dialplan=Path("unused.yaml"), public_url=BASE, auth_token=TOKEN)
    services = dataclasses.replace(fake_services(), store=store)
    return create_app(settings, services).test_client()


def test_webhook_with_redis_down_transfers_to_default_group() -> None:
    store = RedisStore("redis://127.0.0.1:1/0", timeout_s=0.2)  # nothing listens there
    try:
        res = _post(_client(store), "/twilio/voice", {"CallSid": "CA1", "From": "+1"})
        body = res.get_data(as_text=True)
        assert res.status_code == 200
        assert "<Connect" not in body and '<Enqueue workflowSid="WW0123456789abcdef">' in body
        assert store.errors.counts["store_unavailable_webhook"] == 1
        assert store.errors.counts["redis_unreachable"] >= 1
    finally:
        store.close()


def test_orphaned_call_gets_default_group_and_a_record(tmp_path: Path) -> None:
    db = RecordsDB(f"sqlite:///{tmp_path / 'calls.db'}", tmp_path / "spool")
    store = MemoryStore(sinks=[db])
    try:
        store.put_record(CallRecord("CA2", "+15550100"))  # the webhook ran; the stream died
        res = _post(_client(store), "/twilio/after-stream",
                    {"CallSid": "CA2", "CallStatus": "in-progress"})
        assert "<Enqueue" in res.get_data(as_text=True)
        row = db.get("CA2")
        assert row is not None and row.outcome == "transfer: general"
        assert row.transfer_target == "general" and row.from_number == "+15550100"
    finally:
        store.close()
