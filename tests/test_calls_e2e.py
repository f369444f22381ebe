"""Recorded calls through the real server: real models, a real WebSocket, the real protocol.

One `ivr serve` process (gunicorn, the example shop dialplan, Whisper tiny.en, Piper) is started
for the module; every fixture in tests/fixtures is played through it by `ivr call`'s player,
exactly as Twilio would, and must meet its own expectations.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.caller import load_fixture, play_call
from ivr.caller.local_server import LocalServer

from .conftest import REPO_ROOT

FIXTURES = sorted(p for p in (REPO_ROOT / "tests" / "fixtures").iterdir()
                  if (p / "call.yaml").exists())
# A Tuesday morning in the shop's time zone: the agents are in.
OPEN_HOURS = "2026-11-24T10:00:00-05:00"
SPEED = float(os.environ.get("IVR_TEST_SPEED", "2.0"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    tmp = tmp_path_factory.mktemp("server")
    with LocalServer(REPO_ROOT / "dialplans" / "shop.yaml", ["--record", str(tmp / "records")],
                     workdir=tmp, env={"IVR_NOW": OPEN_HOURS}) as srv:
        yield srv


@pytest.mark.slow
@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.name for p in FIXTURES])
def test_fixture_call(server: LocalServer, fixture: Path) -> None:
    report = play_call(fixture, server.url, server.token, speed=SPEED, timeout_s=180)
    report.print()
    assert report.ok, f"{fixture.name}: {report.failures}\n--- server log ---\n{server.output()}"


@pytest.mark.slow
def test_recorded_call_replays_as_fixture(server: LocalServer) -> None:
    """`ivr serve --record` turns a real call into a fixture that replays to the same outcome."""
    source = REPO_ROOT / "tests" / "fixtures" / "dtmf_only"
    first = play_call(source, server.url, server.token, speed=SPEED, timeout_s=120)
    assert first.ok, first.failures
    recorded = server.workdir / "records" / first.call_sid
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
    assert isinstance(turns, list) and any(t["role"] == "caller" for t in turns)
    assert record["outcome"] == report.outcome
    assert record["latency_ms"]
