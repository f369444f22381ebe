"""The simulated phone line, as pure logic: what the caller hears and when the caller acts.

Everything here runs on *stream time*, counted in 8 kHz samples of caller audio sent (160 per
20 ms frame), never on the wall clock. That is the clock Twilio's line runs on and the one the
server's timers use, so a fixture behaves the same at any ``--speed`` and the logic can be
unit-tested by calling methods with made-up times.

* :class:`Playback` models Twilio's outbound buffer: audio the server sends is queued and plays
  at line rate; a mark is echoed when the audio queued before it has played; ``clear`` drops the
  rest and echoes every pending mark at once. It also remembers *prompts* (stretches of
  uninterrupted bot audio), which is what caller turns are timed against.
* :class:`CallerScript` turns the fixture into one 160-byte frame per tick, plus the DTMF keys
  and the hang-up to send before it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from ivr.audio import FRAME_SAMPLES, PHONE_RATE, Int16Array, ulaw_to_pcm16

SILENCE = 0xFF  # mu-law code for 0
SILENT_FRAME = bytes([SILENCE]) * FRAME_SAMPLES


def seconds(samples: int) -> float:
    return samples / PHONE_RATE


def samples_of(seconds: float) -> int:
    return int(round(seconds * PHONE_RATE))


@dataclass(slots=True)
class Prompt:
    """One stretch of bot audio heard without a gap. ``end`` is None while it may still grow."""

    start: int
    end: int | None = None
    cleared: bool = False


class Playback:
    """Twilio's outbound audio queue for one call (stream time in samples)."""

    def __init__(self) -> None:
        self.end = 0
        """Where queued bot audio finishes playing; at or before 'now' means the line is idle."""
        self._marks: deque[tuple[int, str]] = deque()
        self._segments: list[tuple[int, bytes]] = []
        self.prompts: list[Prompt] = []
        self.clears: list[int] = []

    def on_media(self, now: int, ulaw: bytes) -> None:
        if not ulaw:
            return
        if self.end <= now:  # idle: this audio starts a new prompt, playing right away
            if self.prompts and self.prompts[-1].end is None:
                self.prompts[-1].end = self.end
            self.prompts.append(Prompt(now))
            start = now
        else:
            start = self.end
        self._segments.append((start, ulaw))
        self.end = start + len(ulaw)

    def on_mark(self, now: int, name: str) -> None:
        """Queue a mark after the audio sent so far (due at once if nothing is playing)."""
        self._marks.append((max(now, self.end), name))

    def due_marks(self, now: int) -> list[str]:
        """Marks whose audio has finished playing by ``now``: echo these to the server."""
        due = []
        while self._marks and self._marks[0][0] <= now:
            due.append(self._marks.popleft()[1])
        return due

    def on_clear(self, now: int) -> list[str]:
        """Drop unplayed audio; every pending mark is echoed immediately (Twilio's behaviour)."""
        kept = []
        for start, ulaw in self._segments:
            if start >= now:
                continue
            kept.append((start, ulaw[: now - start]))
        self._segments = kept
        if self.end > now and self.prompts:
            self.prompts[-1].end = now
            self.prompts[-1].cleared = True
        self.end = min(self.end, now)
        self.clears.append(now)
        names = [name for _, name in self._marks]
        self._marks.clear()
        return names

    def playing(self, now: int) -> bool:
        return self.end > now

    def first_prompt_since(self, ref: int) -> Prompt | None:
        return next((p for p in self.prompts if p.start >= ref), None)

    def render(self, length: int = 0) -> Int16Array:
        """The bot's side as heard by the caller, gaps as silence, at least ``length`` samples."""
        total = max([length, self.end] + [s + len(u) for s, u in self._segments])
        out = np.zeros(total, dtype=np.int16)
        for start, ulaw in self._segments:
            out[start : start + len(ulaw)] = ulaw_to_pcm16(ulaw)
        return out


# ---------------------------------------------------------------------- caller script

TriggerKind = Literal["prompt_end", "prompt_start", "previous", "immediate"]
StepKind = Literal["speech", "dtmf", "silence", "hangup", "recording"]


@dataclass(frozen=True, slots=True)
class Step:
    """One compiled caller turn. Times are in samples.

    ``audio``: mu-law to send (speech/recording); ``speech_end``: offset in ``audio`` where the
    caller stops talking (latency is measured from there); ``keys``: ``(offset, digit)`` pairs.
    """

    index: int
    kind: StepKind
    after: TriggerKind
    delay: int = 0
    wait: int = samples_of(60.0)
    audio: bytes = b""
    speech_end: int = 0
    keys: tuple[tuple[int, str], ...] = ()
    length: int = 0
    label: str = ""
    hangup_after: bool = False

    @property
    def duration(self) -> int:
        return max(self.length, len(self.audio))


