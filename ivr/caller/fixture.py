"""Recorded-call fixtures: a folder with ``call.yaml`` describing what a caller does and expects.

Two kinds of fixture share one file format, so anything ``ivr call`` can play is also a test:

* **scripted** (``turns:``) -- hand-written caller turns (audio, keys, silence, hang-up), each
  started relative to what the bot is doing (its prompt starting or ending), because a fixed
  timeline breaks the moment a prompt is reworded;
* **recording** (``recording:`` + ``events:``) -- a real call saved by ``ivr serve --record DIR``
  (see :func:`write_recording`), replayed with its original timing.

Audio paths are relative to the fixture folder, or ``shared:speech/...`` for the shared data set
(``IVR_SHARED_DATA``, default ``<repo>/../shared/data``), which must never be copied into the repo.
Validation is strict (unknown keys are errors) because a typo such as ``dealy_s`` would otherwise
silently change a test's timing.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from ivr.audio import PHONE_RATE, ulaw_to_pcm16, write_wav
from ivr.errors import IvrError

log = logging.getLogger(__name__)

FIXTURE_FILE = "call.yaml"
SHARED_PREFIX = "shared:"
REPO_ROOT = Path(__file__).resolve().parents[2]
DTMF_KEYS = "0123456789*#ABCD"

After = Literal["prompt_end", "prompt_start", "previous"]
"""When a turn starts: ``prompt_end`` -- ``delay_s`` after the bot's latest prompt (one started
since the previous turn) finished playing; ``prompt_start`` -- ``delay_s`` after such a prompt
started (barge-in); ``previous`` -- ``delay_s`` after the previous turn, whatever the bot does."""


class FixtureError(IvrError):
    """A fixture that cannot be loaded or written; the message names the file and the field."""

    code = "fixture_invalid"


def shared_data_dir() -> Path:
    """The shared data set (read-only, not in git): ``IVR_SHARED_DATA``, else
    ``<repo>/../shared/data``."""
    env = os.environ.get("IVR_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


def resolve_audio(ref: str, base: Path) -> Path:
    """``shared:speech/x.wav`` -> the shared data dir; anything else relative to ``base``."""
    if ref.startswith(SHARED_PREFIX):
        return shared_data_dir() / ref[len(SHARED_PREFIX) :].lstrip("/")
    path = Path(ref)
    return path if path.is_absolute() else base / path


# ---------------------------------------------------------------------- turns


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _TurnBase(_Strict):
    after: After = "prompt_end"
    delay_s: float = Field(default=0.4, ge=0.0, le=120.0)
    wait_s: float = Field(default=60.0, gt=0.0, le=600.0)
    """Longest to wait for the ``after`` condition (stream seconds); then the turn starts anyway
    and the report records a failure, so a bot that never stops talking cannot hang a test."""


class SpeechTurn(_TurnBase):
    """The caller says something: any audio file, converted to the phone format when played."""

    audio: str = Field(min_length=1)
    text: str | None = None
    """What the clip says (informative: shown in reports, never sent to the server)."""
    gain_db: float = Field(default=0.0, ge=-40.0, le=20.0)


class DtmfTurn(_TurnBase):
    """The caller presses keys, ``interval_s`` apart."""

    dtmf: str = Field(min_length=1, max_length=64)
    interval_s: float = Field(default=0.1, ge=0.02, le=10.0)

    @field_validator("dtmf", mode="before")
    @classmethod
    def _digits(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            raise ValueError(f"quote key presses (dtmf: \"{v}\") so leading zeros survive")
        if isinstance(v, str) and (bad := sorted(set(v) - set(DTMF_KEYS))):
            raise ValueError(f"not DTMF keys: {''.join(bad)!r} (allowed: {DTMF_KEYS})")
        return v


class SilenceTurn(_TurnBase):
    """The caller says nothing for ``silence_s`` (the line keeps streaming silence)."""

    delay_s: float = Field(default=0.0, ge=0.0, le=120.0)
    silence_s: float = Field(gt=0.0, le=600.0)


class HangupTurn(_TurnBase):
    """The caller hangs up: Twilio sends ``stop`` and posts the action URL as ``completed``."""

    hangup: Literal[True]


_TURN_TAGS = ("audio", "dtmf", "silence_s", "hangup")


def _turn_kind(v: Any) -> str | None:
    if isinstance(v, BaseModel):
        return {SpeechTurn: "audio", DtmfTurn: "dtmf", SilenceTurn: "silence_s",
                HangupTurn: "hangup"}.get(type(v))
    if not isinstance(v, dict):
        return None
    kinds = [k for k in _TURN_TAGS if k in v]
    return kinds[0] if len(kinds) == 1 else None


Turn = Annotated[
    Annotated[SpeechTurn, Tag("audio")]
    | Annotated[DtmfTurn, Tag("dtmf")]
    | Annotated[SilenceTurn, Tag("silence_s")]
    | Annotated[HangupTurn, Tag("hangup")],
    Discriminator(
        _turn_kind,
        custom_error_type="turn_kind",
        custom_error_message="a turn needs exactly one of: audio, dtmf, silence_s, hangup",
    ),
]


class RecordedEvent(_Strict):
    """Something the caller did at stream time ``t`` (seconds from the first media frame)."""

    t: float = Field(ge=0.0)
    dtmf: str = Field(min_length=1, max_length=1)

    @field_validator("dtmf", mode="before")
    @classmethod
    def _key(cls, v: object) -> object:
        if isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        if isinstance(v, str) and v not in DTMF_KEYS:
            raise ValueError(f"not a DTMF key: {v!r}")
        return v


# ---------------------------------------------------------------------- expectations


class Expect(_Strict):
    """What must be true of the call; every field is optional (absent = not checked).

    ``transcripts_contain``: when it has one entry per caller speech turn, entry *i* (a substring,
    a list of substrings that must all appear, or null to skip) is checked against what the
    server understood for speech turn *i*; otherwise (plain strings only) each string must appear
    somewhere in what the server understood during the whole call. Matching is case-insensitive.
    """

    transcripts_contain: list[str | list[str] | None] | None = None
    intent: str | None = None
    outcome: str | list[str] | None = None
    """``transfer: GROUP``, ``hangup`` or ``caller_hangup``; a list means any of them."""
    bot_says_contain: list[str] | None = None
    bot_says_not_contain: list[str] | None = None
    """Lines the bot must never say in this call (e.g. a no-match apology)."""
    max_latency_ms: float | None = Field(default=None, gt=0.0)
    """Upper bound for every measured turn latency (end of caller speech -> first bot audio)."""
    routed: str | None = None
    """With ``transfer:``: where the caller ended up: ``connected ADDRESS``, ``taskrouter WW..``,
    ``hangup`` (e.g. after a call-back was taken) or ``caller_hangup``."""
    routed_says_contain: list[str] | None = None
    """Lines heard after the hand-off (queue position, call-back offer...)."""

    @field_validator("outcome")
    @classmethod
    def _outcome(cls, v: str | list[str] | None) -> str | list[str] | None:
        for o in [v] if isinstance(v, str) else v or []:
            if not re.fullmatch(r"(transfer: ?\S.*|hangup|caller_hangup|none|redirect: ?.+)", o):
                raise ValueError(
                    f"outcome {o!r}: expected 'transfer: GROUP', 'hangup' or 'caller_hangup'"
                )
        return v


class TransferScript(_Strict):
    """What happens after the hand-off, played like Twilio by :mod:`ivr.caller.transfer`:
    how each agent's phone answers (by number, SIP URI or client identity), and what the caller
    does in a queue (``press``/``say`` at the first call-back offer after ``after_s``)."""

    agents: dict[str, Literal["answer", "no-answer", "busy", "failed"]] = Field(
        default_factory=dict)
    default: Literal["answer", "no-answer", "busy", "failed"] = "answer"
    press: str = ""
    say: str = ""
    after_s: float = Field(default=0.0, ge=0.0, le=3600.0)
    patience_s: float = Field(default=900.0, gt=0.0, le=7200.0)


# ---------------------------------------------------------------------- the fixture


class Fixture(_Strict):
    """One ``call.yaml``. ``base_dir`` (not in the file) is where relative audio paths start."""

    description: str = ""
    dialplan: str | None = None
    """Informative: the dialplan the fixture was written for."""
    turns: list[Turn] | None = None
    recording: str | None = None
    """8 kHz WAV of everything the caller's line carried (raw mode)."""
    events: list[RecordedEvent] = Field(default_factory=list)
    hangup_at_end: bool = False
    """Raw mode: the caller hung up when the recording ends (else the line stays open, silent)."""
    noise_dbfs: float | None = Field(default=None, ge=-90.0, le=-20.0)
    """Background line noise (white, this RMS level) instead of digital silence between turns."""
    from_number: str = "+15005550006"
    to_number: str = "+15005550001"
    expect: Expect = Field(default_factory=Expect)
    transfer: TransferScript | None = None
    """Follow the transfer's TwiML like Twilio (dial legs, queue) instead of stopping at it."""
    meta: dict[str, Any] = Field(default_factory=dict)
    """Free-form notes (``write_recording`` stores the original call's sid and transcript)."""
    base_dir: Path = Field(default=Path("."), exclude=True)

    @model_validator(mode="after")
    def _one_mode(self) -> Fixture:
        if (self.turns is None) == (self.recording is None):
            raise ValueError("give either 'turns' (scripted call) or 'recording' (raw call)")
        if self.turns is not None and (self.events or self.hangup_at_end):
            raise ValueError("'events' and 'hangup_at_end' belong to raw mode ('recording')")
        if self.turns is not None and not self.turns:
            raise ValueError("'turns' is empty: give at least one turn (e.g. silence_s: 1)")
        if self.turns is not None:
            for i, turn in enumerate(self.turns):
                if isinstance(turn, HangupTurn) and i != len(self.turns) - 1:
                    raise ValueError(f"turns.{i}: hangup must be the last turn")
        per_turn = self.expect.transcripts_contain
        if per_turn is not None and len(per_turn) != self.speech_turn_count():
            if self.turns is not None and any(not isinstance(e, str) for e in per_turn):
                raise ValueError(
                    f"expect.transcripts_contain has {len(per_turn)} entries with nulls/lists "
                    f"but the fixture has {self.speech_turn_count()} speech turns: per-turn "
                    "checks need one entry per speech turn"
                )
            if self.turns is None and any(not isinstance(e, str) for e in per_turn):
                raise ValueError("a recording has no turns: transcripts_contain takes strings")
        return self

    def speech_turn_count(self) -> int:
        return sum(isinstance(t, SpeechTurn) for t in self.turns or [])

    def transcripts_per_turn(self) -> bool:
        """Whether ``transcripts_contain`` is per speech turn (else it is for the whole call)."""
        tc = self.expect.transcripts_contain
        return (tc is not None and self.turns is not None
                and len(tc) == self.speech_turn_count())

    def audio_path(self, ref: str) -> Path:
        return resolve_audio(ref, self.base_dir)

    @property
    def name(self) -> str:
        return self.base_dir.name


