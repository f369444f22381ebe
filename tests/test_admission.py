"""Admission control and drain state: the pure counter, then the routes with fake services."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from twilio.request_validator import RequestValidator

from ivr import observability
from ivr.admission import Admission
from ivr.app import create_app
from ivr.config import Settings

from .fakes import fake_services

TOKEN = "secret"
BASE = "https://ivr.example.com"


class Ws:
    def __init__(self) -> None:
        self.closed: tuple[int | None, str | None] | None = None

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        self.closed = (reason, message)


def test_admits_up_to_max_then_refuses_busy() -> None:
    adm = Admission(2)
    assert adm.admit() is None and adm.admit() is None
    assert adm.admit() == "busy"  # two reservations hold both slots
    a, b = Ws(), Ws()
    adm.call_started(a)
    adm.call_started(b)  # the streams take the reservations' places
    assert adm.active == 2 and adm.admit() == "busy"
    adm.call_ended(a)
    assert adm.admit() is None


def test_reservation_expires_when_its_stream_goes_elsewhere() -> None:
    adm = Admission(1, reserve_s=0.0)
    assert adm.admit() is None
    assert adm.admit() is None  # the first reservation already lapsed


def test_a_stream_is_never_refused_even_beyond_max() -> None:
    adm = Admission(0)
    ws = Ws()
    adm.call_started(ws)  # its webhook reached another process; the caller is talking
    assert adm.active == 1 and adm.admit() == "busy"


def test_drain_refuses_waits_for_the_last_call_and_can_close_the_rest() -> None:
    adm = Admission(5)
    ws = Ws()
    adm.call_started(ws)
    adm.begin_drain()
    assert adm.draining and adm.admit() == "draining"
    assert adm.wait_idle(0.01) is False
    ender = threading.Timer(0.05, adm.call_ended, args=(ws,))
    ender.start()
    assert adm.wait_idle(10) is True  # woken by the last call ending, not by a timeout
    other = Ws()
    adm.call_started(other)
    assert adm.close_all() == 1 and other.closed == (1001, "server shutting down")


# ------------------------------------------------------------------ the routes


def app_client(max_calls: int) -> Any:
    settings = Settings(dialplan=Path("unused.yaml"), public_url=BASE, auth_token=TOKEN,
                        max_calls=max_calls)
    return create_app(settings, fake_services()).test_client()


def post_voice(client: Any, sid: str) -> Any:
    form = {"CallSid": sid, "AccountSid": "AC1", "From": "+15550001234", "To": "+15550009999"}
    sig = RequestValidator(TOKEN).compute_signature(BASE + "/twilio/voice", form)
    return client.post("/twilio/voice", data=form, headers={"X-Twilio-Signature": sig})


def refusals(reason: str) -> float:
    text = observability.render_metrics().decode()
    return sum(s.value for fam in text_string_to_metric_families(text) for s in fam.samples
               if s.name == "ivr_admission_refusals_total" and s.labels.get("reason") == reason)


def test_beyond_max_calls_goes_straight_to_the_default_group() -> None:
    client = app_client(max_calls=1)
    assert "<Connect" in post_voice(client, "CA1").get_data(as_text=True)
    before = refusals("busy")
    body = post_voice(client, "CA2").get_data(as_text=True)
    assert "<Say>All our lines are busy" in body
    assert '<Enqueue workflowSid="WW0123456789abcdef"><Task>' in body  # the default group
    assert '"reason": "admission_busy"' in body and "<Connect" not in body
    assert refusals("busy") == before + 1
    store = client.application.config["IVR_SERVICES"].store
    record = store.get_record("CA2")  # the refused call is recorded, never lost
    assert record.outcome == "transfer: general" and record.from_number == "+15550001234"
    assert store.get_decision("CA2").target.name == "general"


def test_healthz_reports_load_then_draining_with_503() -> None:
    client = app_client(max_calls=3)
    res = client.get("/healthz")
    assert res.status_code == 200
    assert res.get_json() == {"status": "ok", "active_calls": 0, "max_calls": 3}
    client.application.config["IVR_ADMISSION"].begin_drain()
    res = client.get("/healthz")
    assert res.status_code == 503 and res.get_json()["status"] == "draining"
    before = refusals("draining")
    body = post_voice(client, "CA3").get_data(as_text=True)
    assert "All our lines are busy" in body and "<Connect" not in body
    assert refusals("draining") == before + 1


@pytest.mark.parametrize("token", ["   ", "\t\n", " \r\n "])
def test_whitespace_only_auth_token_is_no_token(token: str) -> None:
    from ivr.errors import ConfigError, ForbiddenRequest
    from ivr.security import check_signature

    settings = Settings(dialplan=Path("x.yaml"), auth_token=token)
    assert settings.auth_token == ""
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN is not set"):
        settings.check_security()
    sig = RequestValidator(token).compute_signature(BASE + "/twilio/voice", {})
    with pytest.raises(ForbiddenRequest, match="no auth token"):
        check_signature(token, BASE + "/twilio/voice", {}, sig)
