"""A routed call end to end without audio: the real engine decides the transfer from keypad
input (exactly what the session stores), then the signed Twilio callbacks are played by
:class:`ivr.caller.transfer.TransferFollower` against the real app on the example plan."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

from twilio.request_validator import RequestValidator

from ivr.app import create_app
from ivr.caller.transfer import Agents, Caller, TransferFollower, TransferReport
from ivr.config import Settings
from ivr.contact.routes import CENTRE_KEY
from ivr.contact.service import ContactCentre
from ivr.dialog import CallerInput, CallInfo, Transfer
from ivr.dialplan.loader import load_dialplan
from ivr.engine import build_factory
from ivr.session import Services
from ivr.store import CallStore, Decision, MemoryStore
from tests.test_engine_support import LexicalFaq, LexicalMatcher

PLAN = Path(__file__).resolve().parents[1] / "dialplans" / "contact_centre.yaml"
TOKEN = "routing-secret"
BASE = "https://ivr.example.com"
MORNING = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)  # Tuesday 10:00 New York
KEYS = {"billing": "1", "orders": "2", "technical": "3", "agent": "0"}


def write_plan(directory: Path, text: str) -> Path:
    """A variant of the example plan in ``directory``, with the custom actions it names
    (``actions/verify_caller.py``) beside it so its relative ``python:`` path resolves."""
    import shutil

    path = directory / "plan.yaml"
    path.write_text(text)
    shutil.copytree(PLAN.parent / "actions", directory / "actions", dirs_exist_ok=True)
    return path


class Line:
    """One server process: the app, its store and its contact centre."""

    def __init__(self, centre: ContactCentre, store: CallStore | None = None,
                 plan_path: Path = PLAN) -> None:
        plan = load_dialplan(plan_path)
        self.factory = build_factory(plan, clock=lambda: MORNING,
                                     matcher_factory=LexicalMatcher,  # type: ignore[arg-type]
                                     faq_factory=LexicalFaq)  # type: ignore[arg-type]
        self.store = store or MemoryStore()
        services = Services(transcriber=cast(Any, None), speaker=cast(Any, None),
                            executor=ThreadPoolExecutor(max_workers=1), store=self.store,
                            plan=lambda: self.factory)
        settings = Settings(dialplan=PLAN, public_url=BASE, auth_token=TOKEN)
        self.app = create_app(settings, services)
        self.app.config[CENTRE_KEY] = centre
        self.centre = centre
        self.client = self.app.test_client()
        self._sign = RequestValidator(TOKEN)

    def post(self, url: str, params: dict[str, str]) -> str:
        """Signed over the public URL, like Twilio; refused requests fail the test."""
        assert url.startswith(BASE), url
        sig = self._sign.compute_signature(url, params)
        res = self.client.post(url[len(BASE):], data=params,
                               headers={"X-Twilio-Signature": sig})
        assert res.status_code in (200, 204), (url, res.status_code, res.get_data(as_text=True))
        return res.get_data(as_text=True)

    def bot_part(self, sid: str, number: str, want: str) -> Decision:
        """The engine's own transfer for a caller pressing ``want``'s key, stored as the
        session stores it."""
        call = self.factory.new_call(CallInfo(sid, from_number=number, to_number="+15550000000"))
        call.start()
        out = call.handle(CallerInput("dtmf", digits=KEYS[want]))
        transfer = out[-1]
        assert isinstance(transfer, Transfer), out
        decision = Decision("transfer", self.factory.agent_group(transfer.group),
                            dict(transfer.context))
        self.store.put_decision(sid, decision)
        return decision

    def call(self, sid: str, number: str, want: str, agents: Agents | None = None,
             caller: Caller | None = None, then: Line | None = None) -> TransferReport:
        """Caller ``number`` presses ``want``; Twilio posts the action URL to this process
        and (``then``) every later callback to another process sharing the store."""
        self.bot_part(sid, number, want)
        params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": number,
                  "To": "+15550000000", "CallStatus": "in-progress", "Direction": "inbound"}
        body = self.post(BASE + "/twilio/after-stream", params)
        other = then or self
        follower = TransferFollower(other.post, params, agents, caller, BASE)
        return follower.run(body, BASE + "/twilio/after-stream")
