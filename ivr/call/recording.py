"""What a call leaves behind for the record: its turns (caller words redacted) and, when the
server records calls, the inbound audio and key events written as a replayable fixture.

Kept out of the socket loop because none of it decides anything; it only has to be right about
what it must never keep (a sensitive entry's audio and keys).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ivr.handoff.redact import redact_caller
from ivr.store import CallRecord, Turn
from ivr.transcript import Speaker, TurnKind

log = logging.getLogger(__name__)


class CallRecording:
    """The inbound stream as mu-law and the key events, in stream time (None: not recording)."""

    def __init__(self, enabled: bool) -> None:
        self.inbound: bytearray | None = bytearray() if enabled else None
        self.events: list[tuple[float, str, str]] = []

    def media(self, payload: bytes, sensitive: bool) -> None:
        if self.inbound is not None:  # a sensitive stretch is kept as mu-law silence
            self.inbound += b"\xff" * len(payload) if sensitive else payload

    def key(self, clock: float, digit: str, sensitive: bool) -> None:
        # Keys of a sensitive entry (card number, PIN) never reach the recording.
        self.events.append((clock, "redacted" if sensitive else "dtmf",
                            "dtmf" if sensitive else digit))

    def save(self, record_dir: Path, call_sid: str, record: CallRecord) -> None:
        if self.inbound is None:
            return
        try:
            from ivr.caller.fixture import write_recording

            meta: dict[str, Any] = {"call_sid": call_sid, "intent": record.intent,
                                    "turns": [t.text for t in record.turns]}
            path = write_recording(record_dir / call_sid, bytes(self.inbound), self.events,
                                   record.outcome, meta)
            log.info("call %s: recorded to %s", call_sid, path)
        except Exception:
            log.exception("call %s: could not save the recording", call_sid)


def add_turn(record: CallRecord | None, speaker: Speaker, text: str, kind: TurnKind,
             clock: float, sensitive: str) -> None:
    """Append a turn; the caller's words are redacted against the slot asked for and the
    bot's last line (what the caller was answering)."""
    if record is None:
        return
    if speaker == "caller" and text:
        said = [t.text for t in record.turns if t.speaker == "bot"]
        text = redact_caller(text, kind, sensitive, said[-1] if said else "")
    record.turns.append(Turn(speaker, text, kind, round(clock, 2)))