@dataclass(slots=True)
class StepLog:
    """What happened to one step on the line (stream samples; wall seconds filled by the player)."""

    index: int
    kind: StepKind
    label: str
    start: int
    end: int | None = None
    speech_end: int | None = None
    waited_out: bool = False
    start_wall: float = 0.0
    speech_end_wall: float | None = None


@dataclass(slots=True)
class Tick:
    """What the line carries in one 20 ms slot."""

    frame: bytes
    keys: list[str] = field(default_factory=list)
    hangup: bool = False
    started: StepLog | None = None
    speech_ended: StepLog | None = None


class CallerScript:
    """Feeds the caller's side frame by frame, starting each step when its trigger holds.

    A step's trigger is judged against a *reference* time so a turn never reacts to a prompt it
    was already answering: for speech, where the caller stopped talking; for keys and silence,
    where the step started. ``prompt_start`` fires ``delay`` after the first prompt that started
    at or after the reference; ``prompt_end`` fires ``delay`` after the line went idle once such a
    prompt had started (restarting if the bot speaks again meanwhile). After the last step the
    line stays open and silent, like a caller waiting to be transferred.
    """

    def __init__(self, steps: list[Step], noise: bytes | None = None) -> None:
        self.steps = steps
        self.log: list[StepLog] = []
        self._i = 0
        self._ref = 0
        self._active: StepLog | None = None
        self._noise = noise
        self.hung_up = False

    @property
    def finished(self) -> bool:
        """All steps have played (the line is now just open)."""
        return self._i >= len(self.steps) and self._active is None

    @property
    def unplayed(self) -> list[Step]:
        """Steps that never started (the server ended the call first)."""
        return self.steps[self._i + (0 if self._active is None else 1) :]

    def _idle_frame(self, now: int) -> bytes:
        if self._noise is None:
            return SILENT_FRAME
        off = now % (len(self._noise) - FRAME_SAMPLES)
        return self._noise[off : off + FRAME_SAMPLES]

    def _ready(self, step: Step, now: int, line: Playback) -> tuple[bool, bool]:
        """(start now?, started only because the wait ran out?)"""
        if step.after == "immediate":
            return True, False
        if step.after == "previous":
            return now >= self._ref + step.delay, False
        prompt = line.first_prompt_since(self._ref)
        if prompt is not None:
            if step.after == "prompt_start" and now >= prompt.start + step.delay:
                return True, False
            if step.after == "prompt_end" and not line.playing(now) \
                    and now >= line.end + step.delay:
                return True, False
        if now >= self._ref + step.wait:
            return True, True
        return False, False

    def tick(self, now: int, line: Playback) -> Tick:
        """The frame for the slot starting at stream time ``now`` (a multiple of 160)."""
        out = Tick(self._idle_frame(now))
        if self.hung_up:
            return out
        if self._active is None and self._i < len(self.steps):
            step = self.steps[self._i]
            go, waited_out = self._ready(step, now, line)
            if go:
                self._active = StepLog(step.index, step.kind, step.label, now,
                                       waited_out=waited_out)
                self.log.append(self._active)
                out.started = self._active
        act = self._active
        if act is None:
            return out
        step = self.steps[self._i]
        offset = now - act.start
        if step.kind == "hangup":
            out.hangup = self.hung_up = True
            self._finish(act, now, now)
            return out
        out.keys = [d for k, d in step.keys if offset <= k < offset + FRAME_SAMPLES]
        if step.audio and offset < len(step.audio):
            frame = step.audio[offset : offset + FRAME_SAMPLES]
            out.frame = frame + out.frame[len(frame) :]
        if step.kind in ("speech", "recording") and act.speech_end is None \
                and offset + FRAME_SAMPLES >= step.speech_end:
            act.speech_end = act.start + step.speech_end
            out.speech_ended = act
        if offset + FRAME_SAMPLES >= step.duration:
            end = act.start + step.duration
            ref = act.speech_end if step.kind == "speech" and act.speech_end else act.start
            self._finish(act, end, ref)
            if step.hangup_after:
                out.hangup = self.hung_up = True
        return out

    def _finish(self, act: StepLog, end: int, ref: int) -> None:
        act.end = end
        self._ref = ref
        self._active = None
        self._i += 1
