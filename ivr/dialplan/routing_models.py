"""The ``routing:`` section of the dialplan language (who takes a transferred call).

Kept apart from :mod:`ivr.dialplan.models` so that file stays readable; ``Dialplan.routing``
refers to :class:`Routing` here (models.py imports it at its end). Every key here is used by
:mod:`ivr.contact` and cross-checked by :mod:`ivr.dialplan.routing_checks`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from ivr.dialplan.hours import parse_ranges
from ivr.dialplan.models import Hours, Model, Text


def _one_or_many(v: Any) -> Any:
    return [v] if isinstance(v, str | int | float) and not isinstance(v, bool) else v


OneOrMany = Annotated[list[Text], Field(min_length=1)]


def _time_span(v: str) -> str:
    spans = parse_ranges(v)
    if len(spans) != 1:
        raise ValueError('time must be one "HH:MM-HH:MM" span')
    return v


class RouteWhen(Model):
    """Conditions of a routing rule; all given ones must hold (an empty ``when`` always holds).

    A list means "any of these". Profile fields come from the customer directory; an unknown
    caller has no tier, language, segments or tickets.
    """

    tier: OneOrMany | None = None
    language: OneOrMany | None = None
    segment: OneOrMany | None = None
    """Holds when the caller's profile is in any of these segments."""
    intent: OneOrMany | None = None
    """The intent the bot decided on (an option's intent, or a global intent like agent)."""
    repeat_caller: bool | None = None
    """Called about the same intent within ``routing.repeat_within_days`` without the bot
    resolving it."""
    frustrated: bool | None = None
    """The bot handed the caller over because they sounded upset or were stuck."""
    known_caller: bool | None = None
    """The number is in the customer directory."""
    open_tickets: bool | None = None
    """The profile has at least one open ticket."""
    last_call_intent: OneOrMany | None = None
    """What the caller's previous unresolved call (within routing.repeat_within_days) was
    about."""
    time: Annotated[str, AfterValidator(_time_span)] | None = None
    """Local time of day, "HH:MM-HH:MM", in routing.timezone (default: hours.timezone, UTC)."""

    @field_validator("tier", "language", "segment", "intent", "last_call_intent", mode="before")
    @classmethod
    def _many(cls, v: Any) -> Any:
        return _one_or_many(v)


class RoutingRule(Model):
    """When ``when`` holds, route to ``prefer`` (in order) among groups with ``skills``, at
    ``priority`` (higher goes ahead in our queue; TaskRouter gets it as the Task priority)."""

    name: Text
    when: RouteWhen = Field(default_factory=RouteWhen)
    prefer: list[Text] = Field(default_factory=list)
    skills: list[Text] = Field(default_factory=list)
    priority: Annotated[int, Field(ge=0, le=100)] = 0

    @model_validator(mode="after")
    def _does_something(self) -> RoutingRule:
        if not self.prefer and not self.skills and self.priority == 0:
            raise ValueError("a routing rule needs at least one of prefer, skills or priority")
        return self


class Anticipate(Model):
    """A likely reason for the call, offered right after the greeting when ``when`` holds for
    the caller's profile and history ("Are you calling about your open ticket?"). Yes (or key 1)
    transfers straight to the group for ``intent``, or (``go``) enters a node of the plan (a
    self-service answer, a menu); anything else goes on to the start node."""

    name: Text
    when: RouteWhen
    say: Text
    intent: Text
    """The intent the call then carries (a menu option's intent; routing rules see it)."""
    group: Text | None = None
    """Where yes goes (default: the group of the menu option with this intent)."""
    go: Text | None = None
    """A node yes enters instead of transferring (self-service: "the transfer you made this
    morning" answered by the bot); not with ``group``."""

    @model_validator(mode="after")
    def _one_target(self) -> Anticipate:
        if self.go is not None and self.group is not None:
            raise ValueError("an offer either transfers (group) or enters a node (go), not both")
        return self


class Routing(Model):
    """Contact-centre routing: rules evaluated in order whenever a transfer is decided; the
    first that holds decides the preferred groups, required skills and priority."""

    rules: list[RoutingRule] = Field(default_factory=list)
    anticipate: list[Anticipate] = Field(default_factory=list)
    """Reasons offered before the menu; the first whose ``when`` holds is asked."""
    welcome_back: Text | None = None
    """Said after the greeting to callers found in the customer directory ("Welcome back.").
    Profile values are never read out: caller ID alone does not verify who is calling."""
    verify_slot: str | None = None
    """A slot only a custom action sets (the operator's system checked the account number and
    PIN, say): once an action sets it true, the caller is verified and their profile (by
    ``account_slot`` when filled, else by number) may be spoken in ``verified_say``."""
    verified_say: Text | None = None
    """Said once, when the caller becomes verified, before the next prompt: the one text that
    may read out profile fields ({caller.name}, {caller.first_name}, {caller.tier},
    {caller.language}); needs
    ``verify_slot``. A caller who was not verified never hears it."""
    repeat_within_days: Annotated[int, Field(ge=1, le=365)] = 7
    directory_action: str | None = None
    """A custom action (under actions:) that looks the caller up in the operator's CRM instead
    of the built-in customer table: it gets the caller's number in the tracker metadata and
    returns SlotSet events for name, tier, language, segments, open_tickets, account. Its
    timeout_s bounds the wait; the result is cached for the call; a failure routes the caller
    as unknown (logged), never drops them."""
    account_slot: str | None = None
    """A slot holding the caller's account number: once filled, the profile with that account
    is the caller's (caller ID may be a shared or withheld phone)."""
    timezone: str | None = None
    hold_music: Annotated[str, Field(pattern=r"^https?://")] | None = None
    """Audio URL played to queued callers between announcements (default: a spoken line and
    a pause)."""
    hold_say: Text = "All our agents are busy. Please stay on the line."
    position_say: Text = (
        "You are number {position} in the queue. The expected wait is about {minutes} minutes."
    )
    callback_offer: Text = (
        "If you would like us to call you back instead, press 1 or say call me back."
    )
    callback_said: Text = "Thank you. We will call you back as soon as an agent is free. Goodbye."
    nobody_say: Text = (
        "Sorry, everyone is busy. We have kept your number and will call you back. Goodbye."
    )
    """Said when no group can take or queue the call (all closed): a callback is stored."""

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            Hours._tz(v)
        return v
