"""Recorded calls through the real server: real models, a real WebSocket, the real protocol.

One `ivr serve` process (gunicorn, the example shop dialplan, Whisper tiny.en, Piper) is started
for the module; every fixture in tests/fixtures is played through it by `ivr call`'s player,
exactly as Twilio would, and must meet its own expectations. A fixture whose `meta` has
`server_now` (an ISO 8601 time with offset: "the shop is closed") is played instead against its
own server whose clock is pinned there (IVR_NOW), one server per distinct time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from ivr.caller import load_fixture, play_call
from ivr.caller.local_server import LocalServer

from .conftest import REPO_ROOT, SHARED_DATA

ALL_FIXTURES = sorted(p for p in (REPO_ROOT / "tests" / "fixtures").iterdir()
                      if (p / "call.yaml").exists())


def _server_now(fixture: Path) -> str | None:
    """The server clock a fixture asks for (``meta: {server_now: ...}``), else None."""
    doc = yaml.safe_load((fixture / "call.yaml").read_text(encoding="utf-8")) or {}
    meta = doc.get("meta") or {}
    now = meta.get("server_now") if isinstance(meta, dict) else None
    return str(now) if now else None


FIXTURES = [p for p in ALL_FIXTURES if _server_now(p) is None]
CLOCKED = [(now, p) for p in ALL_FIXTURES if (now := _server_now(p)) is not None]
# A Tuesday morning in the shop's time zone: the agents are in.
OPEN_HOURS = "2026-11-24T10:00:00-05:00"
SPEED = float(os.environ.get("IVR_TEST_SPEED", "2.0"))


def needs_shared_data(fixture: Path) -> None:
    """Fixtures that play real human recordings from ../shared skip where it is absent."""
    if "shared:" in (fixture / "call.yaml").read_text() and not SHARED_DATA.exists():
        pytest.skip(f"shared data not found at {SHARED_DATA}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    tmp = tmp_path_factory.mktemp("server")
    with LocalServer(REPO_ROOT / "dialplans" / "shop.yaml", ["--record", str(tmp / "records")],
                     workdir=tmp, env={"IVR_NOW": OPEN_HOURS}) as srv:
        yield srv


@pytest.fixture(scope="module")
def clocked_server(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A second server with its clock pinned to ``request.param`` (one per distinct value)."""
    tmp = tmp_path_factory.mktemp("server_at")
    with LocalServer(REPO_ROOT / "dialplans" / "shop.yaml", workdir=tmp,
                     env={"IVR_NOW": request.param}) as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_call(server: LocalServer, fixture: Path) -> None:
    needs_shared_data(fixture)
    report = play_call(fixture, server.url, server.token, speed=SPEED, timeout_s=180)
    report.print()
    assert report.ok, f"{fixture.name}: {report.failures}\n--- server log ---\n{server.output()}"


@pytest.mark.slow
@pytest.mark.parametrize(("clocked_server", "fixture"), CLOCKED, indirect=["clocked_server"],
                         ids=[p.name for _, p in CLOCKED])
def test_fixture_call_at_server_time(clocked_server: LocalServer, fixture: Path) -> None:
    """Fixtures with ``meta.server_now`` (e.g. out of hours) against a server at that time."""
    needs_shared_data(fixture)
    srv = clocked_server
    report = play_call(fixture, srv.url, srv.token, speed=SPEED, timeout_s=180)
    report.print()
    assert report.ok, f"{fixture.name}: {report.failures}\n--- server log ---\n{srv.output()}"


@pytest.mark.slow
def test_recorded_call_replays_as_fixture(server: LocalServer) -> None:
    """`ivr serve --record` turns a real call into a fixture that replays to the same outcome."""
    source = REPO_ROOT / "tests" / "fixtures" / "dtmf_only"
    first = play_call(source, server.url, server.token, speed=SPEED, timeout_s=120)
    assert first.ok, first.failures
    recorded = server.workdir / "records" / first.call_sid
    # The session saves the recording after storing the call's record (a database write), so
    # it may land just after the player has seen the outcome.
    deadline = time.monotonic() + 15
    while not (recorded / "call.yaml").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (recorded / "call.yaml").exists(), list((server.workdir / "records").glob("*"))
    replay = play_call(load_fixture(recorded), server.url, server.token, speed=SPEED,
                       timeout_s=120)
    assert replay.outcome == first.outcome


@pytest.mark.slow
def test_call_record_has_transcript_and_latency(server: LocalServer) -> None:
    report = play_call(REPO_ROOT / "tests" / "fixtures" / "speech_transfer", server.url,
                       server.token, speed=SPEED, timeout_s=120)
    record = server.get_record(report.call_sid)
    turns = record["turns"]
    assert isinstance(turns, list) and any(t["speaker"] == "caller" for t in turns)
    assert record["outcome"] == report.outcome
    assert record["latency_ms"]
