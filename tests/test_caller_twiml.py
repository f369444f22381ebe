"""Outcome strings from the TwiML the action URL returns."""

from __future__ import annotations

import pytest

from ivr.caller.player import StreamTwiml, parse_voice_twiml, route_via
from ivr.caller.report import normalize_outcome
from ivr.caller.twiml import TwimlError, parse_twiml


@pytest.mark.parametrize(("body", "record", "outcome", "target"), [
    ('<Response><Dial timeout="20"><Number url="https://x/w">+15550001111</Number></Dial>'
     "<Say>Nobody.</Say><Hangup /></Response>", "transfer: billing", "transfer: billing",
     "number +15550001111"),
    ("<Response><Dial><Number>+15550001111</Number></Dial></Response>", None,
     "transfer: +15550001111", "number +15550001111"),
    ("<Response><Dial>+15550002222</Dial></Response>", None, "transfer: +15550002222",
     "number +15550002222"),
    ("<Response><Dial><Sip>sip:desk@pbx.example.com</Sip></Dial></Response>", "transfer: it",
     "transfer: it", "sip sip:desk@pbx.example.com"),
    ('<Response><Dial><Client><Identity>alice</Identity><Parameter name="group" value="support"/>'
     "</Client></Dial></Response>", "transfer: other", "transfer: support", "client alice"),
    ('<Response><Enqueue workflowSid="WW1"><Task>{"group": "returns", "intent": "r"}</Task>'
     "</Enqueue></Response>", "transfer: other", "transfer: returns", "enqueue WW1"),
    ('<Response><Enqueue workflowSid="WW1"><Task>{"intent": "r"}</Task></Enqueue></Response>',
     "transfer: general", "transfer: general", "enqueue WW1"),
    ("<Response><Say>Sorry, something went wrong.</Say><Dial><Number>+1</Number></Dial>"
     "</Response>", None, "transfer: +1", "number +1"),
    ("<Response><Say>Goodbye.</Say><Hangup/></Response>", "hangup", "hangup", ""),
    ("<Response/>", None, "none", ""),
    ("<Response><Redirect>https://x/next</Redirect></Response>", None,
     "redirect: https://x/next", "https://x/next"),
])
def test_outcomes(body: str, record: str | None, outcome: str, target: str) -> None:
    parsed = parse_twiml('<?xml version="1.0" encoding="UTF-8"?>' + body)
    assert parsed.outcome(record) == outcome and parsed.target == target


def test_says_and_task_are_kept() -> None:
    parsed = parse_twiml('<Response><Say>One moment.</Say><Enqueue workflowSid="WW1">'
                         '<Task>{"group": "billing", "call_sid": "CA1"}</Task></Enqueue>'
                         "</Response>")
    assert parsed.says == ("One moment.",) and parsed.task == {"group": "billing",
                                                               "call_sid": "CA1"}


@pytest.mark.parametrize(("body", "message"), [
    ("<html>oops</html>", "not <Response>"),
    ("Internal Server Error", "did not return XML"),
    ('<Response><Enqueue><Task>{nope</Task></Enqueue></Response>', "<Task> is not JSON"),
])
def test_bad_twiml_is_an_error(body: str, message: str) -> None:
    with pytest.raises(TwimlError, match=message):
        parse_twiml(body)


def test_voice_twiml_gives_stream_action_and_token() -> None:
    body = ('<Response><Connect action="https://ivr.example.com/twilio/after-stream">'
            '<Stream url="wss://ivr.example.com/twilio/media"><Parameter name="token" value="t1"/>'
            "</Stream></Connect><Say>after</Say></Response>")
    got = parse_voice_twiml(body, "https://ivr.example.com/twilio/voice")
    assert isinstance(got, StreamTwiml)
    assert got.stream_url == "wss://ivr.example.com/twilio/media"
    assert got.action_url == "https://ivr.example.com/twilio/after-stream"
    assert got.parameters == {"token": "t1"} and "<Say>after</Say>" in got.after_connect


def test_voice_twiml_without_connect_is_the_outcome() -> None:
    got = parse_voice_twiml("<Response><Say>We are closed.</Say><Hangup/></Response>", "http://x")
    assert got == parse_twiml("<Response><Say>We are closed.</Say><Hangup/></Response>")


def test_requests_go_to_the_given_host_but_keep_the_twiml_path() -> None:
    # TwiML names the public wss:// address; a local --url http:// means plain ws:// to it
    assert route_via("wss://127.0.0.1:5000/twilio/media", "http://127.0.0.1:5000",
                     websocket_=True) == "ws://127.0.0.1:5000/twilio/media"
    assert route_via("wss://ivr.example.com/twilio/media?x=1", "https://ivr.example.com",
                     websocket_=True) == "wss://ivr.example.com/twilio/media?x=1"
    assert route_via("https://ivr.example.com/twilio/after-stream", "http://localhost:5000") \
        == "http://localhost:5000/twilio/after-stream"


def test_outcome_normalisation() -> None:
    assert normalize_outcome("Transfer:billing ") == normalize_outcome("transfer: billing")
