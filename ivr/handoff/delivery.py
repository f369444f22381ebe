"""Render one :class:`HandoffContext` in each form Twilio can carry to an agent.

- TaskRouter: ``<Enqueue workflowSid><Task>{json}</Task>`` -- the whole (bounded) context as Task
  attributes, so TaskRouter workflows can route on ``intent``/``sentiment.frustrated`` and the agent
  desktop reads the rest.
- ``<Dial><Client>``: ``<Parameter>`` name/value pairs (the Voice SDK hands them to the agent's
  ``call.customParameters``); values stay short.
- ``<Dial><Sip>``: custom ``x-`` headers appended to the SIP URI as a query string
  (``sip:agent@pbx.example.com?x-ivr-intent=billing&...``), as Twilio's ``<Sip>`` docs describe;
  Twilio limits their total length, so they are bounded to :data:`SIP_HEADERS_MAX`.
- ``<Dial><Number url>`` (and SIP): a whisper spoken to the agent before they are bridged.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from twilio.twiml.voice_response import Client, Dial, Enqueue, VoiceResponse

from ivr.dialog import AgentTarget
from ivr.handoff.context import HandoffContext

NOBODY = "Sorry, nobody is available to take your call right now. Please try again later."
SIP_HEADERS_MAX = 1024
CLIENT_VALUE_MAX = 500


def task_attributes(ctx: HandoffContext) -> str:
    """The TaskRouter Task attributes JSON (the bounded context)."""
    return ctx.bounded().to_json_str()


def client_parameters(ctx: HandoffContext) -> dict[str, str]:
    """``<Client>`` ``<Parameter>``s: flat strings the agent's browser receives."""
    params = {
        "call_sid": ctx.call_sid,
        "group": ctx.group,
        "intent": ctx.intent or "",
        "reason": ctx.reason,
        "summary": ctx.summary,
        "frustrated": "true" if ctx.sentiment.frustrated else "false",
        "slots": json.dumps({k: s.value for k, s in ctx.slots.items()}, separators=(",", ":")),
        "schema": ctx.schema_,
    }
    if ctx.screen_pop_url:
        params["screen_pop_url"] = ctx.screen_pop_url
    return {k: v[:CLIENT_VALUE_MAX] for k, v in params.items() if v}


def sip_headers(ctx: HandoffContext) -> dict[str, str]:
    """``x-`` headers for ``<Sip>``, most important first, cut to fit :data:`SIP_HEADERS_MAX`."""
    headers = {
        "x-ivr-call-sid": ctx.call_sid,
        "x-ivr-intent": ctx.intent or "",
        "x-ivr-reason": ctx.reason,
        "x-ivr-frustrated": "1" if ctx.sentiment.frustrated else "0",
        "x-ivr-screen-pop": ctx.screen_pop_url or "",
        "x-ivr-summary": ctx.summary,
    }
    out: dict[str, str] = {}
    used = 0
    for key, value in headers.items():
        if not value:
            continue
        room = SIP_HEADERS_MAX - used - len(key) - 2
        if room <= 0:
            break
        enc = quote(value, safe="")
        if len(enc) > room:
            if key != "x-ivr-summary":
                continue
            while len(enc) > room and value:
                value = value[:-8]
                enc = quote(value, safe="")
        out[key] = value
        used += len(key) + len(enc) + 2
    return out


def sip_uri(address: str, ctx: HandoffContext) -> str:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in sip_headers(ctx).items())
    if not query:
        return address
    return address + ("&" if "?" in address else "?") + query


def whisper_text(ctx: HandoffContext) -> str:
    """What the phone agent hears before the caller is bridged."""
    lead = "Caller is upset. " if ctx.sentiment.frustrated else ""
    return f"{lead}{ctx.summary}"


def transfer_twiml(resp: VoiceResponse, target: AgentTarget, ctx: HandoffContext,
                   whisper_url: str) -> VoiceResponse:
    """``<Dial>`` (number, SIP, client) or TaskRouter ``<Enqueue>`` carrying ``ctx``."""
    if target.kind == "taskrouter":
        enqueue = Enqueue(None, workflow_sid=target.address)
        enqueue.task(task_attributes(ctx))
        resp.append(enqueue)
        return resp
    dial = Dial(timeout=target.timeout_s)
    if target.kind == "number":
        dial.number(target.address, url=whisper_url)
    elif target.kind == "sip":
        dial.sip(sip_uri(target.address, ctx), url=whisper_url)
    else:
        client = Client()
        client.identity(target.address)
        for name, value in client_parameters(ctx).items():
            client.parameter(name=name, value=value)
        dial.append(client)
    resp.append(dial)
    resp.say(NOBODY)  # reached only when the dial fails or nobody answers
    resp.hangup()
    return resp


def whisper_twiml(ctx: HandoffContext | None) -> VoiceResponse:
    resp = VoiceResponse()
    resp.say(whisper_text(ctx) if ctx is not None else "Transferred caller.")
    return resp
