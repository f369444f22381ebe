"""The player against a tiny in-process Twilio-app double: real HTTP, real WebSocket, real JSON.

The fake server is deliberately dumb (energy detection, fixed prompts) but strict about the
protocol: it validates signatures like the real app, asserts every Twilio value is a string, and
records when marks come back, so these tests pin the player's wire behaviour, not the IVR's.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask, Response, abort, jsonify, request
from flask_sock import Sock
from twilio.request_validator import RequestValidator
from werkzeug.serving import make_server

from ivr.audio import PHONE_RATE, float_to_pcm16, pcm16_to_ulaw, read_wav, ulaw_to_pcm16, write_wav
from ivr.caller import cli_main, load_fixture, play_call
from ivr.caller.fixture import parse_fixture

TOKEN = "test-token"
SPEED = 5.0


def tone(seconds: float, freq: float = 440.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * PHONE_RATE)) / PHONE_RATE
    return (level * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@dataclass
class CallLog:
    greeting_s: float = 1.0
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    decisions: dict[str, str] = field(default_factory=dict)
    mark_echo_at: dict[str, int] = field(default_factory=dict)
    clears: int = 0
    stopped: bool = False
    action_status: str = ""
    expose_records: bool = True
    events: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def make_app(log: CallLog) -> Flask:
    app = Flask(__name__)
    app.config["SOCK_SERVER_OPTIONS"] = {"ping_interval": None}
    sock = Sock(app)
    validator = RequestValidator(TOKEN)

    @app.before_request
    def check_signature() -> None:
        base = request.host_url.rstrip("/")
        if request.path == "/twilio/media":
            url, params = "ws" + base[4:] + "/twilio/media", {}
        else:
            url, params = base + request.full_path.rstrip("?"), request.form.to_dict()
        if not validator.validate(url, params, request.headers.get("X-Twilio-Signature", "")):
            abort(403)

    @app.post("/twilio/voice")
    def voice() -> Response:
        sid = request.form["CallSid"]
        assert request.form["CallStatus"] == "ringing"
        log.records[sid] = {"call_sid": sid, "outcome": None, "intent": None, "turns": [],
                            "latency_ms": []}
        host = request.host_url.rstrip("/")
        body = (f'<?xml version="1.0" encoding="UTF-8"?><Response>'
                f'<Connect action="{host}/twilio/after-stream">'
                f'<Stream url="ws{host[4:]}/twilio/media">'
                f'<Parameter name="token" value="tok-{sid}"/>'
                f"</Stream></Connect></Response>")
        return Response(body, mimetype="application/xml")

    @sock.route("/twilio/media")
    def media(ws: Any) -> None:
        try:
            run_stream(ws, log)
        except AssertionError as exc:  # surfaced by the test, not lost in a server thread
            log.errors.append(f"protocol: {exc}")
            raise

    @app.post("/twilio/after-stream")
    def after() -> Response:
        sid = request.form["CallSid"]
        log.action_status = request.form["CallStatus"]
        decision = log.decisions.get(sid, "")
        if log.action_status == "completed" or not decision:
            body = "<Response/>"
        elif decision == "hangup":
            body = "<Response><Say>Bye.</Say><Hangup/></Response>"
        elif decision == "billing":
            body = ('<Response><Dial timeout="20"><Number url="http://x/w">+15550001111</Number>'
                    "</Dial><Say>Nobody.</Say><Hangup/></Response>")
        else:
            task = json.dumps({"group": decision, "intent": decision})
            body = f'<Response><Enqueue workflowSid="WW1"><Task>{task}</Task></Enqueue></Response>'
        return Response(body, mimetype="application/xml")

    @app.get("/calls/<sid>")
    def record(sid: str) -> Any:
        if not log.expose_records or sid not in log.records:
            abort(404)
        return jsonify(log.records[sid])

    return app


def run_stream(ws: Any, log: CallLog) -> None:
    """Greets (tone + mark), listens by energy, answers speech/keys, closes once it has played."""
    assert json.loads(ws.receive())["event"] == "connected"
    start = json.loads(ws.receive())
    assert start["event"] == "start" and isinstance(start["sequenceNumber"], str)
    sid, stream = start["start"]["callSid"], start["streamSid"]
    assert start["start"]["customParameters"] == {"token": f"tok-{sid}"}
    assert start["start"]["mediaFormat"] == {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                             "channels": 1}
    rec = log.records[sid]
    samples = 0
    pending: set[str] = set()
    decided = ""
    in_speech, quiet = False, 0

    def say(name: str, seconds: float, text: str) -> None:
        audio = pcm16_to_ulaw(float_to_pcm16(tone(seconds, 660.0)))
        for i in range(0, len(audio), PHONE_RATE):
            ws.send(json.dumps({"event": "media", "streamSid": stream,
                                "media": {"payload": _b64(audio[i : i + PHONE_RATE])}}))
        ws.send(json.dumps({"event": "mark", "streamSid": stream, "mark": {"name": name}}))
        pending.add(name)
        rec["turns"].append({"speaker": "bot", "text": text, "t": samples / PHONE_RATE,
                             "kind": "speech"})

    def decide(what: str, line: str) -> None:
        nonlocal decided
        decided = what
        log.decisions[sid] = what
        rec["outcome"] = "hangup" if what == "hangup" else f"transfer: {what}"
        rec["intent"] = what
        say("bye", 0.3, line)

    say("greeting", log.greeting_s, "Welcome to the test line. Say billing or press 1.")
    while True:
        raw = ws.receive(timeout=10)
        assert raw is not None, "caller went quiet: Twilio streams continuously"
        msg = json.loads(raw)
        event = msg["event"]
        log.events.append(event)
        assert isinstance(msg["sequenceNumber"], str) and msg["streamSid"] == stream
        if event == "media":
            m = msg["media"]
            assert all(isinstance(m[k], str) for k in ("chunk", "timestamp", "payload"))
            assert int(m["timestamp"]) == samples * 1000 // PHONE_RATE
            pcm = ulaw_to_pcm16(_unb64(m["payload"]))
            assert pcm.size == 160
            samples += pcm.size
            loud = float(np.abs(pcm.astype(np.float32)).mean()) > 500
            if loud and pending - {"bye"} and not decided:
                ws.send(json.dumps({"event": "clear", "streamSid": stream}))
                log.clears += 1
                pending.clear()
            if loud:
                in_speech, quiet = True, 0
            elif in_speech:
                quiet += 1
                if quiet == 15 and not decided:
                    in_speech = False
                    rec["turns"].append({"speaker": "caller", "text": "Billing please",
                                         "t": samples / PHONE_RATE, "kind": "speech"})
                    rec["latency_ms"].append(12.0)
                    decide("billing", "Transferring you to billing.")
        elif event == "dtmf":
            assert msg["dtmf"]["track"] == "inbound_track"
            rec["turns"].append({"speaker": "caller", "text": msg["dtmf"]["digit"],
                                 "t": samples / PHONE_RATE, "kind": "dtmf"})
            if not decided:
                decide("support" if msg["dtmf"]["digit"] == "2" else "hangup", "Okay.")
        elif event == "mark":
            name = msg["mark"]["name"]
            log.mark_echo_at[name] = samples
            pending.discard(name)
            if decided and not pending:
                ws.close()
                return
        elif event == "stop":
            assert msg["stop"]["callSid"] == sid
            log.stopped = True
            rec["outcome"] = "caller_hangup"
            return


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)


@pytest.fixture
def server() -> Iterator[tuple[str, CallLog]]:
    log = CallLog()
    srv = make_server("127.0.0.1", 0, make_app(log), threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}", log
    finally:
        srv.shutdown()
        thread.join(5)
    assert not log.errors


def speech_wav(folder: Path) -> None:
    """0.1 s quiet, 0.6 s 'speech' (a tone), 0.3 s quiet: speech ends 0.7 s into the clip."""
    write_wav(folder / "speech.wav", float_to_pcm16(np.concatenate(
        [np.zeros(800, np.float32), tone(0.6), np.zeros(2400, np.float32)])), PHONE_RATE)


def fixture(tmp_path: Path, turns: list[dict[str, Any]], expect: dict[str, Any] | None = None,
            ) -> Any:
    speech_wav(tmp_path)
    return parse_fixture({"turns": turns, "expect": expect or {}}, tmp_path)


def test_speech_after_prompt_transfers_with_marks_echoed_after_playback(
        server: tuple[str, CallLog], tmp_path: Path) -> None:
    url, log = server
    fx = fixture(tmp_path, [{"audio": "speech.wav", "delay_s": 0.3}],
                 {"outcome": "transfer: billing", "transcripts_contain": ["billing"],
                  "bot_says_contain": ["welcome"], "intent": "billing"})
    report = play_call(fx, url, TOKEN, speed=SPEED, out_wav=tmp_path / "bot.wav")
    assert report.ok, report.failures + report.errors
    assert report.outcome == "transfer: billing" and report.transfer_target.endswith("1111")
    assert report.ended_by == "server" and log.action_status == "in-progress"
    # the greeting's mark came back when 1 s of audio had played on the line, not before
    assert 8000 - 160 <= log.mark_echo_at["greeting"] <= 8000 + 160 * 8
    # the caller waited for the greeting to end (+0.3 s) before talking
    turn = report.turns[0]
    assert 1.3 <= turn.start_s <= 1.5
    assert turn.heard == ["Billing please"] and turn.bot == ["Transferring you to billing."]
    assert turn.latency_ms is not None and 0 < turn.latency_ms < 1500
    bot, rate = read_wav(tmp_path / "bot.wav")
    assert rate == PHONE_RATE and np.abs(bot[: PHONE_RATE]).mean() > 0.1  # the greeting tone
    assert np.abs(bot[int(1.1 * PHONE_RATE) : int(1.3 * PHONE_RATE)]).max() < 0.01  # a gap


def test_barge_in_clear_echoes_pending_marks_at_once(server: tuple[str, CallLog],
                                                     tmp_path: Path) -> None:
    url, log = server
    log.greeting_s = 4.0
    fx = fixture(tmp_path, [{"audio": "speech.wav", "after": "prompt_start", "delay_s": 0.5}],
                 {"outcome": "transfer: billing"})
    report = play_call(fx, url, TOKEN, speed=SPEED)
    assert report.ok, report.failures + report.errors
    assert log.clears == 1 and report.turns[0].barged_in
    # the greeting mark came back on the clear (~0.6 s in), not after its 4 s of audio
    assert log.mark_echo_at["greeting"] < 2 * PHONE_RATE


def test_keys_and_enqueue_group_from_task(server: tuple[str, CallLog], tmp_path: Path) -> None:
    url, log = server
    fx = fixture(tmp_path, [{"dtmf": "2"}], {"outcome": "transfer: support"})
    report = play_call(fx, url, TOKEN, speed=SPEED)
    assert report.ok, report.failures + report.errors
    assert report.turns[0].heard == ["2"] and "dtmf" in log.events


def test_caller_hangup_sends_stop_and_completed_action(server: tuple[str, CallLog],
                                                       tmp_path: Path) -> None:
    url, log = server
    fx = fixture(tmp_path, [{"hangup": True, "after": "prompt_start", "delay_s": 0.2}],
                 {"outcome": "caller_hangup"})
    report = play_call(fx, url, TOKEN, speed=SPEED)
    assert report.ok, report.failures + report.errors
    assert log.stopped and log.action_status == "completed" and report.ended_by == "caller"


def test_failed_expectations_and_missing_call_record(server: tuple[str, CallLog],
                                                     tmp_path: Path) -> None:
    url, log = server
    log.expose_records = False
    fx = fixture(tmp_path, [{"dtmf": "9"}, {"audio": "speech.wav"}],
                 {"outcome": "transfer: billing", "transcripts_contain": ["x"]})
    report = play_call(fx, url, TOKEN, speed=SPEED)
    assert not report.ok
    assert any("outcome: expected 'transfer: billing', got 'hangup'" in f for f in report.failures)
    assert any("never played" in f for f in report.failures)  # the bot hung up first
    assert any("/calls" in w for w in report.warnings)  # transcript check skipped, not failed


def test_cli_exit_codes(server: tuple[str, CallLog], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str]) -> None:
    url, _ = server
    speech_wav(tmp_path)
    (tmp_path / "call.yaml").write_text(
        "turns: [{audio: speech.wav}]\nexpect: {outcome: 'transfer: billing'}\n")
    assert cli_main([str(tmp_path), "--url", url, "--auth-token", TOKEN, "--speed", "5"]) == 0
    out = capsys.readouterr().out
    assert "decision: transfer: billing" in out and "PASS" in out
    assert cli_main([str(tmp_path), "--url", url, "--auth-token", "wrong", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["errors"][0].startswith("voice webhook answered")
    (tmp_path / "call.yaml").write_text("turns: [{audio: speech.wav, delay: 1}]\n")
    assert cli_main([str(tmp_path), "--url", url]) == 2
    assert "delay" in capsys.readouterr().err


def test_recording_replays_keys_at_their_time(server: tuple[str, CallLog],
                                              tmp_path: Path) -> None:
    from ivr.caller import write_recording

    url, log = server
    inbound = bytes([0xFF]) * (3 * PHONE_RATE)
    folder = write_recording(tmp_path / "CA1", inbound, [(1.5, "dtmf", "2")],
                             "transfer: support", {"call_sid": "CA1", "intent": "support"})
    report = play_call(load_fixture(folder), url, TOKEN, speed=SPEED)
    assert report.ok, report.failures + report.errors
    key_t = next(t for t in log.records[report.call_sid]["turns"] if t["kind"] == "dtmf")["t"]
    assert key_t == pytest.approx(1.5, abs=0.05)
