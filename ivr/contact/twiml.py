"""TwiML for routed transfers: ``<Dial>`` with the callbacks occupancy is counted from,
TaskRouter ``<Enqueue><Task priority timeout>``, our ``<Enqueue>`` and the call-back offer."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from twilio.twiml.voice_response import Gather, Parameter, Task, VoiceResponse

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
DIAL_NOUNS = ("Number", "Sip", "Client")
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
    """Send the caller to ``group`` (its seat is already claimed).

    The transfer path's own renderer (``ivr.app._transfer_twiml``: whisper, agent context,
    SIP headers, Task attributes) draws the ``<Dial>``/``<Enqueue>`` for the chosen group, so
    routing never duplicates or loses what the agent is handed; routing then only adds what
    it needs: the ``<Dial action>`` and the noun's ``statusCallback`` (occupancy, next group
    on no answer) in place of the "nobody is available" hang-up, or the Task's priority,
    timeout and routing attributes.
    """
    from ivr.app import _transfer_twiml

    target: AgentTarget = factory.agent_group(group)
    routed = Decision("transfer", target, dict(decision.context))
    before = len(resp.verbs)
    _transfer_twiml(resp, routed, call_sid)
    verb = next((v for v in resp.verbs[before:] if v.name in ("Dial", "Enqueue")), None)
    if verb is None:
        raise ValueError(f"the transfer path drew no <Dial>/<Enqueue> for {group}")
    del resp.verbs[resp.verbs.index(verb) + 1:]  # the hang-up after an unanswered dial
    if verb.name == "Enqueue":
        _decorate_task(verb, plan, spec, facts, group, call_sid, decision)
        return resp
    verb.attrs["action"] = _url(DIAL_DONE, group=group, tried=",".join(tried))
    for noun in verb.verbs:
        if noun.name in DIAL_NOUNS:
            noun.attrs["statusCallback"] = _url(DIAL_EVENT, group=group, call=call_sid)
            noun.attrs["statusCallbackEvent"] = DIAL_EVENTS
            noun.attrs["statusCallbackMethod"] = "POST"
            if noun.name == "Client":
                noun.append(Parameter(name="priority", value=str(spec.priority)))
    return resp


def _decorate_task(enqueue: Any, plan: Dialplan, spec: RouteSpec, facts: RouteFacts,
                   group: str, call_sid: str, decision: Decision) -> None:
    enqueue.attrs["action"] = _url(QUEUE_DONE, group=group)
    task = next((v for v in enqueue.verbs if v.name == "Task"), None)
    if task is None:
        task = Task("{}")
        enqueue.append(task)
    try:
        attrs = json.loads(task.value or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"the transfer path's <Task> is not JSON: {exc}") from exc
    attrs.update(task_attributes(spec, facts, group, call_sid, decision))
    task.value = json.dumps(attrs, default=str)
    task.attrs["priority"] = spec.priority
    task.attrs["timeout"] = plan.agents[group].max_wait_s


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
