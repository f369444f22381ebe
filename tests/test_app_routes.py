"""The <Connect action> route: TwiML for each decision, caller hang-up, missing decision."""

from __future__ import annotations

from pathlib import Path

import pytest
from twilio.request_validator import RequestValidator

from ivr.app import create_app
from ivr.config import Settings
from ivr.dialog import AgentTarget
from ivr.store import CallRecord, Decision

from .fakes import fake_services
from .test_engine_support import Caller, factory

TOKEN = "secret"
BASE = "https://ivr.example.com"
ACTION = BASE + "/twilio/after-stream"


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    settings = Settings(dialplan=Path("unused.yaml"), public_url=BASE, auth_token=TOKEN)
    return create_app(settings, fake_services()).test_client()


def post_action(client, sid: str, status: str = "in-progress"):  # type: ignore[no-untyped-def]
    form = {"CallSid": sid, "AccountSid": "AC1", "CallStatus": status}
    sig = RequestValidator(TOKEN).compute_signature(ACTION, form)
    return client.post("/twilio/after-stream", data=form, headers={"X-Twilio-Signature": sig})


def store(client):  # type: ignore[no-untyped-def]
    return client.application.config["IVR_SERVICES"].store


def test_transfer_to_number_dials_with_agent_whisper(client) -> None:  # type: ignore[no-untyped-def]
    target = AgentTarget("billing", "number", "+15550001111", timeout_s=20)
    store(client).put_decision("CA1", Decision("transfer", target, {"intent": "billing"}))
    body = post_action(client, "CA1").get_data(as_text=True)
    whisper = "https://ivr.example.com/twilio/whisper?call=CA1"
    assert f'<Dial timeout="20"><Number url="{whisper}">' in body
    assert "+15550001111</Number></Dial>" in body
    assert "<Hangup />" in body  # after an unanswered dial, never dead air


def test_transfer_to_taskrouter_enqueues_task_with_context(client) -> None:  # type: ignore[no-untyped-def]
    target = AgentTarget("general", "taskrouter", "WW123")
    call = Caller(factory())  # the real engine's context, not a hand-made one
    call.say("I want to return my shoes")
    ctx = dict(call.last.context)  # type: ignore[union-attr]
    store(client).put_decision("CA2", Decision("transfer", target, ctx))
    body = post_action(client, "CA2").get_data(as_text=True)
    assert '<Enqueue workflowSid="WW123"><Task>{' in body
    assert '"group": "general"' in body and '"intent": "returns"' in body
    assert "return my shoes" in body


def test_transfer_to_client_and_sip(client) -> None:  # type: ignore[no-untyped-def]
    store(client).put_decision("CA3", Decision("transfer", AgentTarget("s", "client", "alice"),
                                               {"intent": "support"}))
    body = post_action(client, "CA3").get_data(as_text=True)
    assert "<Client><Identity>alice</Identity>" in body and 'name="intent"' in body
    sip = AgentTarget("s", "sip", "sip:a@b.c")
    store(client).put_decision("CA4", Decision("transfer", sip, {}))
    assert "<Sip " in post_action(client, "CA4").get_data(as_text=True)


def test_bot_ended_call_hangs_up(client) -> None:  # type: ignore[no-untyped-def]
    store(client).put_decision("CA5", Decision("hangup"))
    assert "<Hangup />" in post_action(client, "CA5").get_data(as_text=True)


def test_caller_hung_up_gets_empty_response_and_record_kept(client) -> None:  # type: ignore[no-untyped-def]
    store(client).put_record(CallRecord("CA6"))
    body = post_action(client, "CA6", status="completed").get_data(as_text=True)
    assert body.endswith("<Response />")
    record = store(client).get_record("CA6")
    assert record is not None and record.outcome == "caller_hangup"


def test_no_decision_apologises_and_transfers_to_default_group(client) -> None:  # type: ignore[no-untyped-def]
    body = post_action(client, "CA7").get_data(as_text=True)
    assert "<Say>Sorry, something went wrong" in body
    assert '<Enqueue workflowSid="WW0123456789abcdef">' in body


def test_whisper_tells_the_agent_what_the_caller_wants(client) -> None:  # type: ignore[no-untyped-def]
    call = Caller(factory())
    call.say("where is my order")
    call.say("4 5 6 7 8 9")
    call.say("yes")                      # read-back confirmed; the lookup finds nothing
    call.say("agent")
    ctx = dict(call.last.context)  # type: ignore[union-attr]
    store(client).put_decision("CA8", Decision("transfer", AgentTarget("x", "number", "+1"), ctx))
    url = BASE + "/twilio/whisper?call=CA8"
    sig = RequestValidator(TOKEN).compute_signature(url, {})
    body = client.post("/twilio/whisper?call=CA8",
                       headers={"X-Twilio-Signature": sig}).get_data(as_text=True)
    assert "order status" in body and "456789" in body and "where is my order" in body
