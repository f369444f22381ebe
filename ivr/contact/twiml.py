"""TwiML for routed transfers: ``<Dial>`` with the callbacks occupancy is counted from,
TaskRouter ``<Enqueue><Task priority timeout>``, our ``<Enqueue>`` and the call-back offer."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import Client, Dial, Enqueue, Gather, VoiceResponse

from ivr.contact.rules import RouteFacts, RouteSpec
from ivr.dialog import AgentTarget, DialogFactory
from ivr.dialplan.models import Dialplan
from ivr.store import Decision

PREFIX = "/twilio/contact"
DIAL_DONE = PREFIX + "/dial-done"
DIAL_EVENT = PREFIX + "/dial-event"
WAIT = PREFIX + "/wait"
WAIT_CHOICE = PREFIX + "/wait-choice"
QUEUE_DONE = PREFIX + "/queue-done"
DIAL_EVENTS = "initiated ringing answered completed"
TRY_NEXT = "Nobody answered there. Let me try another team."


def _base() -> str:
    from ivr.app import public_base

    return public_base()


def _url(path: str, **query: str) -> str:
    return _base() + path + ("?" + urlencode(query) if query else "")


def task_attributes(spec: RouteSpec, facts: RouteFacts, group: str,
                    call_sid: str, decision: Decision) -> dict[str, Any]:
    """What a TaskRouter workflow routes on. Example workflow filter expression:
    ``priority >= 10 AND "senior" IN skills`` or ``tier == "gold" AND intent == "billing"``."""
    p = facts.profile
    return {
        "group": group,
        "call_sid": call_sid,
        "priority": spec.priority,
        "skills": list(spec.skills),
        "tier": p.tier if p else "unknown",
        "language": p.language if p and p.language else "en",
        "segments": list(p.segments) if p else [],
        "intent": facts.intent or "",
        "repeat_caller": facts.repeat,
        "routing_rule": spec.rule or "",
        "reason": str(decision.context.get("reason") or ""),
    }


def connect(resp: VoiceResponse, plan: Dialplan, factory: DialogFactory, group: str,
            spec: RouteSpec, facts: RouteFacts, decision: Decision, call_sid: str,
            tried: tuple[str, ...]) -> VoiceResponse:
    """Send the caller to ``group`` (its seat is already claimed)."""
    from ivr.app import WHISPER_PATH

    target: AgentTarget = factory.agent_group(group)
    g = plan.agents[group]
    if target.kind == "taskrouter":
        enqueue = Enqueue(None, workflow_sid=target.address,
                          action=_url(QUEUE_DONE, group=group))
        enqueue.task(json.dumps(task_attributes(spec, facts, group, call_sid, decision)),
                     priority=spec.priority, timeout=g.max_wait_s)
        resp.append(enqueue)
        return resp
    dial = Dial(action=_url(DIAL_DONE, group=group, tried=",".join(tried)),
                timeout=target.timeout_s)
    events = {"status_callback": _url(DIAL_EVENT, group=group, call=call_sid),
              "status_callback_event": DIAL_EVENTS}
    whisper = _url(WHISPER_PATH, call=call_sid)
    if target.kind == "number":
        dial.number(target.address, url=whisper, **events)
    elif target.kind == "sip":
        dial.sip(target.address, url=whisper, **events)
    else:
        client = Client(url=whisper, **events)
        client.identity(target.address)
        for key, value in (("group", group), ("intent", facts.intent), ("call_sid", call_sid),
                           ("priority", str(spec.priority))):
            if value:
                client.parameter(name=key, value=value)
        dial.append(client)
    resp.append(dial)
    return resp


def enqueue(resp: VoiceResponse, group: str) -> VoiceResponse:
    """Our own queue for ``group`` (the waitUrl decides who leaves first)."""
    resp.enqueue(group, wait_url=_url(WAIT, group=group), wait_url_method="POST",
                 action=_url(QUEUE_DONE, group=group), method="POST")
    return resp


def offer_callback(resp: VoiceResponse, offer: str, group: str) -> VoiceResponse:
    gather = Gather(input="dtmf speech", num_digits=1, timeout=5,
                    action=_url(WAIT_CHOICE, group=group), hints="call me back")
    gather.say(offer)
    resp.append(gather)
    return resp
