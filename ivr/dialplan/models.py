"""The dialplan language as pydantic models: what operators may write, with defaults.

The models are the single source of truth for the format: the loader validates against them, the
JSON schema for editor completion is generated from them, and the engine reads them. Every model
forbids unknown keys (a typo like ``promt:`` must fail loudly, not be ignored) and is frozen (a
loaded plan is shared by every call in flight, so nothing may mutate it).

Cross references (option -> node, transfer -> agent group, ``{slot}`` templates...) are checked by
:mod:`ivr.dialplan.checks` after these models validate, because they need the whole plan.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from ivr.dialplan.hours import parse_day_keys, parse_ranges

DTMF_KEYS = "0123456789*#"
BUILTIN_NODES = ("goodbye", "agent", "followup")
"""Nodes every plan has without declaring them (a plan may override them by declaring its own)."""


def _dtmf(v: str) -> str:
    if len(v) != 1 or v not in DTMF_KEYS:
        raise ValueError(f"a keypad key must be one of 0-9, * or # (got {v!r}; quote it: '*')")
    return v


def _regex(v: str) -> str:
    try:
        re.compile(v)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression: {exc}") from None
    return v


DtmfKey = Annotated[str, AfterValidator(_dtmf)]
Text = Annotated[str, Field(min_length=1)]
NodeName = Annotated[str, Field(min_length=1)]
Phrases = Annotated[list[Text], Field(default_factory=list)]


class Model(BaseModel):
    """Strict base: unknown keys are errors, instances are immutable, ``1`` may stand for "1"."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


# --- retries and thresholds -------------------------------------------------------------------


class RetryPolicy(Model):
    """What to do when the caller says nothing (no_input) or nothing we understand (no_match).

    Each failed try speaks the next ``say`` line (the last one repeats) and then the node's
    reprompt, up to ``retries`` times; one more failure sends the call to node ``then``
    (default ``agent``: transfer to the default group).
    """

    say: list[Text] = Field(default_factory=lambda: ["Sorry, I didn't catch that."])
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    then: NodeName = "agent"

    @field_validator("say", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class Thresholds(Model):
    """The decision policy on calibrated probabilities (:mod:`ivr.engine.decide`).

    >= accept: act; two candidates >= disambiguate (together >= confirm): "is it A, or B?";
    >= confirm: "Did you mean A?"; else no-match, naming the top ``suggest`` options. The same
    bands apply to menu options, global intents and FAQ answers. The defaults were chosen on
    validation data (Banking77 train examples outside the 10-shot sets: the most right +
    confirmed-right with unconfirmed wrong routes <= 0.035 and questions <= 0.18 of turns) and
    need no tuning.
    """

    accept: Annotated[float, Field(ge=0, le=1)] = 0.7
    confirm: Annotated[float, Field(ge=0, le=1)] = 0.5
    disambiguate: Annotated[float, Field(ge=0, le=1)] = 0.2
    """Lowest probability of the second candidate worth offering beside the first."""
    suggest: Annotated[int, Field(ge=0, le=5)] = 3
    """Options named in a no-match reprompt (0: just the node's reprompt)."""

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.confirm > self.accept:
            raise ValueError("thresholds: confirm must not be above accept")
        if self.disambiguate > self.confirm:
            raise ValueError("thresholds: disambiguate must not be above confirm")
        return self


class Followup(Model):
    """The "anything else?" question asked after a self-service answer."""

    prompt: Text = "Is there anything else I can help you with?"
    yes: str = ""
    """Where "yes" goes; empty means the plan's start node."""
    no: NodeName = "goodbye"


class Settings(Model):
    """Wording and policies shared by the whole plan (nodes may override some)."""

    timeout_s: Annotated[float, Field(gt=0, le=60)] = 6.0
    thresholds: Thresholds = Field(default_factory=Thresholds)
    no_input: RetryPolicy = Field(
        default_factory=lambda: RetryPolicy(say=["Sorry, I didn't hear anything."])
    )
    no_match: RetryPolicy = Field(
        default_factory=lambda: RetryPolicy(say=["Sorry, I didn't understand that."])
    )
    confirm_intent: Text = "Did you mean {option}? Please say yes or no."
    disambiguate_intent: Text = "Is it about {first}, or {second}?"
    suggest_options: Text = "You can say, for example, {options}."
    confirm_value: Text = (
        "I heard {value}. Is that right? Say yes or press 1, or say no or press 2."
    )
    invalid: Text = "Sorry, that doesn't look right."
    retry_value: Text = "Okay, let's try again."
    transfer_say: Text = "Please hold while I connect you to someone who can help."
    goodbye: Text = "Thank you for calling. Goodbye."
    error_say: Text = (
        "Sorry, something went wrong on our side. Let me connect you to someone who can help."
    )
    followup: Followup = Field(default_factory=Followup)
    keypad_date_format: Literal["DDMMYYYY", "MMDDYYYY", "YYYYMMDD"] = "DDMMYYYY"


# --- agents, hours, global behaviour ----------------------------------------------------------


class AgentGroup(Model):
    """A team callers can be transferred to, and exactly one way to reach it."""

    description: str = ""
    skills: list[Text] = Field(default_factory=list)
    number: Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$")] | None = None
    """E.164 phone number, e.g. "+15551234567" (quote it so YAML keeps the +)."""
    sip: Annotated[str, Field(pattern=r"^sips?:\S+@\S+$")] | None = None
    client: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]+$")] | None = None
    """Twilio Client identity."""
    workflow_sid: Annotated[str, Field(pattern=r"^WW[0-9a-fA-F]{32}$")] | None = None
    """TaskRouter workflow: the call is enqueued with its context as task attributes."""
    timeout_s: Annotated[int, Field(ge=5, le=600)] = 30
    capacity: Annotated[int, Field(ge=1, le=10_000)] | None = None
    """Seats: how many calls the group takes at once (live occupancy is counted from Twilio's
    own callbacks). Unset: unlimited (a TaskRouter group's availability is TaskRouter's)."""
    overflow: list[Text] = Field(default_factory=list)
    """Groups tried, least loaded first, when every seat here is taken or a <Dial> goes
    unanswered."""
    max_wait_s: Annotated[int, Field(ge=10, le=7200)] = 120
    """How long a queued caller waits before being offered a call back."""
    hours: Hours | None = None
    """The group's own opening hours (a closed group is skipped by routing)."""

    @model_validator(mode="after")
    def _one_route(self) -> AgentGroup:
        routes = [k for k in ("number", "sip", "client", "workflow_sid") if getattr(self, k)]
        if len(routes) != 1:
            raise ValueError(
                "an agent group needs exactly one of number, sip, client, "
                f"workflow_sid (found {', '.join(routes) or 'none'})"
            )
        return self


