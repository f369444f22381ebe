"""What a played call showed: the conversation, the decision, latencies, and failed expectations.

The report joins two views of the call. The player's own (which turns it played when, when bot
audio arrived, when the server cleared it) is always there; the server's call record
(``GET /calls/<CallSid>``: what it understood and said) is there when the server exposes it.
Server turns are attributed to the caller turn whose stream-time window they fall in, because
both sides count stream time the same way (20 ms per caller media frame).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from ivr.caller.fixture import Fixture


@dataclass(slots=True)
class TurnReport:
    """One caller turn and the bot's reaction to it (everything until the next caller turn)."""

    index: int
    kind: str
    """speech | dtmf | silence | hangup | recording"""
    played: str
    """What the caller did: the audio file, the keys, the silence length."""
    start_s: float
    end_s: float | None = None
    heard: list[str] = field(default_factory=list)
    """What the server understood (its caller turns in this window; needs /calls)."""
    bot: list[str] = field(default_factory=list)
    """What the bot said after this turn (needs /calls)."""
    bot_audio_s: float = 0.0
    """Seconds of bot audio played to the caller in this window (always measured)."""
    latency_ms: float | None = None
    """End of the caller's speech -> first bot audio frame received (speech turns only)."""
    barged_in: bool = False
    """The server cleared its audio during this turn."""
    waited_out: bool = False


@dataclass(slots=True)
class CallReport:
    fixture: str
    description: str = ""
    call_sid: str = ""
    outcome: str | None = None
    """``transfer: GROUP`` | ``hangup`` | ``caller_hangup`` | ``none`` | None (never got there)."""
    transfer_target: str = ""
    intent: str | None = None
    greeting: list[str] = field(default_factory=list)
    greeting_audio_s: float = 0.0
    turns: list[TurnReport] = field(default_factory=list)
    server_latency_ms: list[float] = field(default_factory=list)
    ended_by: str = ""
    """server (closed the stream) | caller (hung up) | timeout | error"""
    duration_s: float = 0.0
    record_available: bool = False
    twiml: str = ""
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    record: dict[str, Any] | None = None
    routed: str | None = None
    """With a fixture's ``transfer:``: where the transfer ended (ivr.caller.transfer)."""
    routed_says: list[str] = field(default_factory=list)
    routed_events: list[str] = field(default_factory=list)

    @property
    def latency_ms(self) -> list[float | None]:
        """Per caller speech turn, as measured by the player."""
        return [t.latency_ms for t in self.turns if t.kind == "speech"]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["latency_ms"] = self.latency_ms
        data["ok"] = self.ok
        return data

    def print(self, file: TextIO | None = None) -> None:
        """A readable transcript: who said what, the decision, latency per turn, the verdict."""
        out = file or sys.stdout
        w = out.write
        w(f"call {self.call_sid or '?'}  fixture {self.fixture}\n")
        if self.description:
            w(f"  {self.description}\n")
        for line in self.greeting:
            w(f"  bot:    {json.dumps(line)}\n")
        if not self.greeting and self.greeting_audio_s:
            w(f"  bot:    ({self.greeting_audio_s:.1f} s of audio)\n")
        for t in self.turns:
            note = []
            if t.latency_ms is not None:
                note.append(f"latency {t.latency_ms:.0f} ms")
            if t.waited_out:
                note.append("started after waiting out its trigger")
            tail = f"   [{', '.join(note)}]" if note else ""
            w(f"  caller: {t.played} @ {t.start_s:.1f}s{tail}\n")
            if t.heard:
                w(f"    heard: {' | '.join(json.dumps(h) for h in t.heard)}\n")
            elif t.kind == "speech" and self.record_available:
                w("    heard: (nothing)\n")
            if t.barged_in:
                w("  bot:    (interrupted by the caller: clear)\n")
            for line in t.bot:
                w(f"  bot:    {json.dumps(line)}\n")
            if not t.bot and t.bot_audio_s:
                w(f"  bot:    ({t.bot_audio_s:.1f} s of audio)\n")
        target = f" ({self.transfer_target})" if self.transfer_target else ""
        w(f"  decision: {self.outcome or '(none)'}{target}; stream ended by {self.ended_by}\n")
        if self.intent:
            w(f"  intent: {self.intent}\n")
        if self.server_latency_ms:
            w(f"  server latency ms: {', '.join(f'{x:.0f}' for x in self.server_latency_ms)}\n")
        for msg in self.warnings:
            w(f"  warning: {msg}\n")
        for msg in self.errors:
            w(f"  ERROR: {msg}\n")
        for msg in self.failures:
            w(f"  FAIL: {msg}\n")
        w(f"  {'PASS' if self.ok else 'FAIL'} ({self.duration_s:.1f} s)\n")


