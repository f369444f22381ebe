"""Property-based fuzzing of the Media Streams edge: whatever arrives on the socket,
``wire.parse_message`` returns a typed event (or None for an unknown event) or raises
:class:`ProtocolError` -- never anything else, which would crash the call's session.

Seeds are the real messages of the logged Twilio call in shared/data/twilio (the log prints them
as JavaScript object literals, which are YAML flow mappings), mutated at every path.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ivr import wire
from ivr.errors import IvrError

from .conftest import TWILIO_DATA
from .mutate import tree_paths, tree_replace

FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
EVENTS = ["connected", "start", "media", "dtmf", "mark", "stop", "clear", "unknown", ""]
KEYS = ["event", "media", "start", "stop", "dtmf", "mark", "streamSid", "payload", "track",
        "chunk", "timestamp", "callSid", "mediaFormat", "customParameters", "tracks", "digit",
        "name", "sampleRate", "channels", "sequenceNumber"]


def real_messages() -> list[dict[str, Any]]:
    """The messages Twilio sent in the logged call, plus a media frame with the logged payload."""
    log = TWILIO_DATA / "media_streams_connect_basic_output.txt"
    if not log.exists():
        return []
    text = log.read_text(encoding="utf-8")
    out: list[dict[str, Any]] = []
    for m in re.finditer(r"received:\s+(\{.*?\n?\})\n(?=\d{4}-|\Z)", text, re.S):
        doc = yaml.safe_load(m.group(1))
        if isinstance(doc, dict):
            out.append(doc)
    payload = (TWILIO_DATA / "first_media_payload.ulaw").read_bytes()
    out.append({"event": "media", "sequenceNumber": "3", "streamSid": "MZ1",
                "media": {"track": "inbound", "chunk": "2", "timestamp": "72",
                          "payload": base64.b64encode(payload).decode()}})
    out.append({"event": "stop", "sequenceNumber": "4", "streamSid": "MZ1",
                "stop": {"accountSid": "AC1", "callSid": "CA1"}})
    return out


SEEDS = real_messages()

json_scalars = (st.none() | st.booleans() | st.integers() | st.text(max_size=20)
                | st.floats(allow_nan=True, allow_infinity=True))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def check(raw: str | bytes) -> None:
    try:
        event = wire.parse_message(raw)
    except IvrError:
        return
    assert event is None or isinstance(event, wire.StreamEvent)  # type: ignore[arg-type]




def test_seeds_are_the_real_call() -> None:
    if not SEEDS:
        pytest.skip(f"shared Twilio data not found at {TWILIO_DATA}")
    events = [wire.parse_message(json.dumps(s)) for s in SEEDS]
    kinds = [type(e).__name__ for e in events]
    assert kinds[:3] == ["Connected", "Start", "Media"], kinds
    assert isinstance(events[1], wire.Start) and events[1].call_sid.startswith("CA")


@FUZZ
@given(st.binary(max_size=200))
@example(b"\xff\xfe{")
@example(b'{"event": "media", "media": {"payload": "\xff"}}')
def test_random_bytes(raw: bytes) -> None:
    check(raw)


@FUZZ
@given(st.text(max_size=200))
@example("[" * 100_000)
@example('{"event": "start", "start": ' * 5000)
def test_random_text(raw: str) -> None:
    check(raw)


@FUZZ
@given(json_values)
def test_random_json(value: Any) -> None:
    check(json.dumps(value))


@FUZZ
@given(st.sampled_from(EVENTS), st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5))
@example("stop", {"stop": "CA123"})  # the crash named in issue 9
@example("start", {"start": "x"})
@example("start", {"start": {"callSid": "CA1", "mediaFormat": [1]}})
@example("start", {"start": {"callSid": "CA1", "tracks": 5}})
@example("media", {"media": {"payload": "", "chunk": float("inf")}})
@example("dtmf", {"dtmf": ["5"]})
def test_event_shaped_messages(event: str, fields: dict[str, Any]) -> None:
    check(json.dumps({"event": event, **fields}))


@FUZZ
@given(st.data())
def test_mutated_real_messages(data: st.DataObject) -> None:
    if not SEEDS:
        pytest.skip(f"shared Twilio data not found at {TWILIO_DATA}")
    seed = data.draw(st.sampled_from(SEEDS))
    path = data.draw(st.sampled_from(tree_paths(seed)))
    mutated = tree_replace(seed, path, data.draw(json_values))
    check(json.dumps(mutated))
    check(json.dumps(mutated).encode("utf-8"))


def test_string_stop_field_is_a_protocol_error_not_a_crash() -> None:
    from ivr.errors import ProtocolError

    with pytest.raises(ProtocolError, match="stop is not an object"):
        wire.parse_message('{"event": "stop", "stop": "CA123"}')


def test_seed_file_is_where_conftest_says(twilio_data: Path) -> None:
    assert (twilio_data / "media_streams_connect_basic_output.txt").exists()