class GlobalIntent(Model):
    """A request that works in every menu and question ("agent", "repeat"...)."""

    examples: Phrases
    dtmf: DtmfKey | None = None
    say: str | None = None
    """What to say first (for ``agent``: the hand-off line; for ``goodbye``: the farewell)."""
    group: str | None = None
    """``agent`` only: which group (default: the plan's default_group)."""


def _gi(examples: list[str], dtmf: str | None = None) -> Any:
    return Field(default_factory=lambda: GlobalIntent(examples=examples, dtmf=dtmf))


class GlobalIntents(Model):
    """The built-in global intents. Give ``examples: []`` and no dtmf to switch one off."""

    agent: GlobalIntent = _gi(
        [
            "agent",
            "operator",
            "a human",
            "speak to a person",
            "talk to someone",
            "representative",
            "customer service",
        ],
        "0",
    )
    repeat: GlobalIntent = _gi(
        [
            "repeat",
            "repeat that",
            "say that again",
            "what were the options",
            "pardon",
            "come again",
        ],
        "*",
    )
    back: GlobalIntent = _gi(["go back", "back", "previous menu", "the last menu"])
    start_over: GlobalIntent = _gi(
        ["start over", "main menu", "start again", "back to the beginning"]
    )
    goodbye: GlobalIntent = _gi(
        ["goodbye", "bye", "that's all", "nothing else", "hang up", "I'm done"]
    )


class ClosedPolicy(Model):
    """What happens outside business hours."""

    say: Text = "We are closed right now."
    then: NodeName = "goodbye"
    """Where the call goes after ``say`` (a self-service menu, or goodbye)."""
    transfer_say: Text = (
        "Our team isn't available right now. Please call back during opening hours."
    )
    """Said instead of a transfer while closed (then the call goes to ``goodbye``)."""


class Hours(Model):
    """Opening hours in a time zone. ``open`` maps days (mon..sun, or a range like mon-fri) to
    "HH:MM-HH:MM" (or a list of them, or "closed"); days not listed are closed."""

    timezone: Text
    open: dict[str, str | list[str]]
    holidays: list[date] = Field(default_factory=list)
    closed: ClosedPolicy = Field(default_factory=ClosedPolicy)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like 'Europe/London')"
            ) from None
        return v

    @field_validator("open")
    @classmethod
    def _open(cls, v: dict[str, str | list[str]]) -> dict[str, str | list[str]]:
        for key, spans in v.items():
            parse_day_keys(key)
            parse_ranges(spans)
        return v


