"""Metrics and structured logs from real call sessions (fake models, real VAD/session/store).

The records fed to the metrics are the ones the session itself produced; values are read back
through prometheus_client's own text parser, as Prometheus would. The in-process registry is
shared by the whole test run, so tests compare before/after.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr import observability
from ivr.session import CallSession

from .fakes import FakeFactory, fake_services
from .test_session_pipeline import SILENCE, FakeSpeaker, FakeTranscriber, FakeTwilio, start_msgs

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str | None = None) -> Samples:
    text = text if text is not None else observability.render_metrics().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(m: Samples, name: str, **labels: str) -> float:
    return sum(v for (n, lab), v in m.items() if n == name and set(labels.items()) <= set(lab))


def play(script: list[tuple[str, Any]], factory: FakeFactory | None = None) -> Any:
    """One call through the session as the media route runs it; returns the services."""
    services = observability.instrument_services(
        fake_services(factory, transcriber=FakeTranscriber("x"), speaker=FakeSpeaker()))
    token = services.store.issue_token("CA1")
    session = CallSession(observability.CallBindingSocket(FakeTwilio(start_msgs(token) + script)),
                          services)
    try:
        session.run()
    finally:
        observability.record_finished(session.record, services.store)
        observability.unbind_call()
    return services


@pytest.fixture
def call_lines(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.handler.addFilter(observability.CallContextFilter())
    caplog.set_level(logging.INFO)
    return caplog


def test_a_keyed_call_with_bad_frames(call_lines: pytest.LogCaptureFixture) -> None:
    before = samples()
    services = play([("raw", "garbage"), ("raw", '{"event": "stop", "stop": "CA1"}')]
                    + [("frame", SILENCE)] * 20 + [("dtmf", "1")] + [("frame", SILENCE)] * 100)
    assert services.store.get_record("CA1").outcome == "transfer: billing"
    after = samples()

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("ivr_calls_total", outcome="transfer") == 1
    assert delta("ivr_turns_total", kind="dtmf") == 1
    assert delta("ivr_transfers_total", group="billing", reason="unknown") == 1
    assert delta("ivr_protocol_errors_total") == 2  # the string `stop` field no longer crashes
    assert delta("ivr_tts_first_chunk_seconds_count") >= 2  # greeting + handoff line
    assert delta("ivr_turn_seconds_count") == 1 and delta("ivr_nlu_seconds_count") == 1
    assert delta("ivr_asr_seconds_count") == 0  # a keypad turn runs no ASR
    assert value(after, "ivr_worker_queue_depth") == 0
    session_lines = [r for r in call_lines.records if r.name == "ivr.call.session"]
    assert session_lines and all(r.call_sid == "CA1" for r in session_lines)  # type: ignore[attr-defined]


def test_silent_caller_counts_no_input() -> None:
    before = samples()
    play([("frame", SILENCE)] * 200)
    after = samples()
    assert value(after, "ivr_no_input_total") - value(before, "ivr_no_input_total") >= 1
    assert (value(after, "ivr_turns_total", kind="no_input")
            - value(before, "ivr_turns_total", kind="no_input")) >= 1


def test_model_failure_is_counted_and_its_worker_line_names_the_call(
        call_lines: pytest.LogCaptureFixture) -> None:
    factory = FakeFactory()
    orig = factory.new_call

    def new_call(info: Any) -> Any:
        dialog = orig(info)

        def boom(event: Any) -> Any:
            raise RuntimeError("engine exploded")

        dialog.handle = boom  # type: ignore[method-assign]
        return dialog

    factory.new_call = new_call  # type: ignore[method-assign]
    before = value(samples(), "ivr_model_errors_total", kind="RuntimeError")
    play([("frame", SILENCE)] * 20 + [("dtmf", "5")] + [("frame", SILENCE)] * 100, factory)
    assert value(samples(), "ivr_model_errors_total", kind="RuntimeError") == before + 1
    failed = [r for r in call_lines.records if "turn failed" in r.getMessage()]
    assert failed and failed[0].threadName.startswith("ThreadPoolExecutor")
    assert failed[0].call_sid == "CA1"  # type: ignore[attr-defined]  # carried to the worker


def test_store_error_counter() -> None:
    before = value(samples(), "ivr_store_errors_total", kind="unreachable")
    observability.store_error("unreachable")
    assert value(samples(), "ivr_store_errors_total", kind="unreachable") == before + 1


def test_json_log_lines_carry_call_sid(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        observability.configure_logging("json", "INFO")
        observability.bind_call("CA42")
        logging.getLogger("ivr.test").info("hello %s", "there")
        observability.unbind_call()
        logging.getLogger("ivr.test").warning("outside a call")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["call_sid"] == "CA42" and lines[0]["message"] == "hello there"
    assert lines[0]["level"] == "INFO" and lines[0]["logger"] == "ivr.test"
    assert lines[1]["call_sid"] == ""


WORKER = """
import sys
from ivr import observability as o
o.prepare_multiprocess_dir() if sys.argv[1] == "first" else None
o.call_started()
o.admission_refused("busy", "general")
print(o.render_metrics().decode())
"""


def test_multiprocess_values_are_summed_across_processes(tmp_path: Path) -> None:
    """What `ivr serve` does with several gunicorn workers: each process writes its values
    under PROMETHEUS_MULTIPROC_DIR, the master's /metrics sums them (live gauges: live pids)."""
    env = dict(os.environ, PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "mp"))
    (tmp_path / "mp").mkdir()
    (tmp_path / "mp" / "counter_stale.db").write_bytes(b"")  # from a previous run: wiped
    outs = [subprocess.run([sys.executable, "-c", WORKER, which], env=env, capture_output=True,
                           text=True, timeout=60, check=True).stdout
            for which in ("first", "second")]
    second = samples(outs[1])
    assert value(second, "ivr_admission_refusals_total", reason="busy") == 2
    assert not (tmp_path / "mp" / "counter_stale.db").exists()
    assert len(list((tmp_path / "mp").glob("*.db"))) >= 2
    assert value(samples(outs[0]), "ivr_active_calls") == 1
