"""Screen-pop links and data: HMAC-signed, expiring, own secret; built from the real engine."""

from __future__ import annotations

import time
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from ivr.app import create_app
from ivr.config import Settings
from ivr.dialog import Transfer
from ivr.handoff import screenpop
from ivr.store import CallRecord, Decision, Turn

from .fakes import fake_services
from .test_engine_support import Caller, factory

SECRET = "pop-secret"


def test_links_are_signed_and_expire() -> None:
    url = screenpop.signed_url("https://ivr.example.com", SECRET, "CA1", ttl_s=60, now=1000)
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert urlsplit(url).path == "/agent/calls/CA1"
    assert screenpop.check(SECRET, "CA1", q["exp"], q["sig"], now=1000)
    assert int(q["exp"]) == 3600  # 1060 rounded up to the hour
    assert screenpop.check(SECRET, "CA1", q["exp"], q["sig"], now=3599)
    assert not screenpop.check(SECRET, "CA1", q["exp"], q["sig"], now=3601)  # expired
    assert not screenpop.check(SECRET, "CA2", q["exp"], q["sig"], now=1000)  # other call
    assert not screenpop.check("twilio-token", "CA1", q["exp"], q["sig"], now=1000)
    assert not screenpop.check(SECRET, "CA1", str(int(q["exp"]) + 1), q["sig"], now=1000)


def test_default_key_is_shared_by_a_fleet_and_is_not_the_token() -> None:
    a, b = screenpop.default_secret("tok"), screenpop.default_secret("tok")
    assert a == b and a != "tok" and screenpop.default_secret("other") != a


def _app_with_call(sid: str):  # type: ignore[no-untyped-def]
    settings = Settings(dialplan=Path("x.yaml"), public_url="https://ivr.example.com",
                        auth_token="tok", screen_pop_secret=SECRET)
    services = fake_services()
    app = create_app(settings, services)
    call = Caller(factory())
    call.say("this is useless")
    call.say("this is useless, I want a person")
    t = call.last
    assert isinstance(t, Transfer)
    record = CallRecord(sid)
    for turn in call.dialog.transcript:  # type: ignore[attr-defined]
        record.turns.append(Turn(turn.speaker, turn.text, turn.kind, turn.t))
    record.outcome = "transfer: general"
    services.store.put_record(record)
    target = services.plan().agent_group("general")
    services.store.put_decision(sid, Decision("transfer", target, dict(t.context)))
    return app


def test_page_needs_a_valid_link_and_shows_the_context() -> None:
    app = _app_with_call("CApop")
    client = app.test_client()
    assert client.get("/agent/calls/CApop").status_code == 403
    assert client.get("/agent/calls/CApop?exp=9999999999&sig=00").status_code == 403
    url = screenpop.signed_url("", SECRET, "CApop", now=time.time())
    page = client.get(url)
    assert page.status_code == 200
    html = unescape(page.get_data(as_text=True))
    assert "Caller is upset" in html and "this is useless, I want a person" in html
    assert "I'm sorry for the trouble" in html
    data = client.get(url.replace("/CApop?", "/CApop.json?")).get_json()
    assert data["frustrated"] is True and data["status"].startswith("in queue")
    assert [t["speaker"] for t in data["transcript"]][:2] == ["bot", "bot"]


def test_the_handoff_carries_the_signed_link() -> None:
    app = _app_with_call("CAlink")
    with app.test_request_context("/"):
        from ivr.app import _handoff  # the route helper: context + link for a stored decision

        decision = app.config["IVR_SERVICES"].store.get_decision("CAlink")
        ctx = _handoff(decision, "CAlink")
    assert ctx.screen_pop_url and ctx.screen_pop_url.startswith(
        "https://ivr.example.com/agent/calls/CAlink?exp=")
    q = {k: v[0] for k, v in parse_qs(urlsplit(ctx.screen_pop_url).query).items()}
    assert screenpop.check(SECRET, "CAlink", q["exp"], q["sig"])


@pytest.mark.parametrize("words", [[], ["hi"]])
def test_no_searcher_or_words_gives_no_articles(words: list[str]) -> None:
    assert screenpop.top_articles(None, words) == []
