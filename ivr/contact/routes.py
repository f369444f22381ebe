"""The Twilio callbacks routing lives on: ``<Dial action>``, the noun's ``statusCallback``,
``<Enqueue waitUrl/action>`` and the call-back choice. Thin: parse the form, ask
:class:`~ivr.contact.service.ContactCentre`, answer TwiML (built in :mod:`ivr.contact.twiml`).

Every path is under ``/twilio/`` so the app's signature check runs before any of these.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import datetime, timezone

from flask import Blueprint, Flask, Response, current_app, request
from redis.exceptions import RedisError
from twilio.twiml.voice_response import VoiceResponse

from ivr.contact import twiml as tw
from ivr.contact.choice import Choice
from ivr.contact.crm import directory_for
from ivr.contact.queue import CallbackRequest, QueueEntry
from ivr.contact.rules import RouteFacts, RouteSpec
from ivr.contact.service import TALK_TTL_S, ContactCentre
from ivr.dialog import DialogFactory
from ivr.dialplan.models import Dialplan
from ivr.dialplan.routing_models import Routing
from ivr.store import Decision
from ivr.store.records import ROUTED, RecordsDB

log = logging.getLogger(__name__)

bp = Blueprint("contact", __name__)
CENTRE_KEY = "IVR_CONTACT"
ENDED = ("completed", "canceled", "failed", "busy", "no-answer")
"""Parent-call statuses meaning the caller is gone."""
CALL_ME_BACK = ("call me back", "call back", "callback", "call me")


def register_contact(app: Flask, centre: ContactCentre | None = None) -> None:
    """The one line ``create_app`` calls: routes plus the shared routing state (from the
    environment, :mod:`ivr.contact.setup`, unless given)."""
    if centre is None and CENTRE_KEY not in app.config:
        from ivr.contact.setup import centre_from_env
        from ivr.store.records import RecordsDB

        settings = app.config.get("IVR_SETTINGS")
        store = getattr(app.config.get("IVR_SERVICES"), "store", None)
        records = getattr(store, "records", None)
        env = dict(os.environ)
        if str(getattr(settings, "db_url", "")).lower() in ("", "none"):
            env["IVR_DB_URL"] = ""  # --db none wins over the environment's database
        centre = centre_from_env(env, store_url=str(getattr(settings, "store_url", "") or ""),
                                 records=records if isinstance(records, RecordsDB) else None)
    app.config.setdefault(CENTRE_KEY, centre)
    app.register_blueprint(bp)
    services = app.config.get("IVR_SERVICES")
    if services is not None and callable(getattr(services, "plan", None)) and not getattr(
            services.plan, "greets_callers", False):  # an app built twice wraps once
        # Greets known callers and offers anticipated reasons (plans with routing.welcome_back
        # / routing.anticipate); every other plan's dialogs pass through unchanged.
        from ivr.contact.greeting import wrap_plan

        services.plan = wrap_plan(services.plan, lambda: app.config[CENTRE_KEY])


def _centre() -> ContactCentre:
    centre: ContactCentre = current_app.config[CENTRE_KEY]
    return centre


def _factory() -> DialogFactory:
    from ivr.app import _services

    return _services().plan()


def _plan() -> Dialplan:
    plan = getattr(_factory(), "plan", None)
    assert isinstance(plan, Dialplan), "routing needs a dialplan-backed factory"
    return plan


def _now() -> datetime:
    clock = getattr(_factory(), "clock", None)
    return clock() if callable(clock) else datetime.now(timezone.utc)


def _routing(plan: Dialplan) -> Routing:
    return plan.routing or Routing()


def _twiml(resp: VoiceResponse) -> Response:
    return Response(str(resp), mimetype="application/xml")


def _decision(call_sid: str) -> Decision | None:
    from ivr.app import _services

    return _services().store.get_decision(call_sid)


def _facts(plan: Dialplan, decision: Decision) -> RouteFacts:
    assert decision.target is not None
    centre = _centre()
    directory = directory_for(plan, _factory(), centre.directory)
    return centre.facts(plan, decision.target.name, decision.context, _now(), directory)


# --- the entry point from the app's after-stream route -------------------------------------------


def contact_transfer(decision: Decision, call_sid: str) -> Response | None:
    """TwiML for a transfer on a dialplan; None: the factory is not dialplan-backed (plain
    transfer). Plans without ``routing:`` are routed too (no rules, no seat counts: the bot's
    group), so a failed ``<Dial>`` reaches :func:`dial_done` and never ends in a bare hang-up."""
    plan = getattr(_factory(), "plan", None)
    if not isinstance(plan, Dialplan) or decision.target is None:
        return None
    centre = _centre()
    try:
        facts = _facts(plan, decision)
        centre.remember(str(decision.context.get("from") or ""), facts.intent,
                        f"transfer: {decision.target.name}", call_sid)
        return _twiml(_next_step(plan, facts, decision, call_sid, ()))
    except RedisError as exc:
        # Degraded mode: seats and queue are unreachable. Never drop the caller: the plain
        # transfer to the bot's group (what a plan without routing always did).
        _unavailable(call_sid, "transfer", exc)
        return None


def _unavailable(call_sid: str, where: str, exc: Exception) -> None:
    from ivr.app import _services

    log.error("call %s: routing state unreachable at the %s (%s): routing without it",
              call_sid, where, exc)
    _services().store.errors("routing_state_unavailable")


def _next_step(plan: Dialplan, facts: RouteFacts, decision: Decision, call_sid: str,
               tried: tuple[str, ...], resp: VoiceResponse | None = None) -> VoiceResponse:
    resp = resp or VoiceResponse()
    centre = _centre()
    spec, choice = centre.decide(plan, facts, call_sid, tried)
    if tried and choice.kind != "dial":
        choice = _after_failed_dial(plan, spec, choice, call_sid, tried)
    log.info("call %s: route %s (rule %s): %s", call_sid, choice.kind, spec.rule, choice.why)
    if choice.kind == "dial" and choice.group is not None:
        if tried:
            resp.say(tw.TRY_NEXT)
        _record_routed(call_sid, f"transfer: {choice.group}", choice.group)
        return tw.connect(resp, plan, _factory(), choice.group, spec, facts, decision, call_sid,
                          tried)
    if choice.kind == "queue" and choice.group is not None:
        now = centre.clock()
        centre.queue.add(QueueEntry(call_sid, choice.group, spec.priority, now,
                                    str(decision.context.get("from") or ""), facts.intent or "",
                                    tried=tried, skills=spec.skills, polled_at=now))
        _record_routed(call_sid, f"transfer: {choice.group}", choice.group)
        return tw.enqueue(resp, choice.group)
    group = (tried[-1] if tried else None) or facts.group
    _store_callback(decision, call_sid, group, spec,
                    "no group answered" if tried else "no group open")
    resp.say(_routing(plan).nobody_say)
    resp.hangup()
    return resp


def _after_failed_dial(plan: Dialplan, spec: RouteSpec, choice: Choice, call_sid: str,
                       tried: tuple[str, ...]) -> Choice:
    """A ``<Dial>`` went unanswered and no declared group (preferred or overflow) is left.
    Next: the plan's default group, if not tried yet (every plan has one, with or without a
    ``routing:`` section); then our queue, but only for a group whose seats we count (a queue
    for a group without ``capacity`` would never know when to let the caller out); else a
    call-back, stored durably. Never a bare hang-up."""
    default = plan.default_group
    if default not in tried and default in plan.agents:
        last = _centre().place(plan, RouteSpec(default, spec.rule, (default,), (),
                                               spec.priority), call_sid, _now(), tried)
        if last.kind == "dial":
            return Choice("dial", last.group, f"every declared group tried: {default}, the "
                          "plan's default group")
    if choice.kind == "queue" and choice.group is not None and \
            plan.agents[choice.group].capacity is not None:
        return choice
    return Choice("callback", None, "every group tried: a call-back is stored")


def _record_routed(call_sid: str, outcome: str, group: str) -> None:
    """The call's outcome names the group routing chose (after an overflow or a failed dial,
    the one the caller is now sent to), not the bot's first choice: in the stored decision
    (the record's final row is written from it, whenever the stream's end is processed), in
    the live record, and in the records database when the row is already there."""
    from ivr.app import _services

    store = _services().store
    decision = store.get_decision(call_sid)
    if decision is not None:
        store.put_decision(call_sid, Decision(decision.outcome, decision.target,
                                              {**decision.context, ROUTED: outcome}))
    record = store.get_record(call_sid)
    if record is not None and record.outcome != outcome:
        record.outcome = outcome
        store.put_record(record)
    records = getattr(store, "records", None)
    if isinstance(records, RecordsDB):
        records.set_outcome(call_sid, outcome, group)


def _store_callback(decision: Decision, call_sid: str, group: str, spec: RouteSpec | None,
                    reason: str) -> CallbackRequest:
    centre = _centre()
    _record_routed(call_sid, f"callback: {group}", group)
    ctx = decision.context
    req = CallbackRequest(
        number=str(ctx.get("from") or request.form.get("From", "")),
        group=group,
        intent=str(ctx.get("intent") or ""),
        priority=spec.priority if spec else 0,
        requested_at=centre.clock(),
        call_sid=call_sid,
        reason=reason,
    )
    centre.callbacks.add(req)
    log.info("call %s: call-back stored for %s (%s)", call_sid, group, reason)
    return req


# --- <Dial> callbacks ----------------------------------------------------------------------------


@bp.post(tw.DIAL_DONE)
def dial_done() -> Response:
    """``<Dial action>``: the dial is over. Answered: done. Unanswered: the next group."""
    call_sid = request.form.get("CallSid", "")
    group = request.args.get("group", "")
    tried = tuple(t for t in request.args.get("tried", "").split(",") if t)
    status = request.form.get("DialCallStatus", "")
    centre = _centre()
    try:
        centre.occupancy.release(group, call_sid)
    except RedisError as exc:  # the seat's expiry frees it; the caller must not wait on Redis
        _unavailable(call_sid, "dial action", exc)
    resp = VoiceResponse()
    if status in ("completed", "answered") or request.form.get("CallStatus") in ENDED:
        resp.hangup()
        return _twiml(resp)
    decision = _decision(call_sid)
    plan = _plan()
    if decision is None or decision.target is None:
        log.error("call %s: dial %s ended %s with no stored decision", call_sid, group, status)
        decision = Decision("transfer", _factory().agent_group(plan.default_group),
                            {"error": "no_decision"})
    log.info("call %s: dial to %s ended %s; trying the next group", call_sid, group, status)
    try:
        return _twiml(_next_step(plan, _facts(plan, decision), decision, call_sid,
                                 (*tried, group), resp))
    except RedisError as exc:  # degraded: the default group without seat counts, once
        _unavailable(call_sid, "dial action", exc)
        from ivr.app import _transfer_twiml

        default = plan.default_group
        if default not in (*tried, group):
            resp = VoiceResponse()
            resp.say(tw.TRY_NEXT)
            fallback = Decision("transfer", _factory().agent_group(default), decision.context)
            return _twiml(_transfer_twiml(resp, fallback, call_sid))
        resp = VoiceResponse()
        _store_callback(decision, call_sid, group, None, "no group answered (degraded)")
        resp.say(_routing(plan).nobody_say)
        resp.hangup()
        return _twiml(resp)


@bp.post(tw.DIAL_EVENT)
def dial_event() -> Response:
    """The noun's ``statusCallback``: the agent leg's progress keeps the seat count honest."""
    parent = request.form.get("ParentCallSid") or request.args.get("call", "")
    group = request.args.get("group", "")
    status = request.form.get("CallStatus", "")
    centre = _centre()
    if status == "in-progress":
        centre.occupancy.hold(group, parent, TALK_TTL_S)
    elif status in ("initiated", "ringing", "queued"):
        centre.occupancy.hold(group, parent, centre.seat_ttl(_plan(), group))
    else:
        centre.occupancy.release(group, parent)
    return Response("", status=204)


# --- our queue -----------------------------------------------------------------------------------


@bp.post(tw.WAIT)
def wait() -> Response:
    """``<Enqueue waitUrl>``: let the caller out to a free seat when nobody ahead of them in
    our serve order can take it, else announce the position and expected wait, hold, and after
    max_wait_s offer a call back."""
    plan = _plan()
    call_sid = request.form.get("CallSid", "")
    group = request.args.get("group", "")
    centre = _centre()
    entry = centre.queue.get(call_sid)
    if entry is None:  # queued by a process whose memory we do not share, or restarted
        entry = QueueEntry(call_sid, group, 0, centre.clock(), polled_at=centre.clock())
        centre.queue.add(entry)
    else:
        centre.queue.touch(call_sid, centre.clock())
    resp = VoiceResponse()
    g = plan.agents.get(group)
    seat = centre.seat_for_waiting(plan, entry, _now()) if g is not None else None
    if seat is not None and seat.group is not None:
        centre.queue.mark_leaving(call_sid, f"seat:{seat.group}")
        resp.leave()
        return _twiml(resp)
    waiting = centre.queue.waiting(group)
    position = next((i + 1 for i, e in enumerate(waiting) if e.call_sid == call_sid),
                    _int(request.form.get("QueuePosition"), 1))
    avg = _int(request.form.get("AvgQueueTime"), 0)
    minutes = max(1, math.ceil((avg if avg > 0 else 60 * position) / 60))
    r = _routing(plan)
    resp.say(r.position_say.format(position=position, minutes=minutes))
    queued_s = _int(request.form.get("QueueTime"), 0)
    if g is not None and queued_s >= g.max_wait_s:
        tw.offer_callback(resp, r.callback_offer, group)
    if r.hold_music:
        resp.play(r.hold_music)
    else:
        resp.say(r.hold_say)
        resp.pause(length=10)
    return _twiml(resp)


@bp.post(tw.WAIT_CHOICE)
def wait_choice() -> Response:
    """The call-back offer's ``<Gather action>`` (inside the wait): 1 or "call me back"."""
    call_sid = request.form.get("CallSid", "")
    group = request.args.get("group", "")
    resp = VoiceResponse()
    digits = request.form.get("Digits", "")
    said = request.form.get("SpeechResult", "").lower()
    if digits == "1" or any(p in said for p in CALL_ME_BACK):
        decision = _decision(call_sid) or Decision("transfer", None, {})
        entry = _centre().queue.get(call_sid)
        spec = RouteSpec(group, None, (group,), (), entry.priority if entry else 0)
        _store_callback(decision, call_sid, group, spec, "asked in queue")
        _centre().queue.mark_leaving(call_sid, "callback")
        resp.leave()
    return _twiml(resp)


