"""Media Streams parsing at the edge: real Twilio frames in, typed events out."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from ivr import wire
from ivr.errors import ProtocolError

# Exactly as Twilio sent them in the logged call in shared/data/twilio (values are strings).
START = {
    "event": "start",
    "sequenceNumber": "1",
    "start": {
        "accountSid": "AC18fbd524d33614fba208030751dffdca",
        "streamSid": "9e7ee906-377b-408f-a852-eebfb834422a",
        "callSid": "CA3c95a2a6bba5fde93a5dea01e388e8fb",
        "tracks": ["inbound"],
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        "customParameters": {"aCutomParameter": "aCustomValue that was set in TwiML"},
    },
    "streamSid": "9e7ee906-377b-408f-a852-eebfb834422a",
}


def test_connected() -> None:
    ev = wire.parse_message('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    assert ev == wire.Connected("Call", "1.0.0")


def test_start_from_real_call() -> None:
    ev = wire.parse_message(json.dumps(START))
    assert isinstance(ev, wire.Start)
    assert ev.call_sid == "CA3c95a2a6bba5fde93a5dea01e388e8fb"
    assert ev.stream_sid == "9e7ee906-377b-408f-a852-eebfb834422a"
    assert ev.sample_rate == 8000 and ev.encoding == "audio/x-mulaw"
    assert ev.custom_parameters == {"aCutomParameter": "aCustomValue that was set in TwiML"}


def test_media_with_real_payload(twilio_data: Path) -> None:
    payload = (twilio_data / "first_media_payload.ulaw").read_bytes()
    assert len(payload) == 160
    msg = {
        "event": "media",
        "sequenceNumber": "2",
        "media": {"track": "inbound", "chunk": "1", "timestamp": "52",
                  "payload": base64.b64encode(payload).decode()},
        "streamSid": "9e7ee906-377b-408f-a852-eebfb834422a",
    }
    ev = wire.parse_message(json.dumps(msg))
    assert ev == wire.Media(track="inbound", chunk=1, timestamp_ms=52, payload=payload)


def test_dtmf_mark_stop() -> None:
    assert wire.parse_message(
        '{"event":"dtmf","streamSid":"MZ1","sequenceNumber":"5",'
        '"dtmf":{"track":"inbound_track","digit":"7"}}'
    ) == wire.Dtmf("7")
    assert wire.parse_message(
        '{"event":"mark","sequenceNumber":"103","streamSid":"MZ1","mark":{"name":"say-1"}}'
    ) == wire.Mark("say-1")
    stop = wire.parse_message(
        '{"event":"stop","sequenceNumber":"9","streamSid":"MZ1",'
        '"stop":{"accountSid":"AC1","callSid":"CA1"}}'
    )
    assert stop == wire.Stop("CA1")


def test_unknown_event_is_ignored_not_fatal() -> None:
    assert wire.parse_message('{"event":"somethingNew","x":1}') is None


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1,2]",
        '{"no_event": true}',
        '{"event":"media"}',
        '{"event":"media","media":{"payload":"@@@not base64"}}',
        '{"event":"media","media":{"payload":"AAAA","timestamp":"soon"}}',
        '{"event":"dtmf","dtmf":{"digit":"x"}}',
        '{"event":"start","start":{"customParameters":[1]}}',
        '{"event":"mark","mark":{}}',
    ],
)
def test_malformed_frames_raise_protocol_error(raw: str) -> None:
    with pytest.raises(ProtocolError):
        wire.parse_message(raw)


def test_outbound_messages_round_trip() -> None:
    media = json.loads(wire.media_message("MZ1", b"\xff\x7f"))
    assert media == {"event": "media", "streamSid": "MZ1",
                     "media": {"payload": base64.b64encode(b"\xff\x7f").decode()}}
    assert json.loads(wire.mark_message("MZ1", "m1"))["mark"] == {"name": "m1"}
    assert json.loads(wire.clear_message("MZ1")) == {"event": "clear", "streamSid": "MZ1"}
