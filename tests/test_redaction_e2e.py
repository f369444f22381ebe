"""Done-when of PII redaction: a caller keys a card number and says a PIN through the real server
(real ASR, real WebSocket, the simulated Twilio player); afterwards no artefact holds either --
call record, JSON-lines log, server log, recorded fixture (metadata and replayed keys), the
after-stream TwiML (Task attributes / Dial), the agent whisper -- while the custom action, which
approves only the exact card and PIN, still received them in clear.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import urllib.request
import wave
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import yaml
from twilio.request_validator import RequestValidator

from ivr.caller import play_call
from ivr.caller.local_server import LocalServer

from .conftest import REPO_ROOT

PII = REPO_ROOT / "tests" / "pii"
CARD = "4242424242424242"
PIN = "246810"


class _Tickets:
    """The operator's ticket system: keeps every body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[str] = []
        self.got = threading.Event()
        rx = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                rx.bodies.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
                rx.got.set()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/tickets"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def tickets() -> Iterator[_Tickets]:
    rx = _Tickets()
    yield rx
    rx.server.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tickets: _Tickets) -> Iterator[LocalServer]:
    tmp = tmp_path_factory.mktemp("pii")
    args = ["--record", str(tmp / "records"), "--call-log", str(tmp / "calls.jsonl")]
    env = {"IVR_DB_URL": f"sqlite:///{tmp / 'calls.db'}", "IVR_SPOOL_DIR": str(tmp / "spool"),
           "IVR_TICKETS_WEBHOOK": tickets.url, "IVR_TICKETS_SECRET": "s3cret"}
    with LocalServer(PII / "pay.yaml", args, workdir=tmp, env=env) as srv:
        yield srv


def _flat(text: str) -> str:
    """Digits as they could be spelled anywhere: separators and digit words folded away."""
    words = {"zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
             "six": "6", "seven": "7", "eight": "8", "nine": "9"}
    text = re.sub(r"\b(" + "|".join(words) + r")\b", lambda m: words[m.group(1)], text.lower())
    return re.sub(r"[\s,\-]+", "", text)


def _whisper(srv: LocalServer, call_sid: str) -> str:
    url = f"{srv.url}/twilio/whisper?call={call_sid}"
    sig = RequestValidator(srv.token).compute_signature(url, {})
    req = urllib.request.Request(url, data=b"", method="POST",
                                 headers={"X-Twilio-Signature": sig})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.read().decode()


@pytest.mark.slow
def test_card_and_pin_are_in_no_artefact(server: LocalServer, tickets: _Tickets) -> None:
    report = play_call(PII / "card_pin", server.url, server.token, speed=2.0, timeout_s=180)
    report.print()
    assert report.ok, f"{report.failures}\n--- server log ---\n{server.output()}"
    # The action approved: it saw the full card number and the PIN (in memory).
    assert report.outcome == "transfer: payments_desk"
    said = " ".join(t for turn in report.turns for t in turn.bot)
    assert "ending in 4 2 4 2" in said

    record = server.get_record(report.call_sid)
    caller_turns = [t for t in record["turns"] if t["speaker"] == "caller"]  # type: ignore[union-attr,index]
    assert any("[card_number" in t["text"] or "card number ending" in t["text"]
               for t in caller_turns), caller_turns
    assert any(t["text"] == "[pin]" for t in caller_turns), caller_turns
    assert record["intent"] == "payment"

    rec_dir = server.workdir / "records" / report.call_sid
    deadline = time.monotonic() + 15  # the server saves the recording once the socket closed
    while not (rec_dir / "call.yaml").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    meta = yaml.safe_load((rec_dir / "call.yaml").read_text())
    keyed = "".join(str(e.get("dtmf", "")) for e in meta.get("events", []))
    assert keyed == "", keyed  # the card number's tones were dropped from the recording

    assert tickets.got.wait(30), "no ticket was delivered"
    ticket = json.loads(tickets.bodies[-1])
    assert ticket["call_sid"] == report.call_sid and ticket["issue_type"] == "payment"
    with sqlite3.connect(server.workdir / "calls.db") as conn:
        db_dump = "\n".join(conn.iterdump())
    assert report.call_sid in db_dump and "ticket_outbox" in db_dump and "call_qa" in db_dump

    artefacts = {
        "records database (calls, ticket outbox, QA)": db_dump,
        "ticket": "\n".join(tickets.bodies),
        "record": str(record),
        "jsonl": (server.workdir / "calls.jsonl").read_text(),
        "server log": server.log_path.read_text(errors="replace"),
        "fixture": "\n".join(p.read_text() for p in rec_dir.rglob("*.yaml")),
        "twiml (Task attributes / Dial)": report.twiml,
        "whisper": _whisper(server, report.call_sid),
    }
    assert report.twiml and "<Task " in report.twiml  # the Task attributes are searched too
    for name, text in artefacts.items():
        assert report.call_sid in text or name.startswith(("twiml", "whisper")), name
        if name in ("record", "jsonl", "whisper", "ticket"):  # they carry the masked form
            assert "ending4242" in _flat(text) or "endingin4242" in _flat(text), name
        if name.startswith("twiml"):
            assert report.call_sid in text and "endingin4242" in _flat(text)
        flat = _flat(text)
        assert CARD not in flat, f"card number found in {name}"
        assert PIN not in flat, f"PIN found in {name}"
        assert "42424242" not in flat, f"most of the card number found in {name}"

    # The PIN was spoken (and the read-back answered) during sensitive entries: those stretches
    # of the recording are silence, so only the first utterance is left as voice.
    with wave.open(str(rec_dir / "inbound.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float64)
        rate = w.getframerate()
    frame = rate // 50
    level = np.abs(pcm[: pcm.size // frame * frame]).reshape(-1, frame).mean(axis=1)
    voiced_s = float((level > 200).sum()) / 50
    with wave.open(str(PII / "card_pin" / "pay.wav")) as w:
        first_s = w.getnframes() / w.getframerate()
    assert 0.3 < voiced_s <= first_s + 0.3, (voiced_s, first_s)
