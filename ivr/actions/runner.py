"""Run a custom action in-process or on a Rasa action server, with one result shape.

Both ways speak the Rasa SDK protocol, so an operator can start with an action file next to the
dialplan and later move it to an action server (or reuse one they already run for a chatbot)
without touching the dialplan beyond ``python:`` -> ``url:``. Every failure (exception,
timeout, refused connection, HTTP error, malformed reply) becomes :class:`ActionFailed`; the
engine turns that into the spoken fallback and the configured next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from ivr.errors import IvrError

log = logging.getLogger(__name__)


class ActionFailed(IvrError):
    """A custom action could not produce a result (the caller hears the plan's fallback)."""

    code = "action_failed"


@dataclass(frozen=True)
class ActionCall:
    """Everything an action may look at: who is calling, what they said, the slots so far."""

    action_name: str
    sender_id: str
    slots: Mapping[str, Any]
    latest_text: str = ""
    intent: str | None = None
    confidence: float = 1.0
    transcript: Sequence[Mapping[str, str]] = ()
    slot_names: Sequence[str] = ()
    intents: Sequence[str] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)
    """Channel facts for the action (``call_sid``, ``from``, ``to``), as Rasa channels send them
    in ``latest_message.metadata``: an action may look the caller up by number."""


@dataclass(frozen=True)
class ActionResult:
    """What came back: lines to speak and Rasa events (``{"event": "slot", ...}``)."""

    messages: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


class ActionRunner(Protocol):
    def run(self, call: ActionCall) -> ActionResult: ...


def tracker_state(call: ActionCall) -> dict[str, Any]:
    """The tracker as Rasa sends it to an action server (the fields rasa_sdk reads)."""
    events: list[dict[str, Any]] = [
        {"event": "action", "name": "action_session_start", "timestamp": None}
    ]
    for line in call.transcript:
        kind = "user" if line.get("speaker") == "caller" else "bot"
        events.append({"event": kind, "text": line.get("text", ""), "timestamp": None})
    for name, value in call.slots.items():
        events.append({"event": "slot", "name": name, "value": value, "timestamp": None})
    intent = {"name": call.intent, "confidence": call.confidence} if call.intent else {}
    return {
        "sender_id": call.sender_id,
        "slots": dict(call.slots),
        "latest_message": {
            "text": call.latest_text,
            "intent": intent,
            "entities": [],
            "intent_ranking": [intent] if intent else [],
            "metadata": dict(call.metadata),
        },
        "events": events,
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
        "latest_input_channel": "twilio_voice",
    }


def domain_for(call: ActionCall) -> dict[str, Any]:
    """A minimal domain: the slots and intents the plan declares."""
    return {
        "version": "3.1",
        "slots": {n: {"type": "any", "mappings": [{"type": "custom"}]} for n in call.slot_names},
        "intents": list(call.intents),
        "entities": [],
        "responses": {},
        "actions": [call.action_name],
    }


def _events(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(e, Mapping) for e in raw):
        raise ActionFailed("the action returned something other than a list of events")
    return [dict(e) for e in raw]


class InProcessRunner:
    """Runs a rasa_sdk Action class in this process (sync or async ``run``)."""

    def __init__(self, action_cls: type[Action]) -> None:
        self._action = action_cls()

    def run(self, call: ActionCall) -> ActionResult:
        dispatcher = CollectingDispatcher()
        tracker = Tracker.from_dict(tracker_state(call))
        try:
            out = self._action.run(dispatcher, tracker, domain_for(call))
            if inspect.isawaitable(out):
                out = asyncio.run(_await(out))
        except Exception as exc:  # operator code: any failure is a spoken fallback
            log.exception("custom action %s raised", call.action_name)
            raise ActionFailed(f"{call.action_name} raised {type(exc).__name__}: {exc}") from exc
        texts = [str(m["text"]) for m in dispatcher.messages if m.get("text")]
        return ActionResult(texts, _events(out))


async def _await(x: Any) -> Any:
    return await x


class WebhookRunner:
    """POSTs to a Rasa action server's ``/webhook`` and applies its reply."""

    def __init__(self, url: str, action_name: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.action_name = action_name
        self.timeout_s = timeout_s

    def run(self, call: ActionCall) -> ActionResult:
        body = {
            "next_action": self.action_name,
            "sender_id": call.sender_id,
            "tracker": tracker_state(call),
            "domain": domain_for(call),
            "version": "3.0.0",
        }
        req = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            detail = ""
            with contextlib.suppress(ValueError, AttributeError):
                detail = json.loads(exc.read() or b"{}").get("error", "")
            raise ActionFailed(
                f"action server answered HTTP {exc.code} for {self.action_name}: {detail}".rstrip(
                    ": "
                )
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ActionFailed(f"action server {self.url} unreachable: {reason}") from None
        try:
            reply = json.loads(raw)
        except ValueError:
            raise ActionFailed("action server reply is not JSON") from None
        if not isinstance(reply, Mapping):
            raise ActionFailed("action server reply is not a JSON object")
        responses = reply.get("responses") or []
        if not isinstance(responses, list):
            raise ActionFailed("action server 'responses' is not a list")
        texts = [str(r["text"]) for r in responses if isinstance(r, Mapping) and r.get("text")]
        return ActionResult(texts, _events(reply.get("events")))
