"""The contract between a call's audio session and the navigation engine.

The engine is pure dialogue logic: it never sees audio, sockets or JSON. The session turns what the
caller did into a :class:`CallerInput`, hands it to the engine, and performs the :class:`Directive`
list the engine returns, in order. Every turn the engine returns ends with exactly one of
:class:`Listen`, :class:`Transfer` or :class:`Hangup`, so the session always knows what to do next
and a call can never stall with nobody holding the floor.

Keeping this file tiny and dependency-free is deliberate: it is what lets the engine be tested with
plain text and the session be tested with a fake engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

InputKind = Literal["speech", "dtmf", "no_input"]


@dataclass(frozen=True, slots=True)
class CallerInput:
    """One caller turn, already endpointed and recognised.

    ``speech``: ``text`` is the ASR transcript, ``confidence`` its 0..1 confidence.
    ``dtmf``: ``digits`` are the keys pressed (collected as the last :class:`Listen` asked).
    ``no_input``: the caller said nothing before the :class:`Listen` timeout.
    """

    kind: InputKind
    text: str = ""
    digits: str = ""
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class Say:
    """Speak ``text``. ``static``: no per-call values in it, so it is rendered once and cached.

    ``barge_in`` says whether caller speech or a key press may interrupt it (legal notices may not).
    """

    text: str
    static: bool = True
    barge_in: bool = True


@dataclass(frozen=True, slots=True)
class Listen:
    """Wait for the caller: speech, keys, or nothing within ``timeout_s`` (then ``no_input``).

    ``dtmf_max_digits`` = 1 means a menu: the first key is the answer. For longer entries keys are
    collected until ``dtmf_finish_key``, ``dtmf_max_digits`` keys or ``dtmf_inter_digit_s`` of
    quiet.
    ``hints`` are words likely to be said now (option names, slot vocabulary); they bias the ASR.
    ``speech`` False means keypad only (the session ignores speech, e.g. while a PIN is keyed).
    """

    timeout_s: float = 6.0
    dtmf_max_digits: int = 1
    dtmf_finish_key: str = "#"
    dtmf_inter_digit_s: float = 3.0
    hints: tuple[str, ...] = ()
    speech: bool = True
    sensitive: str = ""
    """Non-empty (the slot's name) while a card number, PIN... is asked for: the session masks
    what the caller says or keys in its record and silences that stretch of the recording."""


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand the caller to agent group ``group`` (a name declared in the dialplan).

    ``context`` travels to the agent (intent, slots, transcript): it must be JSON-serialisable.
    The session speaks nothing itself; the engine puts the hand-off line in a :class:`Say` before.
    """

    group: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call in the bot (after the preceding :class:`Say` has played)."""

    reason: str = "completed"


Directive = Say | Listen | Transfer | Hangup


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What the engine may know about the call when it starts (from the Twilio webhook)."""

    call_sid: str
    from_number: str = ""
    to_number: str = ""


class CallDialog(Protocol):
    """One call's dialogue state. Not thread-safe: the session calls it from one worker at once."""

    def start(self) -> list[Directive]:
        """The greeting turn."""
        ...

    def handle(self, event: CallerInput) -> list[Directive]:
        """The bot's next turn after the caller's input."""
        ...


class Rewindable(Protocol):
    """Optional on a :class:`CallDialog`: take a turn back. The session snapshots before a speech
    turn it ended early and restores if the caller goes on talking at once, then hands the
    joined words over as one turn (``Services.take_back_s``). The engine's ``PlanCall`` has it."""

    def snapshot(self) -> Any: ...

    def restore(self, snapshot: Any) -> None: ...


class DialogFactory(Protocol):
    """A loaded dialplan: makes a fresh :class:`CallDialog` per call."""

    def new_call(self, info: CallInfo) -> CallDialog: ...

    def agent_group(self, name: str) -> AgentTarget:
        """How to reach agent group ``name`` (raises KeyError when undeclared)."""
        ...

    @property
    def default_group(self) -> str:
        """The agent group for callers the bot could not help (and calls that hit an error)."""
        ...

    def asr_vocabulary(self) -> tuple[str, ...]:
        """Words the whole plan expects (option names, group names): biases the ASR everywhere."""
        ...


@dataclass(frozen=True, slots=True)
class AgentTarget:
    """Where a transfer goes, resolved from the dialplan into plain data the TwiML route can use.

    ``kind``: ``number`` (E.164), ``sip`` (sip: URI), ``client`` (Twilio Client identity)
    -> ``<Dial>``;
    ``taskrouter`` -> ``<Enqueue workflowSid=...><Task>{context}</Task></Enqueue>``.
    """

    name: str
    kind: Literal["number", "sip", "client", "taskrouter"]
    address: str
    timeout_s: int = 30