def normalize_outcome(outcome: str) -> str:
    return re.sub(r"\s*:\s*", ": ", outcome.strip().lower(), count=1)


def _contains(haystack: str, needle: str) -> bool:
    return needle.casefold() in haystack.casefold()


def check_expectations(fixture: Fixture, report: CallReport) -> None:
    """Append a failure to ``report`` for every expectation the call did not meet."""
    exp = fixture.expect
    if exp.outcome is not None:
        wanted = [exp.outcome] if isinstance(exp.outcome, str) else exp.outcome
        got = normalize_outcome(report.outcome) if report.outcome else None
        if got not in {normalize_outcome(o) for o in wanted}:
            report.failures.append(
                f"outcome: expected {' or '.join(repr(o) for o in wanted)}, "
                f"got {report.outcome!r}"
            )
    if exp.routed is not None and report.routed != exp.routed:
        report.failures.append(f"routed: expected {exp.routed!r}, got {report.routed!r} "
                               f"(requests: {', '.join(report.routed_events)})")
    for needle in exp.routed_says_contain or []:
        if not any(_contains(said, needle) for said in report.routed_says):
            report.failures.append(f"after the hand-off, nothing said contained {needle!r}")
    if exp.max_latency_ms is not None:
        for t in report.turns:
            if t.latency_ms is not None and t.latency_ms > exp.max_latency_ms:
                report.failures.append(
                    f"turn {t.index + 1} ({t.played}): latency {t.latency_ms:.0f} ms "
                    f"> {exp.max_latency_ms:.0f} ms"
                )
    wants_record = (exp.intent is not None or exp.transcripts_contain is not None
                    or exp.bot_says_contain is not None or exp.bot_says_not_contain is not None)
    if not wants_record:
        return
    if not report.record_available:
        report.warnings.append(
            "the server's call record (GET /calls/<CallSid>) is unavailable: "
            "intent/transcript/bot-line checks skipped"
        )
        return
    if exp.intent is not None and (report.intent or "").lower() != exp.intent.lower():
        report.failures.append(f"intent: expected {exp.intent!r}, got {report.intent!r}")
    if exp.transcripts_contain is not None:
        speech = [t for t in report.turns if t.kind in ("speech", "recording")]
        if fixture.transcripts_per_turn():
            for n, (turn, want) in enumerate(zip(speech, exp.transcripts_contain, strict=False)):
                if want is None:
                    continue
                heard = " ".join(turn.heard)
                for needle in [want] if isinstance(want, str) else want:
                    if not _contains(heard, needle):
                        report.failures.append(
                            f"speech turn {n + 1} ({turn.played}): expected {needle!r} in what "
                            f"the server heard: {heard!r}"
                        )
        else:
            heard = " ".join(h for t in report.turns for h in t.heard)
            for entry in exp.transcripts_contain:
                if isinstance(entry, str) and not _contains(heard, entry):
                    report.failures.append(
                        f"expected {entry!r} in what the server heard during the call: {heard!r}"
                    )
    if exp.bot_says_contain is not None:
        said = " ".join(report.greeting + [b for t in report.turns for b in t.bot])
        for needle in exp.bot_says_contain:
            if not _contains(said, needle):
                report.failures.append(f"expected the bot to say {needle!r}; it said: {said!r}")
    if exp.bot_says_not_contain is not None:
        said = " ".join(report.greeting + [b for t in report.turns for b in t.bot])
        for needle in exp.bot_says_not_contain:
            if _contains(said, needle):
                report.failures.append(f"the bot said {needle!r}, which it must not: {said!r}")