class Frustration(Model):
    """Send an unhappy or stuck caller straight to a person."""

    negative_sentiment: bool = True
    """Transfer when the caller sounds angry ("this is useless")."""
    max_failures: Annotated[int, Field(ge=1, le=20)] = 3
    """Transfer after this many failed turns in a row (no-input, no-match, invalid value)."""
    say: Text = "I'm sorry this is taking so long. Let me get you to a person."
    group: str | None = None


# --- knowledge base, slots, actions -----------------------------------------------------------


class FaqEntry(Model):
    """One FAQ: the ways callers ask it, and the answer spoken."""

    id: str | None = None
    questions: Annotated[list[Text], Field(min_length=1)]
    answer: Text


class KnowledgeBase(Model):
    """FAQ answers searched when no menu option fits. ``file`` is relative to the dialplan."""

    file: str | None = None
    entries: list[FaqEntry] = Field(default_factory=list)
    threshold: Annotated[float, Field(ge=0, le=1)] = 0.5
    then: NodeName = "followup"


SlotType = Literal["digits", "number", "yes_no", "date", "amount", "text"]


class SlotDef(Model):
    """A piece of information the call can hold (collected, or set by a custom action)."""

    type: SlotType = "text"
    min_length: Annotated[int, Field(ge=0)] | None = None
    max_length: Annotated[int, Field(ge=1)] | None = None
    pattern: Annotated[str, AfterValidator(_regex)] | None = None
    """A regular expression the whole value must match (digits and text)."""
    min: float | None = None
    max: float | None = None
    """Range for number and amount."""
    sensitive: bool = False
    """A card number, PIN, CVV, SSN or account number: masked in every transcript, record, log,
    handoff and recording, read back only partly ("ending in 4 2 4 2"); custom actions still get
    the clear value, in memory."""

    @model_validator(mode="after")
    def _fits(self) -> SlotDef:
        if self.type not in ("digits", "text") and (
            self.min_length is not None or self.max_length is not None or self.pattern is not None
        ):
            raise ValueError(
                f"min_length/max_length/pattern apply to digits and text slots, not {self.type}"
            )
        if self.type not in ("number", "amount") and (self.min is not None or self.max is not None):
            raise ValueError(f"min/max apply to number and amount slots, not {self.type}")
        if (
            self.min_length is not None
            and self.max_length is not None
            and self.min_length > self.max_length
        ):
            raise ValueError("min_length is above max_length")
        return self


class OnError(Model):
    """What the caller hears, and where the call goes, when a custom action fails."""

    say: Text = "Sorry, I can't look that up right now."
    then: NodeName = "agent"


class ActionDef(Model):
    """A custom action: a rasa_sdk Action run in-process (``python``) or by an action server
    (``url`` of its /webhook)."""

    python: str | None = None
    """"package.module:ClassName", or "file.py:ClassName" relative to the dialplan."""
    url: Annotated[str, Field(pattern=r"^https?://")] | None = None
    action_name: str | None = None
    """The name the action server knows it by (default: this action's key)."""
    timeout_s: Annotated[float, Field(gt=0, le=30)] = 5.0
    sets: list[Text] = Field(default_factory=list)
    """Slots the action may set (so templates can use them)."""
    on_error: OnError = Field(default_factory=OnError)

    @model_validator(mode="after")
    def _one_way(self) -> ActionDef:
        if (self.python is None) == (self.url is None):
            raise ValueError("a custom action needs exactly one of python or url")
        return self


# --- nodes ------------------------------------------------------------------------------------


class Option(Model):
    """A menu choice: what callers say (``examples``) or press (``dtmf``), and where it leads."""

    name: Text
    """Spoken in "Did you mean {name}?" and a phrase that selects it."""
    intent: str | None = None
    """Machine name passed to the agent on transfer (default: ``name``)."""
    examples: Phrases
    dtmf: DtmfKey | None = None
    go: NodeName | None = None
    transfer: str | None = None
    """Shortcut for a transfer node: the agent group to hand the caller to."""

    @model_validator(mode="after")
    def _one_target(self) -> Option:
        if (self.go is None) == (self.transfer is None):
            raise ValueError("an option needs exactly one of go (a node) or transfer (a group)")
        return self

    @property
    def intent_name(self) -> str:
        return self.intent or self.name


