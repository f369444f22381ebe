"""The one transcript type: what was said on a call, by whom, when, and what was redacted.

Engine, session, store and every route (TwiML, whisper, screen-pop, tickets) read and write this
shape, so a consumer can never look for a key the producer does not write (the old handoff summary
looked for ``role`` while the engine wrote ``speaker`` and silently dropped the caller's words).
Text is stored already redacted (see :mod:`ivr.handoff.redact`): ``redactions`` names what was
removed, never the value.

JSON is the edge: :meth:`Transcript.to_json` is what travels in a transfer context or a record,
:meth:`Transcript.from_json` parses it back and rejects any other shape with a clear error.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

Speaker = Literal["caller", "bot"]
TurnKind = Literal["speech", "dtmf", "no_input", "say", "barge_in", "resume", "take_back"]
"""caller: speech | dtmf | no_input; bot: say | barge_in (the bot was interrupted) | resume (an
interrupted prompt replayed: the barge-in was not words) | take_back (the caller's last turn was
taken back: they were still speaking)."""

_SPEAKERS = frozenset(get_args(Speaker))
_KINDS = frozenset(get_args(TurnKind))


@dataclass(frozen=True, slots=True)
class Turn:
    """One turn. ``text`` is the redacted form; ``redactions`` lists the kinds removed from it."""

    speaker: Speaker
    text: str
    kind: TurnKind = "speech"
    t: float = 0.0
    """Seconds since the call started (0 where the producer has no clock, e.g. the engine)."""
    redactions: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"speaker": self.speaker, "text": self.text, "kind": self.kind,
                               "t": self.t}
        if self.redactions:
            out["redactions"] = list(self.redactions)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Turn:
        if not isinstance(data, Mapping):
            raise ValueError(f"transcript turn must be an object, got {type(data).__name__}")
        speaker, kind = data.get("speaker"), data.get("kind", "speech")
        if speaker not in _SPEAKERS:
            raise ValueError(f"transcript turn has no valid 'speaker' (got {speaker!r})")
        if kind not in _KINDS:
            raise ValueError(f"transcript turn has an unknown kind {kind!r}")
        red = data.get("redactions", ())
        return cls(speaker, str(data.get("text", "")), kind,  # type: ignore[arg-type]
                   float(data.get("t", 0.0)), tuple(str(r) for r in red))

    @classmethod
    def from_parts(cls, speaker: str, text: str, kind: str, t: float = 0.0) -> Turn:
        """From loose parts (e.g. a store row); an unknown kind becomes the speaker's usual one."""
        if speaker not in _SPEAKERS:
            raise ValueError(f"unknown speaker {speaker!r}")
        if kind not in _KINDS:
            kind = "say" if speaker == "bot" else "speech"
        return cls(speaker, text, kind, t)  # type: ignore[arg-type]


@dataclass(slots=True)
class Transcript:
    """An append-only list of turns with the few queries handoff code needs."""

    turns: list[Turn] = field(default_factory=list)

    def add(self, speaker: Speaker, text: str, kind: TurnKind = "speech", t: float = 0.0,
            redactions: Iterable[str] = ()) -> Turn:
        turn = Turn(speaker, text, kind, t, tuple(redactions))
        self.turns.append(turn)
        return turn

    def __iter__(self) -> Iterator[Turn]:
        return iter(self.turns)

    def __len__(self) -> int:
        return len(self.turns)

    def caller_words(self) -> list[str]:
        """What the caller said aloud (speech turns with text), oldest first."""
        return [t.text for t in self.turns if t.speaker == "caller" and t.kind == "speech"
                and t.text.strip()]

    def to_json(self) -> list[dict[str, Any]]:
        return [t.to_json() for t in self.turns]

    @classmethod
    def from_json(cls, data: Any) -> Transcript:
        if data is None:
            return cls()
        if not isinstance(data, list):
            raise ValueError(f"transcript must be a list of turns, got {type(data).__name__}")
        return cls([Turn.from_json(d) for d in data])