def _format_validation(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = list(err["loc"])
        if len(loc) > 3 and loc[0] == "turns" and loc[2] in _TURN_TAGS:
            del loc[2]  # the union member's tag, not a field the author wrote
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  {'.'.join(map(str, loc)) or '(top level)'}: {msg}")
    return "\n".join(lines)


def parse_fixture(data: object, base_dir: Path, source: str = "<fixture>") -> Fixture:
    """Validate an already-parsed YAML document; raises :class:`FixtureError` naming each field."""
    if not isinstance(data, dict):
        raise FixtureError(f"{source}: expected a mapping at the top level")
    try:
        fixture = Fixture.model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        raise FixtureError(f"{source}: invalid fixture\n{_format_validation(exc)}") from None
    missing = [
        f"  {where}: file not found: {path}"
        for where, path in _audio_refs(fixture)
        if not path.is_file()
    ]
    if missing:
        raise FixtureError(f"{source}: missing audio\n" + "\n".join(missing))
    return fixture


def _audio_refs(fixture: Fixture) -> list[tuple[str, Path]]:
    refs = []
    if fixture.recording is not None:
        refs.append(("recording", fixture.audio_path(fixture.recording)))
    for i, turn in enumerate(fixture.turns or []):
        if isinstance(turn, SpeechTurn):
            refs.append((f"turns.{i}.audio", fixture.audio_path(turn.audio)))
    return refs


def load_fixture(path: str | Path) -> Fixture:
    """A fixture folder, its ``call.yaml``, or a bare audio file (one speech turn after the
    greeting, no expectations -- for trying a recording against the server by hand)."""
    p = Path(path)
    if p.is_dir():
        p = p / FIXTURE_FILE
    if p.suffix.lower() in (".yaml", ".yml"):
        if not p.is_file():
            raise FixtureError(f"{p}: no such fixture file")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise FixtureError(f"{p}: not valid YAML: {exc}") from None
        return parse_fixture(data, p.parent, str(p))
    if not p.is_file():
        raise FixtureError(f"{path}: not a fixture folder, call.yaml or audio file")
    data = {"description": f"ad-hoc call: {p.name} after the greeting",
            "turns": [{"audio": str(p.resolve())}]}
    return parse_fixture(data, p.parent, str(p))


# ---------------------------------------------------------------------- recording


def write_recording(
    dir: Path,
    inbound_ulaw: bytes,
    events: Sequence[tuple[float, str, str]],
    outcome: str | None,
    meta: dict[str, Any],
) -> Path:
    """Save a real call as a raw-mode fixture folder (``call.yaml`` + ``inbound.wav``).

    ``inbound_ulaw`` is everything the caller's line carried (8 kHz mu-law, from the first media
    frame); ``events`` are ``(stream_seconds, kind, value)`` -- ``dtmf`` events are replayed,
    other kinds are kept in ``meta.other_events`` for the reader. ``outcome`` becomes the
    expectation, so the call turns into a regression test as it is; ``caller_hangup`` also makes
    the replay hang up where the caller did. Returns the folder.
    """
    dir = Path(dir)
    dir.mkdir(parents=True, exist_ok=True)
    write_wav(dir / "inbound.wav", ulaw_to_pcm16(inbound_ulaw), PHONE_RATE)
    replayed: list[dict[str, Any]] = []
    other: list[dict[str, Any]] = []
    for t, kind, value in events:
        entry = {"t": round(float(t), 3), kind: value}
        if kind == "dtmf" and len(value) == 1 and value in DTMF_KEYS:
            replayed.append(entry)
        else:
            other.append(entry)
    meta_out = {k: v for k, v in meta.items() if v is not None}
    if other:
        meta_out["other_events"] = other
    expect: dict[str, Any] = {}
    if outcome:
        expect["outcome"] = outcome
    if isinstance(meta.get("intent"), str) and meta["intent"]:
        expect["intent"] = meta["intent"]
    duration = len(inbound_ulaw) / PHONE_RATE
    doc: dict[str, Any] = {
        "description": f"recorded call {meta.get('call_sid', dir.name)} ({duration:.1f} s)",
        "recording": "inbound.wav",
        "events": replayed,
        "hangup_at_end": outcome == "caller_hangup",
        "expect": expect,
        "meta": meta_out,
    }
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=None)
    try:  # never write a fixture we could not load back
        parse_fixture(yaml.safe_load(text), dir, str(dir / FIXTURE_FILE))
    except FixtureError as exc:
        raise FixtureError(f"refusing to write an unloadable fixture: {exc}") from None
    (dir / FIXTURE_FILE).write_text(text, encoding="utf-8")
    return dir


# ---------------------------------------------------------------------- audio helpers


def speech_bounds(samples: np.ndarray, rate: int, floor_dbfs: float = -50.0,
                  below_peak_db: float = 30.0) -> tuple[int, int]:
    """Where speech starts and ends in a clip (sample indexes), by 20 ms frame energy.

    A frame is speech when its RMS is within ``below_peak_db`` of the loudest frame and above
    ``floor_dbfs``. Crude, but the latency we measure from here only needs to be right to a frame
    or two, and it must not count a clip's trailing silence as the caller still talking.
    Returns ``(0, 0)`` for a clip with no speech.
    """
    step = max(1, rate // 50)
    n = samples.size // step
    if n == 0:
        return 0, 0
    frames = samples[: n * step].astype(np.float64).reshape(n, step)
    rms = np.sqrt(np.mean(frames * frames, axis=1)) + 1e-12
    db = 20 * np.log10(rms)
    threshold = max(floor_dbfs, float(db.max()) - below_peak_db)
    loud = np.flatnonzero(db > threshold)
    if loud.size == 0:
        return 0, 0
    return int(loud[0]) * step, min(samples.size, (int(loud[-1]) + 1) * step)