class _NodeBase(Model):
    timeout_s: Annotated[float, Field(gt=0, le=60)] | None = None


class MenuNode(_NodeBase):
    """Ask what the caller wants; route by speech or keypad."""

    type: Literal["menu"]
    prompt: Text
    reprompt: str | None = None
    options: Annotated[list[Option], Field(min_length=1)]
    no_input: RetryPolicy | None = None
    no_match: RetryPolicy | None = None
    knowledge_base: bool = True
    """Search the knowledge base when no option fits."""


class AnswerNode(_NodeBase):
    """Self-service: speak ``say`` (``{slot}`` templates allowed), then go on."""

    type: Literal["answer"]
    say: Text
    then: NodeName = "followup"
    barge_in: bool = True


class CollectNode(_NodeBase):
    """Ask for one slot by voice or keypad; validate; optionally read it back to confirm."""

    type: Literal["collect"]
    slot: Text
    prompt: Text
    reprompt: str | None = None
    invalid: str | None = None
    confirm: bool | str = False
    """true: settings.confirm_value wording; or your own with {value}."""
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    """How many times to ask again after an invalid or rejected value, before ``on_fail``."""
    then: NodeName
    on_fail: NodeName = "agent"
    no_input: RetryPolicy | None = None
    keypad_only: bool = False
    """Ignore speech (PINs)."""


class QuestionNode(_NodeBase):
    """A yes/no question (keypad: 1 yes, 2 no)."""

    type: Literal["question"]
    prompt: Text
    yes: NodeName
    no: NodeName
    no_input: RetryPolicy | None = None
    no_match: RetryPolicy | None = None


class ActionNode(_NodeBase):
    """Run a custom action: its messages are spoken, its SlotSet events fill slots."""

    type: Literal["action"]
    action: Text
    then: NodeName = "followup"
    on_error: OnError | None = None


class BranchNode(_NodeBase):
    """Choose the next node from a slot's value (e.g. what a lookup found)."""

    type: Literal["branch"]
    slot: Text
    cases: dict[str, NodeName]
    default: NodeName


class TransferNode(_NodeBase):
    """Hand the caller to an agent group (with intent, slots and transcript)."""

    type: Literal["transfer"]
    group: Text
    say: str | None = None


class HangupNode(_NodeBase):
    """Say something and end the call."""

    type: Literal["hangup"]
    say: str | None = None


Node = Annotated[
    MenuNode
    | AnswerNode
    | CollectNode
    | QuestionNode
    | ActionNode
    | BranchNode
    | TransferNode
    | HangupNode,
    Field(discriminator="type"),
]


class Dialplan(Model):
    """A whole IVR: nodes, agent groups, global behaviour."""

    version: Literal[1] = 1
    name: Text
    description: str = ""
    greeting: str | None = None
    """Spoken once at the start of every call, before the start node."""
    start: NodeName
    default_group: Text
    """Agent group for callers the bot could not help."""
    vocabulary: list[Text] = Field(default_factory=list)
    """Extra words to bias speech recognition (brand and product names)."""
    settings: Settings = Field(default_factory=Settings)
    agents: Annotated[dict[str, AgentGroup], Field(min_length=1)]
    global_intents: GlobalIntents = Field(default_factory=GlobalIntents)
    hours: Hours | None = None
    frustration: Frustration | None = None
    knowledge_base: KnowledgeBase | None = None
    slots: dict[str, SlotDef] = Field(default_factory=dict)
    actions: dict[str, ActionDef] = Field(default_factory=dict)
    nodes: Annotated[dict[str, Node], Field(min_length=1)]
    routing: Routing | None = None
    """Who goes where when a transfer is decided (caller profile, occupancy): ivr.contact."""

    _source: str = PrivateAttr(default="")
    _action_classes: dict[str, type] = PrivateAttr(default_factory=dict)

    @property
    def source(self) -> str:
        """The file this plan was loaded from ("" when built in code)."""
        return self._source

    def action_class(self, name: str) -> type | None:
        """The in-process rasa_sdk Action class for action ``name`` (resolved at load time)."""
        return self._action_classes.get(name)


# --- routing (ivr.contact): the models live in routing_models.py, which imports from here ----

from ivr.dialplan.routing_models import Routing  # noqa: E402

AgentGroup.model_rebuild()
Dialplan.model_rebuild()  # AgentGroup names Hours (declared after it), Dialplan names Routing
