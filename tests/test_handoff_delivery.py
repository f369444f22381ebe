"""Handoff from real engine output: each delivery form carries the caller's words, intent, slots
and summary (TaskRouter attributes, <Client> parameters, SIP x- headers, the agent whisper).

The contexts come from the real :class:`ivr.engine.call.PlanCall` on the example shop plan, driven
with real :class:`CallerInput` turns (deterministic word-overlap NLU so the route is certain), then
go through the real Flask routes -- never from a hand-made dict.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from twilio.request_validator import RequestValidator

from ivr.app import create_app
from ivr.config import Settings
from ivr.dialog import Transfer
from ivr.handoff import SCHEMA, HandoffContext
from ivr.handoff.context import MAX_JSON_BYTES
from ivr.handoff.delivery import SIP_HEADERS_MAX
from ivr.store import Decision

from .fakes import fake_services
from .test_engine_support import Caller, factory

TOKEN = "secret"
BASE = "https://ivr.example.com"


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    settings = Settings(dialplan=Path("unused.yaml"), public_url=BASE, auth_token=TOKEN)
    return create_app(settings, fake_services()).test_client()


def handed_over(client, sid: str, *turns: str) -> tuple[str, Transfer]:  # type: ignore[no-untyped-def]
    """Play ``turns`` through the real engine; store its decision; return the action TwiML."""
    f = factory()
    call = Caller(f)
    for text in turns:
        call.say(text)
    t = call.last
    assert isinstance(t, Transfer), call.turn
    store = client.application.config["IVR_SERVICES"].store
    store.put_decision(sid, Decision("transfer", f.agent_group(t.group), dict(t.context)))
    form = {"CallSid": sid, "AccountSid": "AC1", "CallStatus": "in-progress"}
    sig = RequestValidator(TOKEN).compute_signature(BASE + "/twilio/after-stream", form)
    body = client.post("/twilio/after-stream", data=form,
                       headers={"X-Twilio-Signature": sig}).get_data(as_text=True)
    return body, t


def whisper(client, sid: str) -> str:  # type: ignore[no-untyped-def]
    url = BASE + "/twilio/whisper?call=" + sid
    sig = RequestValidator(TOKEN).compute_signature(url, {})
    return client.post("/twilio/whisper?call=" + sid,  # type: ignore[no-any-return]
                       headers={"X-Twilio-Signature": sig}).get_data(as_text=True)


def test_taskrouter_attributes_are_the_versioned_context(client) -> None:  # type: ignore[no-untyped-def]
    body, _ = handed_over(client, "CAtr", "the website isn't working, I can't log in")
    task = ET.fromstring(body).find("./Enqueue/Task")
    assert task is not None and task.text
    attrs = json.loads(task.text)
    assert attrs["schema"] == SCHEMA and attrs["intent"] == "technical support"
    assert attrs["group"] == "tech_support" and attrs["call_sid"] == "CAtr"
    said = [t["text"] for t in attrs["transcript"] if t["speaker"] == "caller"]
    assert said == ["the website isn't working, I can't log in"]
    assert "can't log in" in attrs["summary"] and attrs["summary"].startswith("Wants technical")
    assert attrs["options_tried"] == ["technical support"]
    assert attrs["screen_pop_url"].startswith(BASE + "/agent/calls/CAtr?exp=")
    HandoffContext.model_validate(attrs)  # what we send parses back as the schema


def test_client_parameters_carry_summary_and_intent(client) -> None:  # type: ignore[no-untyped-def]
    body, _ = handed_over(client, "CAcl", "I have a question about my bill")
    params = {p.get("name"): p.get("value") for p in ET.fromstring(body).iter("Parameter")}
    assert params["intent"] == "billing" and params["group"] == "billing"
    assert "question about my bill" in params["summary"]
    assert params["schema"] == SCHEMA
    assert params["screen_pop_url"].startswith(BASE + "/agent/calls/CAcl?exp=")


def test_sip_headers_in_the_uri(client) -> None:  # type: ignore[no-untyped-def]
    body, _ = handed_over(client, "CAsip", "I want to send this back and get a refund")
    sip = ET.fromstring(body).find("./Dial/Sip")
    assert sip is not None and sip.text and sip.get("url", "").endswith("whisper?call=CAsip")
    parts = urlsplit(sip.text)
    assert parts.scheme == "sip" and sip.text.startswith("sip:returns@pbx.example.com?")
    headers = dict(parse_qsl(parts.query))
    assert headers["x-ivr-intent"] == "returns" and headers["x-ivr-call-sid"] == "CAsip"
    assert "get a refund" in headers["x-ivr-summary"]
    assert len(parts.query) <= SIP_HEADERS_MAX


def test_whisper_to_a_phone_agent_has_slots_and_words(client) -> None:  # type: ignore[no-untyped-def]
    body, t = handed_over(client, "CAnum", "where is my order", "4 5 6 7 8 9", "yes", "agent")
    assert "<Number url=" in body
    spoken = ET.fromstring(whisper(client, "CAnum")).findtext("Say") or ""
    assert "order status" in spoken and "456789 (confirmed)" in spoken
    assert "where is my order" in spoken
    assert t.context["slot_meta"]["order_number"]["verified"] is True


def test_declined_option_and_frustration_reach_the_summary(client) -> None:  # type: ignore[no-untyped-def]
    _, t = handed_over(client, "CAfr", "this is useless", "this is useless, nothing works")
    ctx = HandoffContext.from_engine("CAfr", t.group, t.context)
    assert ctx.sentiment.frustrated and ctx.reason == "frustration"
    assert "sounded upset" in ctx.summary and "nothing works" in ctx.summary
    spoken = ET.fromstring(whisper(client, "CAfr")).findtext("Say") or ""
    assert spoken.startswith("Caller is upset.")


def test_context_is_bounded_and_rejects_other_transcript_shapes() -> None:
    call = Caller(factory())
    for _ in range(2):
        call.say("repeat")
    ctx = dict(call.dialog._context())  # type: ignore[attr-defined]
    ctx["transcript"] = ctx["transcript"] * 200
    hc = HandoffContext.from_engine("CAbig", "general", ctx)
    assert len(hc.to_json_str()) <= MAX_JSON_BYTES and hc.transcript
    with pytest.raises(ValueError, match="speaker"):
        HandoffContext.from_engine("CAx", "g", {"transcript": [{"role": "caller", "text": "x"}]})
