"""The handoff context: everything an agent needs so they never ask "how can I help you?" again.

Schema ``ivr.handoff/1`` (documented field by field below; add fields, never change one's meaning
without bumping the version). It is built once, from the engine's transfer context (the edge where a
dict becomes typed), and every delivery form (TaskRouter attributes, ``<Client>`` parameters, SIP
headers, the spoken whisper, the screen-pop, the ticket) is rendered from this one object, so they
cannot disagree. Values are already redacted: sensitive slots are masked, transcript text went
through :mod:`ivr.handoff.redact` when it was captured.

Size is bounded: :meth:`HandoffContext.bounded` drops the oldest transcript turns until the JSON
fits :data:`MAX_JSON_BYTES` (TaskRouter keeps Task attributes small; an agent reads the summary).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ivr.transcript import Transcript, Turn

SCHEMA = "ivr.handoff/1"
MAX_JSON_BYTES = 8_000
MAX_TURNS = 40


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SlotFact(_Model):
    """A slot as the agent sees it."""

    value: str | int | float | bool | None
    """The value, or its mask (``[pin]``, ``ending in 4242``) when ``sensitive``."""
    verified: bool = False
    """The caller confirmed it on read-back (or it came from a custom action)."""
    sensitive: bool = False


class Sentiment(_Model):
    """How the caller sounded over the bot part of the call (VADER compound, -1..1)."""

    mean: float = 0.0
    lowest: float = 0.0
    turns: int = 0
    upset_turns: int = 0
    """Caller turns scored at or below the calibrated "upset" threshold."""
    frustrated: bool = False
    """The frustration rule fired (or would have): the agent should open with an apology."""
    evidence: list[str] = Field(default_factory=list)
    """The caller's own words that made it fire (redacted), at most three."""


class TurnFact(_Model):
    speaker: Literal["caller", "bot"]
    text: str
    kind: str = "speech"
    t: float = 0.0
    redactions: list[str] = Field(default_factory=list)


class HandoffContext(_Model):
    """``ivr.handoff/1``: the facts about a call handed to an agent."""

    schema_: str = Field(default=SCHEMA, alias="schema")
    call_sid: str
    caller_number: str = Field(default="", alias="from")
    """The caller's number as Twilio sent it (``From``): the agent's call-back and CRM key."""
    group: str = ""
    """The agent group the caller is handed to."""
    reason: str = "requested"
    """Why: menu, caller_request, frustration, no_match, no_input, invalid_value, error..."""
    intent: str | None = None
    intent_confidence: float | None = None
    options_tried: list[str] = Field(default_factory=list)
    """Menu options the caller reached or was offered ("Did you mean billing?")."""
    options_rejected: list[str] = Field(default_factory=list)
    """Options the caller said no to."""
    slots: dict[str, SlotFact] = Field(default_factory=dict)
    kb_answers: list[str] = Field(default_factory=list)
    """Knowledge-base answers already given (FAQ ids), so the agent does not repeat them."""
    profile: dict[str, str] | None = None
    """The caller's profile when the routing layer knows them (name, tier...); None otherwise."""
    sentiment: Sentiment = Field(default_factory=Sentiment)
    transcript: list[TurnFact] = Field(default_factory=list)
    summary: str = ""
    """One sentence generated from the facts above (:func:`ivr.handoff.summary.summarize`)."""
    screen_pop_url: str | None = None
    """Signed, expiring link to ``/agent/calls/<CallSid>`` (set when the server has a secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # --- edges ---------------------------------------------------------------------------------

    @classmethod
    def from_engine(cls, call_sid: str, group: str, ctx: Mapping[str, Any]) -> HandoffContext:
        """Parse the engine's transfer context (a JSON dict by the dialog contract)."""
        from ivr.handoff.summary import summarize

        transcript = Transcript.from_json(ctx.get("transcript"))
        slots_in = ctx.get("slots") or {}
        meta = ctx.get("slot_meta") or {}
        slots = {
            str(k): SlotFact(value=_scalar(v), verified=bool(meta.get(k, {}).get("verified")),
                             sensitive=bool(meta.get(k, {}).get("sensitive")))
            for k, v in slots_in.items()
        }
        base = cls(
            call_sid=call_sid,
            **{"from": str(ctx.get("from") or "")},
            group=group,
            reason=str(ctx.get("reason") or ("error" if ctx.get("error") else "requested")),
            intent=ctx.get("intent"),
            intent_confidence=ctx.get("intent_confidence"),
            options_tried=[str(x) for x in ctx.get("options_tried") or []],
            options_rejected=[str(x) for x in ctx.get("options_rejected") or []],
            slots=slots,
            kb_answers=[str(x) for x in ctx.get("kb_answers") or []],
            profile=ctx.get("profile"),
            sentiment=Sentiment.model_validate(ctx.get("sentiment") or {}),
            transcript=[TurnFact(**_turn(t)) for t in transcript],
        )
        return base.model_copy(update={"summary": summarize(base)}).bounded()

    def bounded(self, max_bytes: int = MAX_JSON_BYTES) -> HandoffContext:
        """This context with the oldest transcript turns dropped until its JSON fits."""
        ctx = self
        if len(ctx.transcript) > MAX_TURNS:
            ctx = ctx.model_copy(update={"transcript": ctx.transcript[-MAX_TURNS:]})
        while ctx.transcript and len(ctx.to_json_str()) > max_bytes:
            ctx = ctx.model_copy(update={"transcript": ctx.transcript[1:]})
        return ctx

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return out

    def to_json_str(self) -> str:
        return json.dumps(self.to_json())  # json's default spacing, as Task attributes had

    def caller_words(self) -> list[str]:
        return [t.text for t in self.transcript
                if t.speaker == "caller" and t.kind == "speech" and t.text.strip()]


def _turn(t: Turn) -> dict[str, Any]:
    return {"speaker": t.speaker, "text": t.text, "kind": t.kind, "t": t.t,
            "redactions": list(t.redactions)}


def _scalar(v: Any) -> str | int | float | bool | None:
    if v is None or isinstance(v, str | int | float | bool):
        return v
    return json.dumps(v, default=str)