@bp.post(tw.QUEUE_DONE)
def queue_done() -> Response:
    """``<Enqueue action>``: why the caller left our queue, and what happens next."""
    plan = _plan()
    call_sid = request.form.get("CallSid", "")
    group = request.args.get("group", "")
    result = request.form.get("QueueResult", "")
    centre = _centre()
    entry = centre.queue.remove(call_sid)
    resp = VoiceResponse()
    decision = _decision(call_sid)
    if result == "hangup" or request.form.get("CallStatus") in ENDED:
        log.info("call %s: abandoned the %s queue after %ss", call_sid, group,
                 request.form.get("QueueTime", "?"))
        return _twiml(resp)
    leaving = entry.leaving if entry else ""
    if leaving == "callback":
        resp.say(_routing(plan).callback_said)
        resp.hangup()
        return _twiml(resp)
    if decision is None or decision.target is None:
        decision = Decision("transfer", _factory().agent_group(group or plan.default_group),
                            {"error": "no_decision"})
    facts = _facts(plan, decision)
    if leaving.startswith("seat:"):
        seat = leaving[5:]
        spec = RouteSpec(facts.group, None, (seat,), (), entry.priority if entry else 0)
        _record_routed(call_sid, f"transfer: {seat}", seat)
        return _twiml(tw.connect(resp, plan, _factory(), seat, spec, facts, decision, call_sid,
                                 entry.tried if entry else ()))
    if result in ("queue-full", "error", "system-error"):
        _store_callback(decision, call_sid, group, None, f"queue {result}")
        resp.say(_routing(plan).nobody_say)
        resp.hangup()
        return _twiml(resp)
    return _twiml(_next_step(plan, facts, decision, call_sid, (), resp))


def _int(value: str | None, default: int) -> int:
    try:
        return int(value or "")
    except ValueError:
        return default
