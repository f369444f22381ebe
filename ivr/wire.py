"""Twilio Media Streams on the wire: JSON text frames <-> typed events.

This module is the only place that sees the JSON. Twilio sends every value as a string
(``"sequenceNumber": "2"``, ``"timestamp": "52"``), media as base64 mu-law; we convert once, here,
and the rest of the code deals in :class:`StreamEvent` dataclasses and raw bytes.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from ivr.errors import ProtocolError


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str
    version: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    tracks: tuple[str, ...]
    encoding: str
    sample_rate: int
    channels: int
    custom_parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Media:
    """One inbound audio frame (usually 20 ms = 160 mu-law bytes)."""

    track: str
    chunk: int
    timestamp_ms: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Dtmf:
    digit: str


@dataclass(frozen=True, slots=True)
class Mark:
    """Twilio's echo of a mark we sent: the audio queued before it has finished playing."""

    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    """The call ended on Twilio's side (caller hung up, or the stream was stopped)."""

    call_sid: str


StreamEvent = Connected | Start | Media | Dtmf | Mark | Stop

_DTMF_KEYS = frozenset("0123456789*#ABCD")


def _get(obj: dict[str, Any], key: str, kind: str) -> Any:
    try:
        return obj[key]
    except (KeyError, TypeError):
        raise ProtocolError(f"{kind} message lacks '{key}'") from None


def _obj(value: Any, what: str) -> dict[str, Any]:
    """A nested field that must be a JSON object (a string or list there is malformed, not a
    crash: Twilio never sends one, a broken proxy or a fuzzer might)."""
    if not isinstance(value, dict):
        raise ProtocolError(f"{what} is not an object: {type(value).__name__}")
    return value


def _opt_obj(msg: dict[str, Any], key: str, what: str) -> dict[str, Any]:
    """An optional nested object: absent or null is empty, anything else must be an object."""
    value = msg.get(key)
    return {} if value is None else _obj(value, what)


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON's Infinity
        raise ProtocolError(f"{what} is not an integer: {str(value)[:40]!r}") from None


def parse_message(text: str | bytes) -> StreamEvent | None:
    """Parse one WebSocket text frame. Returns None for events we do not use (future additions).

    Raises :class:`ProtocolError` for anything malformed, with a message fit for the log.
    """
    try:
        msg = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"not JSON: {exc}") from None
    except RecursionError:  # '[[[[...' thousands deep
        raise ProtocolError("not JSON: nested too deeply") from None
    if not isinstance(msg, dict):
        raise ProtocolError("message is not a JSON object")
    event = msg.get("event")
    if event == "media":
        media = _obj(_get(msg, "media", "media"), "media")
        try:
            payload = base64.b64decode(_get(media, "payload", "media"), validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ProtocolError("media payload is not valid base64") from None
        return Media(
            track=str(media.get("track", "inbound")),
            chunk=_int(media.get("chunk", 0), "media.chunk"),
            timestamp_ms=_int(media.get("timestamp", 0), "media.timestamp"),
            payload=payload,
        )
    if event == "dtmf":
        digit = str(_get(_get(msg, "dtmf", "dtmf"), "digit", "dtmf"))
        if digit not in _DTMF_KEYS:
            raise ProtocolError(f"unknown DTMF digit {digit!r}")
        return Dtmf(digit=digit)
    if event == "mark":
        return Mark(name=str(_get(_get(msg, "mark", "mark"), "name", "mark")))
    if event == "start":
        start = _obj(_get(msg, "start", "start"), "start")
        fmt = _opt_obj(start, "mediaFormat", "start.mediaFormat")
        params = _opt_obj(start, "customParameters", "start.customParameters")
        tracks = start.get("tracks", ("inbound",))
        if not isinstance(tracks, (list, tuple)):
            raise ProtocolError("start.tracks is not a list")
        return Start(
            stream_sid=str(msg.get("streamSid") or _get(start, "streamSid", "start")),
            call_sid=str(_get(start, "callSid", "start")),
            account_sid=str(start.get("accountSid", "")),
            tracks=tuple(str(t) for t in tracks),
            encoding=str(fmt.get("encoding", "audio/x-mulaw")),
            sample_rate=_int(fmt.get("sampleRate", 8000), "start.mediaFormat.sampleRate"),
            channels=_int(fmt.get("channels", 1), "start.mediaFormat.channels"),
            custom_parameters={str(k): str(v) for k, v in params.items()},
        )
    if event == "stop":
        stop = _opt_obj(msg, "stop", "stop")
        return Stop(call_sid=str(stop.get("callSid", "")))
    if event == "connected":
        return Connected(protocol=str(msg.get("protocol", "")), version=str(msg.get("version", "")))
    if isinstance(event, str):
        return None
    raise ProtocolError("message has no 'event'")


def media_message(stream_sid: str, ulaw: bytes) -> str:
    """Outbound audio for the caller (8 kHz mu-law, no header)."""
    payload = base64.b64encode(ulaw).decode("ascii")
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"payload": payload}})


def mark_message(stream_sid: str, name: str) -> str:
    """Ask Twilio to tell us when everything sent so far has played."""
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    """Drop the audio Twilio has buffered for the caller (barge-in)."""
    return json.dumps({"event": "clear", "streamSid": stream_sid})
