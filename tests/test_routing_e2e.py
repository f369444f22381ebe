"""Routing over the real protocol: a real ``ivr serve`` on the contact-centre plan (Redis for
seats and queue, SQLite for customers and call-backs), the recorded-call fixtures of
tests/fixtures/routing played by the player, and every transfer callback played like Twilio."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.caller import load_fixture, play_call
from ivr.caller.fixture import DtmfTurn, Expect
from ivr.caller.local_server import LocalServer
from ivr.caller.player import TwilioHttp, route_via
from ivr.caller.transfer import Agents, TransferFollower
from ivr.contact.db import DbCallbacks, DbDirectory
from ivr.contact.profiles import read_customers_csv
from ivr.contact.redis_state import RedisOccupancy
from ivr.dialplan.loader import load_dialplan
from ivr.store.records import RecordsDB

from .conftest import REPO_ROOT
from .redis_server import RedisServer, redis_server  # noqa: F401

PLAN = REPO_ROOT / "dialplans" / "contact_centre.yaml"
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "routing"
MORNING = "2026-11-24T10:00:00-05:00"  # a Tuesday: every group open


@pytest.fixture(scope="module")
def line(redis_server: RedisServer,  # noqa: F811
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, str]]:
    tmp = tmp_path_factory.mktemp("routing_e2e")
    db_url = f"sqlite:///{tmp / 'calls.db'}"
    db = RecordsDB(db_url, tmp / "spool")
    DbDirectory(db).import_profiles(read_customers_csv(FIXTURES / "customers.csv"))
    db.close()
    env = {"IVR_STORE_URL": redis_server.url, "IVR_DB_URL": db_url,
           "IVR_DB_SPOOL": str(tmp / "spool"), "IVR_NOW": MORNING, "IVR_LOG_LEVEL": "INFO"}
    with LocalServer(PLAN, workdir=tmp, env=env) as srv:
        yield srv, db_url


def play(srv: LocalServer, name: str):  # type: ignore[no-untyped-def]
    report = play_call(FIXTURES / name, srv.url, srv.token, speed=4.0, timeout_s=120)
    assert report.ok, f"{name}: {report.failures} {report.errors}\n{srv.output()[-3000:]}"
    return report


def test_gold_caller_goes_to_senior(line: tuple[LocalServer, str],
                                    redis_server: RedisServer) -> None:  # noqa: F811
    redis_server.flush()
    report = play(line[0], "gold_to_senior")
    assert report.routed_events[:4] == ["dial-event initiated", "dial-event ringing",
                                        "dial-event in-progress", "dial-event completed"]
    assert RedisOccupancy(redis_server.url).busy("senior") == 0


def test_open_ticket_offered_first(line: tuple[LocalServer, str],
                                   redis_server: RedisServer) -> None:  # noqa: F811
    redis_server.flush()
    report = play(line[0], "open_ticket_offer")
    assert report.routed == "connected +15555550109"  # senior, straight from the offer
    said = " ".join(report.greeting + [b for t in report.turns for b in t.bot])
    assert "open support ticket" in said and "Say billing, orders" not in said  # menu skipped


def test_no_answer_tries_next_group(line: tuple[LocalServer, str],
                                    redis_server: RedisServer) -> None:  # noqa: F811
    redis_server.flush()
    report = play(line[0], "no_answer_next_group")
    assert report.routed == "connected +15555550100"  # general, billing's overflow
    assert any("no-answer" in e for e in report.routed_events)  # billing's leg went unanswered


def test_repeat_caller_is_prioritised(line: tuple[LocalServer, str],
                                      redis_server: RedisServer) -> None:  # noqa: F811
    redis_server.flush()
    fixture = load_fixture(FIXTURES / "repeat_caller")
    first = fixture.model_copy(update={  # the first time: the menu's orders key, to orders
        "turns": [DtmfTurn(dtmf="2")],
        "expect": Expect(outcome="transfer: orders", routed="connected +15555550102")})
    report = play_call(first, line[0].url, line[0].token, speed=4.0, timeout_s=120)
    assert report.ok, report.failures
    play(line[0], "repeat_caller")


def test_everyone_full_queued_and_callback_stored(line: tuple[LocalServer, str],
                                                  redis_server: RedisServer,  # noqa: F811
                                                  tmp_path: Path) -> None:
    redis_server.flush()
    occ = RedisOccupancy(redis_server.url)
    for name, group in load_dialplan(PLAN).agents.items():
        for i in range(group.capacity or 0):  # agents busy on calls another process placed
            assert occ.try_claim(name, f"CAother-{name}-{i}", group.capacity, 600)
    report = play(line[0], "all_full_callback")
    db = RecordsDB(line[1], tmp_path / "spool")
    try:
        [req] = [r for r in DbCallbacks(db).pending() if r.call_sid == report.call_sid]
        assert (req.number, req.group, req.intent) == ("+15555550124", "orders", "orders")
    finally:
        db.close()


def test_occupancy_right_with_two_server_processes(line: tuple[LocalServer, str],
                                                   redis_server: RedisServer,  # noqa: F811
                                                   tmp_path: Path) -> None:
    """Process A takes the call; Twilio's later callbacks reach process B (another `ivr
    serve` on the same Redis): B's answered/completed events keep A's seat count right."""
    redis_server.flush()
    a, db_url = line
    # one deployment: same account token, same public address (the load balancer's)
    env = {"IVR_STORE_URL": redis_server.url, "IVR_DB_URL": db_url,
           "IVR_DB_SPOOL": str(tmp_path / "spool"), "IVR_NOW": MORNING,
           "TWILIO_AUTH_TOKEN": a.token, "IVR_PUBLIC_URL": a.url}
    with LocalServer(PLAN, workdir=tmp_path, env=env) as b:
        fixture = load_fixture(FIXTURES / "gold_to_senior")
        bot_part_only = fixture.model_copy(update={
            "transfer": None, "expect": fixture.expect.model_copy(update={"routed": None})})
        report = play_call(bot_part_only, a.url, a.token, speed=4.0, timeout_s=120)
        assert report.ok, report.failures
        occ = RedisOccupancy(redis_server.url)
        assert occ.busy("senior") == 1  # A claimed the seat when it sent the <Dial>
        seen: list[int] = []
        http = TwilioHttp(a.token)

        def post_to_b(url: str, params: dict[str, str]) -> str:
            res = http.request(route_via(url, b.url), url, params)  # signed over the public URL
            assert res.status in (200, 204), res.body
            return res.body

        follower = TransferFollower(
            post_to_b, {"CallSid": report.call_sid, "AccountSid": "AC" + "0" * 32,
                        "From": fixture.from_number, "To": fixture.to_number,
                        "CallStatus": "in-progress"},
            Agents(during_call=lambda _: seen.append(occ.busy("senior"))))
        done = follower.run(report.twiml, a.url + "/twilio/after-stream")
        assert done.outcome == "connected +15555550109"
        assert seen == [1] and occ.busy("senior") == 0  # B's completed callback freed it

        # B also takes the <Dial action> of an unanswered dial and re-routes the caller from
        # the decision A stored in the shared store.
        fixture = load_fixture(FIXTURES / "no_answer_next_group").model_copy(
            update={"from_number": "+15555550135"})  # a first-time caller (not a repeat)
        report = play_call(fixture.model_copy(update={
            "transfer": None, "expect": Expect(outcome="transfer: billing")}),
            a.url, a.token, speed=4.0, timeout_s=120)
        assert report.ok, report.failures
        follower = TransferFollower(
            post_to_b, {"CallSid": report.call_sid, "AccountSid": "AC" + "0" * 32,
                        "From": fixture.from_number, "To": fixture.to_number,
                        "CallStatus": "in-progress"},
            Agents(behaviour={"+15555550101": "no-answer"}))
        done = follower.run(report.twiml, a.url + "/twilio/after-stream")
        assert done.dials == [("+15555550101", "no-answer"), ("+15555550100", "completed")]
        assert occ.busy("billing") == 0 and occ.busy("general") == 0


def _row_outcome(db_url: str, spool: Path, call_sid: str) -> str | None:
    """The call's row in the real records database (written when the stream ends, updated by
    routing): what operators' reports see."""
    db = RecordsDB(db_url, spool)
    try:
        for _ in range(50):  # the stream's end may still be being processed
            row = db.get(call_sid)
            if row is not None and row.outcome is not None:
                return row.outcome
            time.sleep(0.1)
        return None
    finally:
        db.close()


def test_billing_full_overflows_to_general(line: tuple[LocalServer, str],
                                           redis_server: RedisServer,  # noqa: F811
                                           tmp_path: Path) -> None:
    redis_server.flush()
    srv, db_url = line
    occ = RedisOccupancy(redis_server.url)
    for i in range(3):  # billing's agents are on calls another process placed
        assert occ.try_claim("billing", f"CAother-billing-{i}", 3, 600)
    report = play(srv, "billing_full_overflow")
    assert report.routed_events[:4] == ["dial-event initiated", "dial-event ringing",
                                        "dial-event in-progress", "dial-event completed"]
    assert _row_outcome(db_url, tmp_path / "spool", report.call_sid) == "transfer: general"
    assert occ.busy("billing") == 3 and occ.busy("general") == 0  # her seat freed on completed

    # the same again, looking at the seats while the general agent talks to the caller
    fixture = load_fixture(FIXTURES / "billing_full_overflow").model_copy(
        update={"from_number": "+15555550136"})
    bot = play_call(fixture.model_copy(update={
        "transfer": None, "expect": Expect(outcome="transfer: general")}),
        srv.url, srv.token, speed=4.0, timeout_s=120)
    assert bot.ok, bot.failures
    seen: list[tuple[int, int]] = []
    http = TwilioHttp(srv.token)

    def post(url: str, params: dict[str, str]) -> str:
        res = http.request(route_via(url, srv.url), url, params)
        assert res.status in (200, 204), res.body
        return res.body

    done = TransferFollower(
        post, {"CallSid": bot.call_sid, "AccountSid": "AC" + "0" * 32,
               "From": fixture.from_number, "To": fixture.to_number, "CallStatus": "in-progress"},
        Agents(during_call=lambda _: seen.append((occ.busy("billing"), occ.busy("general"))))
    ).run(bot.twiml, srv.url + "/twilio/after-stream")
    assert done.outcome == "connected +15555550100" and seen == [(3, 1)]
    assert occ.busy("general") == 0


@pytest.fixture(scope="module")
def plain_line(redis_server: RedisServer,  # noqa: F811
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, str]]:
    """``ivr serve`` on shop.yaml: a plan with no ``routing:`` section at all."""
    tmp = tmp_path_factory.mktemp("plain_e2e")
    db_url = f"sqlite:///{tmp / 'calls.db'}"
    env = {"IVR_STORE_URL": redis_server.url, "IVR_DB_URL": db_url,
           "IVR_DB_SPOOL": str(tmp / "spool"), "IVR_NOW": MORNING, "IVR_LOG_LEVEL": "INFO"}
    with LocalServer(REPO_ROOT / "dialplans" / "shop.yaml", workdir=tmp, env=env) as srv:
        yield srv, db_url


def test_plan_without_routing_tries_the_default_group(plain_line: tuple[LocalServer, str],
                                                      tmp_path: Path) -> None:
    srv, db_url = plain_line
    report = play(srv, "plain_plan_next_group")
    assert [e for e in report.routed_events if e.startswith("dial-action")] == [
        "dial-action no-answer", "dial-action completed"]  # billing_desk, then general
    assert not any("nobody is available" in s.lower() for s in report.routed_says)
    assert _row_outcome(db_url, tmp_path / "spool", report.call_sid) == "transfer: general"


def test_plan_without_routing_stores_a_callback(plain_line: tuple[LocalServer, str],
                                                tmp_path: Path) -> None:
    srv, db_url = plain_line
    report = play(srv, "plain_plan_callback")
    assert not any("nobody is available" in s.lower() for s in report.routed_says)
    assert _row_outcome(db_url, tmp_path / "spool", report.call_sid) == "callback: general"
    db = RecordsDB(db_url, tmp_path / "spool")
    try:
        [req] = [r for r in DbCallbacks(db).pending() if r.call_sid == report.call_sid]
        assert (req.number, req.group, req.intent) == ("+15555550128", "general", "billing")
    finally:
        db.close()
