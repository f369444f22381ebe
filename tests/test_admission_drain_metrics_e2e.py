"""Operations on a real `ivr serve` (gunicorn, real models, signed webhooks, the real protocol):
`/metrics` scraped and parsed after a fixture call, JSON log lines carrying call_sid, admission
refusal at `--max-calls`, and SIGTERM drain with a call in progress (the call completes normally).

One server for the module (`--max-calls 1`); the drain test stops it, so it runs last.
"""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr.caller import CallReport, play_call
from ivr.caller.local_server import LocalServer, free_port
from ivr.caller.player import TwilioHttp

from .conftest import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures"
OPEN_HOURS = "2026-11-24T10:00:00-05:00"  # a Tuesday morning: the agents are in
LONG_CALL = FIXTURES / "self_service_goodbye"  # two turns at real-time pace: several seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    tmp = tmp_path_factory.mktemp("ops")
    port = free_port()
    with LocalServer(REPO_ROOT / "dialplans" / "shop.yaml",
                     ["--max-calls", "1", "--metrics-port", str(port), "--drain-s", "60",
                      "--log-format", "json"],
                     workdir=tmp, env={"IVR_NOW": OPEN_HOURS, "IVR_LOG_LEVEL": "INFO"}) as srv:
        srv.metrics_url = f"http://127.0.0.1:{port}/metrics"  # type: ignore[attr-defined]
        yield srv


def scrape(srv: LocalServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics, parsed by prometheus_client's own parser."""
    with urllib.request.urlopen(srv.metrics_url, timeout=5) as resp:  # type: ignore[attr-defined]
        text = resp.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str,
          **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    return sum(v for (n, lab), v in samples.items()
               if n == name and set(labels.items()) <= set(lab))


def health(srv: LocalServer) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(srv.url + "/healthz", timeout=5) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def wait_for(what: Callable[[], bool], timeout_s: float, why: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not what():
        assert time.monotonic() < deadline, f"timed out waiting for {why}"
        time.sleep(0.1)


def new_call_webhook(srv: LocalServer, call_sid: str) -> str:
    """Twilio's signed incoming-call webhook for a new call; returns the TwiML body."""
    res = TwilioHttp(srv.token).request(srv.url + "/twilio/voice", srv.url + "/twilio/voice",
                                        {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32,
                                         "From": "+15550001234", "To": "+15550009999",
                                         "CallStatus": "ringing", "Direction": "inbound"})
    assert res.status == 200, res.body
    return res.body


class CallInBackground:
    """A fixture call played in a thread, so the test can act while it is in progress."""

    def __init__(self, srv: LocalServer, fixture: Path) -> None:
        self.report: CallReport | None = None
        self._thread = threading.Thread(
            target=lambda: setattr(self, "report",
                                   play_call(fixture, srv.url, srv.token, speed=2.0,
                                             timeout_s=120)))
        self._thread.start()

    def join(self) -> CallReport:
        self._thread.join(timeout=150)
        assert self.report is not None, "the background call did not finish"
        return self.report


@pytest.mark.slow
def test_metrics_scraped_and_parsed_after_a_fixture_call(server: LocalServer) -> None:
    report = play_call(FIXTURES / "speech_transfer", server.url, server.token, speed=2.0)
    assert report.ok, f"{report.failures}\n{server.output()}"
    wait_for(lambda: value(scrape(server), "ivr_calls_total", outcome="transfer") >= 1, 10,
             "the finished call in /metrics")
    m = scrape(server)
    assert value(m, "ivr_active_calls") == 0
    assert value(m, "ivr_turns_total", kind="speech") >= 1
    assert value(m, "ivr_transfers_total", group="billing") == 1
    for hist in ("ivr_asr_seconds", "ivr_nlu_seconds", "ivr_turn_seconds",
                 "ivr_tts_first_chunk_seconds"):
        assert value(m, hist + "_count") >= 1, hist
    assert value(m, "ivr_worker_queue_depth") == 0  # everything submitted has started
    assert value(m, "ivr_model_errors_total") == 0

    # --log-format json: every line of the call is JSON and carries its call_sid
    lines = [json.loads(line) for line in server.log_path.read_text().splitlines()
             if line.startswith("{")]
    of_call = [rec for rec in lines if report.call_sid in str(rec.get("message", ""))]
    assert len(of_call) >= 3, server.output()
    assert all(rec["call_sid"] == report.call_sid for rec in of_call), of_call


@pytest.mark.slow
def test_admission_refusal_at_max_calls(server: LocalServer) -> None:
    before = value(scrape(server), "ivr_admission_refusals_total", reason="busy")
    call = CallInBackground(server, LONG_CALL)
    wait_for(lambda: health(server)[1]["active_calls"] == 1, 30, "the first call to go live")
    body = new_call_webhook(server, "CA" + "b" * 32)
    assert "All our lines are busy" in body
    assert "<Enqueue" in body or "<Dial" in body, body  # straight to the default agent group
    assert "<Connect" not in body
    report = call.join()
    assert report.ok, f"the live call must be unaffected: {report.failures}"
    m = scrape(server)
    assert value(m, "ivr_admission_refusals_total", reason="busy") == before + 1
    assert value(m, "ivr_calls_total", outcome="refused") >= 1


@pytest.mark.slow
def test_sigterm_drains_a_call_in_progress(server: LocalServer) -> None:
    call = CallInBackground(server, LONG_CALL)
    wait_for(lambda: health(server)[1]["active_calls"] == 1, 30, "the call to go live")
    server.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: health(server)[0] == 503, 10, "/healthz to report draining")
    status, body = health(server)
    assert status == 503 and body["status"] == "draining"
    assert "All our lines are busy" in new_call_webhook(server, "CA" + "d" * 32)
    assert value(scrape(server), "ivr_admission_refusals_total", reason="draining") == 1
    assert server.proc.poll() is None, "the server must wait for the live call"
    report = call.join()
    assert report.ok, f"the call must complete normally: {report.failures}\n{server.output()}"
    assert report.outcome == "hangup" and report.record_available
    assert server.proc.wait(timeout=30) == 0
    log_lines = [line for line in server.log_path.read_text().splitlines() if line.strip()]
    assert any("draining" in line for line in log_lines)
    not_json = [line for line in log_lines if not line.startswith("{")]
    assert not not_json, f"--log-format json, yet: {not_json[:5]}"
