"""What reaches a call's socket thread through its inbox: socket messages and worker results.

One queue for both, so the socket thread blocks on a single thing and wakes only when there is
work (no polling). ``gen`` ties a worker result to the turn that asked for it: results of a turn
the call has moved past are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.dialog import Hangup, Listen, Transfer


@dataclass(frozen=True, slots=True)
class Raw:
    """One message read from the WebSocket by the call's reader thread."""

    data: str | bytes


@dataclass(frozen=True, slots=True)
class SocketClosed:
    """The reader thread saw the socket close (or fail)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Audio:
    gen: int
    ulaw: bytes
    barge_in: bool
    text: str


@dataclass(frozen=True, slots=True)
class EndOfSay:
    gen: int
    text: str


@dataclass(frozen=True, slots=True)
class Control:
    gen: int
    directive: Listen | Transfer | Hangup


@dataclass(frozen=True, slots=True)
class Heard:
    """What ASR made of an utterance (speculation ``seq``); empty text means noise."""

    gen: int
    seq: int
    text: str
    confidence: float
    dropped: str
    asr_ms: float
    complete: float | None = None
    """The completeness model's P(complete turn), computed in the worker (None: not run)."""


@dataclass(frozen=True, slots=True)
class Failed:
    gen: int
    error: BaseException


@dataclass(frozen=True, slots=True)
class Timing:
    """Where a turn's time went (ms); the socket thread completes it at the first audio frame."""

    gen: int
    asr_ms: float
    nlu_ms: float


WorkerItem = Audio | EndOfSay | Control | Heard | Failed | Timing
Item = Raw | SocketClosed | WorkerItem
