"""The Flask app: Twilio webhooks and the Media Streams WebSocket. Routes stay thin.

Call flow: ``POST /twilio/voice`` answers with ``<Connect action><Stream>`` carrying a one-time
token; Twilio opens ``/twilio/media`` (a :class:`~ivr.session.CallSession` runs the call); when we
close the stream Twilio ``POST``s ``/twilio/after-stream`` and we return ``<Dial>``, ``<Enqueue>``
or ``<Hangup/>`` from the stored decision. Every request is checked against Twilio's signature
before anything else happens.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, current_app, jsonify, request
from flask_sock import Sock
from twilio.twiml.voice_response import Connect, Stream, VoiceResponse

from ivr import observability
from ivr.admission import Admission, Refusal
from ivr.config import Settings
from ivr.contact.routes import contact_transfer, register_contact
from ivr.errors import ForbiddenRequest, IvrError
from ivr.handoff import HandoffContext, screenpop, transfer_twiml, whisper_twiml
from ivr.security import check_signature
from ivr.session import APOLOGY, CallSession, Services
from ivr.store import CallRecord, CallStore, Decision, Turn
from ivr.store.records import final_outcome
from ivr.store.redis_store import StoreUnavailable

log = logging.getLogger(__name__)

VOICE_PATH = "/twilio/voice"
MEDIA_PATH = "/twilio/media"
ACTION_PATH = "/twilio/after-stream"
WHISPER_PATH = "/twilio/whisper"
BUSY = "All our lines are busy right now. Let me connect you with someone who can help."


def create_app(settings: Settings, services: Services) -> Flask:
    """Build the app. ``services`` (models, store, dialplan) are built by the caller, so tests and
    the CLI decide what is real and nothing heavy happens at import time."""
    settings.check_security()
    if settings.insecure_dev:
        log.warning("!!! --insecure-dev: Twilio signatures are NOT checked. Never expose this. !!!")
    app = Flask(__name__)
    app.config["IVR_SETTINGS"] = settings
    app.config["IVR_SERVICES"] = services
    app.config["IVR_ADMISSION"] = Admission(settings.max_calls)
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": None, "max_message_size": 1 << 20}
    sock = Sock(app)
    pop_secret = settings.screen_pop_secret or screenpop.default_secret(settings.auth_token)
    app.config["IVR_SCREEN_POP_SECRET"] = pop_secret
    app.register_blueprint(screenpop.blueprint(_screen_pop, lambda: pop_secret))
    register_contact(app)

    @app.errorhandler(ForbiddenRequest)
    def forbidden(exc: ForbiddenRequest) -> tuple[Response, int]:
        log.warning("refused %s %s: %s", request.method, request.path, exc)
        return jsonify(error=exc.code, message=str(exc)), 403

    @app.errorhandler(IvrError)
    def ivr_error(exc: IvrError) -> tuple[Response, int]:
        log.error("%s %s failed: %s (%s)", request.method, request.path, exc, exc.code)
        return jsonify(error=exc.code, message=str(exc)), 500

    @app.before_request
    def authenticate() -> None:
        # Runs before flask-sock upgrades the connection, so a forged upgrade never opens.
        if request.path == MEDIA_PATH:
            _validate(public_base(ws=True) + MEDIA_PATH, {})
        elif request.path.startswith(("/twilio/", "/calls/")):
            params = request.form.to_dict(flat=True) if request.method == "POST" else {}
            _validate(public_base() + request.full_path.rstrip("?"), params)

    @app.before_request
    def bind_log_context() -> None:
        # Twilio's webhooks name the call: their log lines carry call_sid like the stream's do.
        sid = request.form.get("CallSid", "") if request.method == "POST" else ""
        observability.bind_call(sid or request.args.get("call", ""))

    @app.teardown_request
    def unbind_log_context(_exc: BaseException | None) -> None:
        observability.unbind_call()

    @app.post(VOICE_PATH)
    def voice() -> Response:
        call_sid = _required("CallSid")
        refusal = _admission().admit()
        if refusal is not None:
            return _refuse(call_sid, refusal)
        store = _services().store
        store.put_record(
            CallRecord(call_sid, request.form.get("From", ""), request.form.get("To", ""))
        )
        try:
            token = store.issue_token(call_sid)
        except StoreUnavailable as exc:
            return _store_down_twiml(call_sid, store, exc)
        base = public_base()
        resp = VoiceResponse()
        connect = Connect(action=base + ACTION_PATH)
        stream = Stream(url=public_base(ws=True) + MEDIA_PATH)
        stream.parameter(name="token", value=token)
        connect.append(stream)
        resp.append(connect)
        log.info("call %s from %s: streaming", call_sid, request.form.get("From", "?"))
        return _twiml(resp)

    @sock.route(MEDIA_PATH)
    def media(ws: Any) -> None:
        admission, services = _admission(), _services()
        admission.call_started(ws)
        observability.call_started()
        session = CallSession(observability.CallBindingSocket(ws), services)
        try:
            session.run()
        finally:
            admission.call_ended(ws)
            observability.call_ended()
            observability.record_finished(session.record, services.store)
            observability.unbind_call()  # this thread serves other connections next

    @app.post(ACTION_PATH)
    def after_stream() -> Response:
        call_sid = _required("CallSid")
        status = request.form.get("CallStatus", "")
        store = _services().store
        decision = store.get_decision(call_sid)
        record = store.get_record(call_sid)
        if status in ("completed", "canceled", "failed", "busy", "no-answer"):
            # The caller hung up while talking to the bot: nothing to execute, keep the record.
            if record is not None and record.outcome is None:
                record.outcome = "caller_hangup"
                store.put_record(record)
            log.info("call %s ended by caller (%s)", call_sid, status)
            return _twiml(VoiceResponse())
        if decision is None:
            # The stream died without a decision (crash, network): never leave the caller alone.
            log.error("call %s: stream ended with no decision; sending to default group", call_sid)
            factory = _services().plan()
            decision = Decision("transfer", factory.agent_group(factory.default_group),
                                {"error": "no_decision"})
            _finish_orphan(store, record, decision)
            resp = VoiceResponse()
            resp.say(APOLOGY)
            return _twiml(_transfer_twiml(resp, decision, call_sid))
        if decision.outcome == "hangup" or decision.target is None:
            resp = VoiceResponse()
            resp.hangup()
            return _twiml(resp)
        routed = contact_transfer(decision, call_sid)  # None: the plan has no routing
        if routed is not None:
            return routed
        return _twiml(_transfer_twiml(VoiceResponse(), decision, call_sid))

    @app.post(WHISPER_PATH)
    def whisper() -> Response:
        """Played to the agent who answers a <Dial>ed transfer: what the caller wants."""
        call_sid = request.args.get("call", "")
        decision = _services().store.get_decision(call_sid)
        ctx = _handoff(decision, call_sid) if decision is not None else None
        return _twiml(whisper_twiml(ctx))

    @app.get("/calls/<call_sid>")
    def call_record(call_sid: str) -> Response | tuple[Response, int]:
        if not settings.expose_call_records:
            abort(404)
        store = _services().store
        record = store.get_record(call_sid)
        if record is None:
            return jsonify(error="unknown_call"), 404
        # where routing sent the caller, not only the bot's first choice (ivr.contact)
        record.outcome = final_outcome(record, store.get_decision(call_sid))
        return jsonify(record.to_json())

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        # non-200 while draining, so a load balancer stops sending new calls here
        admission = _admission()
        draining = admission.draining
        return jsonify(status="draining" if draining else "ok", active_calls=admission.active,
                       max_calls=admission.max_calls), 503 if draining else 200

    return app


# ---------------------------------------------------------------------- helpers


def _settings() -> Settings:
    settings: Settings = current_app.config["IVR_SETTINGS"]
    return settings


def _services() -> Services:
    services: Services = current_app.config["IVR_SERVICES"]
    return services


def _admission() -> Admission:
    admission: Admission = current_app.config["IVR_ADMISSION"]
    return admission


def _refuse(call_sid: str, reason: Refusal) -> Response:
    """No room (or draining): "all lines busy", then straight to the default agent group, with the
    call recorded and counted like any other."""
    services = _services()
    factory = services.plan()
    group = factory.default_group
    decision = Decision("transfer", factory.agent_group(group), {"reason": f"admission_{reason}"})
    services.store.put_decision(call_sid, decision)  # the agent whisper reads it
    record = CallRecord(call_sid, request.form.get("From", ""), request.form.get("To", ""))
    record.turns.append(Turn("bot", BUSY, "say", 0.0))
    record.outcome = f"transfer: {group}"
    services.store.finish(record)
    observability.admission_refused(reason, group)
    log.warning("call %s refused (%s): sent to %s", call_sid, reason, group)
    resp = VoiceResponse()
    resp.say(BUSY)
    return _twiml(_transfer_twiml(resp, decision, call_sid))


def public_base(ws: bool = False) -> str:
    """The base URL Twilio used to reach us: configured, else from the (proxied) request."""
    base = _settings().public_url
    if not base:
        proto = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
        host = request.headers.get("X-Forwarded-Host", request.host).split(",")[0].strip()
        base = f"{proto}://{host}"
    if ws:
        return "wss://" + base[8:] if base.startswith("https://") else "ws://" + base[7:]
    return base


def _validate(url: str, params: Mapping[str, str]) -> None:
    settings = _settings()
    if settings.insecure_dev and not settings.auth_token:
        return
    check_signature(settings.auth_token, url, params, request.headers.get("X-Twilio-Signature", ""))


def _required(name: str) -> str:
    value = request.form.get(name, "")
    if not value:
        abort(400, description=f"missing {name}")
    return value


def _twiml(resp: VoiceResponse) -> Response:
    return Response(str(resp), mimetype="application/xml")


def _handoff(decision: Decision, call_sid: str) -> HandoffContext:
    """The typed handoff context for a stored decision (parsed here, at the edge)."""
    group = decision.target.name if decision.target is not None else ""
    try:
        ctx = HandoffContext.from_engine(call_sid, group, decision.context)
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        # A malformed context must not drop the caller: transfer with what is certain.
        log.error("call %s: bad handoff context (%s); transferring without it", call_sid, exc)
        ctx = HandoffContext.from_engine(call_sid, group, {"reason": "error"})
    secret = current_app.config["IVR_SCREEN_POP_SECRET"]
    url = screenpop.signed_url(public_base(), secret, call_sid)
    return ctx.model_copy(update={"screen_pop_url": url})


def _screen_pop(call_sid: str) -> screenpop.ScreenPop | None:
    """The agent page's data: the live record (turns so far) and, once decided, the context."""
    store = _services().store
    record, decision = store.get_record(call_sid), store.get_decision(call_sid)
    if record is None and decision is None:
        return None
    ctx = None
    if decision is not None and decision.outcome == "transfer":
        group = decision.target.name if decision.target is not None else ""
        try:
            ctx = HandoffContext.from_engine(call_sid, group, decision.context)
        except (ValueError, TypeError) as exc:
            log.error("call %s: bad handoff context for the screen-pop: %s", call_sid, exc)
    turns = list(record.turns) if record is not None else []
    faq = getattr(_services().plan(), "faq", None)
    search = getattr(faq, "search", None)
    return screenpop.build(call_sid, turns, ctx, record.outcome if record else None,
                           record.intent if record else None,
                           (lambda q, k: search(q, k=k)) if callable(search) else None)


def _transfer_twiml(resp: VoiceResponse, decision: Decision, call_sid: str) -> VoiceResponse:
    """``<Dial>`` (number, SIP, client) or TaskRouter ``<Enqueue>``, carrying the call's context."""
    assert decision.target is not None
    whisper = public_base() + WHISPER_PATH + "?" + urlencode({"call": call_sid})
    return transfer_twiml(resp, decision.target, _handoff(decision, call_sid), whisper)


def _store_down_twiml(call_sid: str, store: CallStore, exc: Exception) -> Response:
    """Degraded mode: the shared store is unreachable, so no stream token can be issued that
    another process could check. Never drop the caller: send them to the default group."""
    log.error("call %s: store unavailable at the voice webhook (%s); transferring to the "
              "default group", call_sid, exc)
    store.errors("store_unavailable_webhook")
    factory = _services().plan()
    decision = Decision("transfer", factory.agent_group(factory.default_group),
                        {"error": "store_unavailable"})
    return _twiml(_transfer_twiml(VoiceResponse(), decision, call_sid))


def _finish_orphan(store: CallStore, record: CallRecord | None, decision: Decision) -> None:
    """A call whose stream died without a decision (its process was killed, say) still gets its
    final record, written by whichever process serves the action request."""
    if record is None or record.outcome is not None:
        return
    assert decision.target is not None
    record.outcome = f"transfer: {decision.target.name}"
    record.errors.append("stream ended with no decision")
    try:
        store.put_decision(record.call_sid, decision)
        store.finish(record)
    except Exception:
        log.exception("call %s: could not store the record of an orphaned call",
                      record.call_sid)
