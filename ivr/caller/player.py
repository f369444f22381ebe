"""Play a fixture against a running server exactly as Twilio would: webhook, Media Stream, action.

Nothing here is a shortcut around the real protocol: the incoming-call webhook and the action URL
are signed form POSTs, the stream is a real WebSocket carrying Twilio's JSON messages (all values
strings), and the line behaves like a phone line -- caller frames every 20 ms whether or not the
caller talks, bot audio playing at line rate, marks echoed only once their audio has played. So a
fixture that passes here exercises the same code a real call does.

Threads: the *sender* paces caller frames (and runs the :class:`CallerScript`), the *receiver*
handles server messages; both share the :class:`Playback` under one lock, and all writes to the
socket go through one send lock. The calling thread waits for the end and then does the HTTP
epilogue (action URL, call record).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import websocket
from twilio.request_validator import RequestValidator

from ivr.audio import PHONE_RATE, FloatArray, read_audio, to_phone_ulaw, ulaw_to_pcm16
from ivr.audio import write_wav as write_wav_file
from ivr.caller.clock import (
    FRAME_SAMPLES,
    CallerScript,
    Playback,
    Step,
    StepLog,
    samples_of,
    seconds,
)
from ivr.caller.fixture import (
    DtmfTurn,
    Fixture,
    HangupTurn,
    SilenceTurn,
    SpeechTurn,
    load_fixture,
    speech_bounds,
)
from ivr.caller.report import CallReport, TurnReport, check_expectations
from ivr.caller.twiml import TwimlError, TwimlOutcome, parse_twiml

log = logging.getLogger(__name__)

VOICE_PATH = "/twilio/voice"
HTTP_TIMEOUT_S = 30.0


class CallError(Exception):
    """The call could not be carried out (server unreachable, refused, protocol broken)."""


# ---------------------------------------------------------------------- compile the caller side


def _clip_ulaw(samples: FloatArray, rate: int, gain_db: float) -> tuple[bytes, int]:
    """Phone mu-law for a clip, and where its speech ends (in 8 kHz samples)."""
    if gain_db:
        samples = np.clip(samples * (10 ** (gain_db / 20)), -1.0, 1.0).astype(np.float32)
    ulaw = to_phone_ulaw(samples, rate)
    _, end = speech_bounds(ulaw_to_pcm16(ulaw), PHONE_RATE)
    return ulaw, end or len(ulaw)


def compile_steps(fixture: Fixture) -> list[Step]:
    """Decode the fixture's audio and turn each caller turn into a :class:`Step`."""
    if fixture.recording is not None:
        samples, rate = read_audio(fixture.audio_path(fixture.recording))
        ulaw = to_phone_ulaw(samples, rate)
        keys = tuple((samples_of(e.t), e.dtmf) for e in fixture.events)
        length = max([len(ulaw)] + [k + FRAME_SAMPLES for k, _ in keys])
        return [Step(0, "recording", "immediate", audio=ulaw, speech_end=len(ulaw), keys=keys,
                     length=length, label=f"[recording {fixture.recording}]",
                     hangup_after=fixture.hangup_at_end)]
    steps: list[Step] = []
    for i, turn in enumerate(fixture.turns or []):
        common: dict[str, Any] = {"after": turn.after, "delay": samples_of(turn.delay_s),
                                  "wait": samples_of(turn.wait_s)}
        if isinstance(turn, SpeechTurn):
            samples, rate = read_audio(fixture.audio_path(turn.audio))
            ulaw, end = _clip_ulaw(samples, rate, turn.gain_db)
            said = f" {turn.text!r}" if turn.text else ""
            steps.append(Step(i, "speech", audio=ulaw, speech_end=end,
                              label=f"[{Path(turn.audio).name} {seconds(end):.1f}s{said}]",
                              **common))
        elif isinstance(turn, DtmfTurn):
            gap = samples_of(turn.interval_s)
            keys = tuple((k * gap, d) for k, d in enumerate(turn.dtmf))
            steps.append(Step(i, "dtmf", keys=keys, length=gap * len(turn.dtmf),
                              label=f"[keys {turn.dtmf}]", **common))
        elif isinstance(turn, SilenceTurn):
            steps.append(Step(i, "silence", length=samples_of(turn.silence_s),
                              label=f"[silent {turn.silence_s:g}s]", **common))
        elif isinstance(turn, HangupTurn):
            steps.append(Step(i, "hangup", label="[hangs up]", **common))
    return steps


def line_noise(dbfs: float, seconds_: float = 2.0, seed: int = 0) -> bytes:
    """White noise at RMS ``dbfs``, as mu-law, repeated as the caller's background."""
    rng = np.random.default_rng(seed)
    level = 10 ** (dbfs / 20)
    noise = rng.normal(0.0, level, int(seconds_ * PHONE_RATE)).astype(np.float32)
    return to_phone_ulaw(noise, PHONE_RATE)


# ---------------------------------------------------------------------- URLs and HTTP


def twilio_sid(prefix: str) -> str:
    return prefix + uuid.uuid4().hex


def route_via(url: str, base: str, websocket_: bool = False) -> str:
    """Where to actually send a request for ``url`` (a URL from the server's TwiML): the host we
    were told to use (``base``) with ``url``'s path. TwiML names the server's *public* address,
    which from a developer machine is often unreachable (or TLS in front of plain HTTP); the
    request is still *signed* over ``url``, as Twilio would."""
    u, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base)
    scheme = b.scheme
    if websocket_:
        scheme = "wss" if b.scheme == "https" else "ws"
    return urllib.parse.urlunsplit((scheme, b.netloc, u.path, u.query, ""))


@dataclass(frozen=True, slots=True)
class HttpResult:
    status: int
    body: str


class TwilioHttp:
    """Signed requests, as Twilio makes them."""

    def __init__(self, auth_token: str | None) -> None:
        self._validator = RequestValidator(auth_token) if auth_token else None

    def signature(self, url: str, params: dict[str, str]) -> dict[str, str]:
        if self._validator is None:
            return {}
        return {"X-Twilio-Signature": self._validator.compute_signature(url, params)}

    def request(self, send_to: str, signed_url: str, params: dict[str, str] | None,
                method: str = "POST") -> HttpResult:
        headers = {"User-Agent": "TwilioProxy/1.1 (ivr call)",
                   **self.signature(signed_url, params or {})}
        data = None
        if method == "POST":
            data = urllib.parse.urlencode(params or {}).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        req = urllib.request.Request(send_to, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
                return HttpResult(resp.status, resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            return HttpResult(exc.code, exc.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, OSError) as exc:
            raise CallError(f"{method} {send_to}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class StreamTwiml:
    """What the incoming-call webhook told Twilio to do."""

    stream_url: str
    action_url: str | None
    parameters: dict[str, str]
    after_connect: str
    """The verbs after ``<Connect>`` as a ``<Response>`` (run when there is no action URL)."""


def parse_voice_twiml(body: str, voice_url: str) -> StreamTwiml | TwimlOutcome:
    """``<Connect><Stream>`` -> where to stream; anything else -> the call's outcome right away
    (e.g. a closed-hours ``<Say>`` + ``<Hangup/>``)."""
    try:
        root = ET.fromstring(body.strip())
    except ET.ParseError as exc:
        raise CallError(f"voice webhook did not return XML: {exc}: {body[:200]!r}") from None
    verbs = list(root)
    for i, verb in enumerate(verbs):
        if verb.tag != "Connect":
            continue
        stream = verb.find("Stream")
        if stream is None or not stream.get("url"):
            raise CallError("voice webhook: <Connect> without <Stream url>")
        params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
        action = verb.get("action")
        rest = ET.Element("Response")
        rest.extend(verbs[i + 1 :])
        return StreamTwiml(
            stream_url=urllib.parse.urljoin(voice_url, stream.get("url", "")),
            action_url=urllib.parse.urljoin(voice_url, action) if action else None,
            parameters=params,
            after_connect=ET.tostring(rest, encoding="unicode"),
        )
    try:
        return parse_twiml(body)
    except TwimlError as exc:
        raise CallError(str(exc)) from None


# ---------------------------------------------------------------------- the live call


class _Line:
    """One Media Stream connection: the sender and receiver threads and what they share."""

    def __init__(self, ws: websocket.WebSocket, script: CallerScript, speed: float,
                 stream_sid: str, call_sid: str, account_sid: str, linger: int) -> None:
        self.ws = ws
        self.script = script
        self.playback = Playback()
        self.speed = speed
        self.stream_sid = stream_sid
        self.call_sid = call_sid
        self.account_sid = account_sid
        self.linger = linger
        self.lock = threading.Lock()  # playback, script, now, arrivals
        self.send_lock = threading.Lock()  # socket writes and sequence numbers
        self.now = 0
        self.seq = 0
        self.arrivals: list[tuple[float, int]] = []  # (wall, stream) of each bot media message
        self.ended_by = ""
        self.errors: list[str] = []
        self.warnings: list[str] = []
        self.stop_sending = threading.Event()
        self.closed = threading.Event()  # the socket is finished with (either side)
        self._we_closed = False

    # -------------------------------------------------------------- sending
    def send(self, msg: dict[str, Any], numbered: bool = True) -> None:
        with self.send_lock:
            if numbered:
                self.seq += 1
                msg = {"event": msg["event"], "sequenceNumber": str(self.seq),
                       **{k: v for k, v in msg.items() if k != "event"}}
            self.ws.send(json.dumps(msg))

    def open(self, parameters: dict[str, str]) -> None:
        self.send({"event": "connected", "protocol": "Call", "version": "1.0.0"}, numbered=False)
        self.send({
            "event": "start",
            "start": {
                "accountSid": self.account_sid,
                "streamSid": self.stream_sid,
                "callSid": self.call_sid,
                "tracks": ["inbound"],
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": PHONE_RATE,
                                "channels": 1},
                "customParameters": parameters,
            },
            "streamSid": self.stream_sid,
        })

    def _echo(self, names: list[str]) -> None:
        for name in names:
            self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def run_sender(self) -> None:
        """Pace one frame per 20 ms / speed, on an absolute schedule so jitter does not drift."""
        interval = 0.02 / self.speed
        t0 = time.monotonic()
        n = 0
        finished_at: int | None = None
        try:
            while not self.stop_sending.is_set():
                delay = t0 + n * interval - time.monotonic()
                if delay > 0 and self.stop_sending.wait(delay):
                    break
                with self.lock:
                    now = self.now = n * FRAME_SAMPLES
                    marks = self.playback.due_marks(now)
                    tick = self.script.tick(now, self.playback)
                    wall = time.monotonic()
                    if tick.started is not None:
                        tick.started.start_wall = wall
                    if self.script.finished and finished_at is None:
                        finished_at = now
                    lingering = (finished_at is not None and not tick.hangup
                                 and now - finished_at >= self.linger
                                 and not self.playback.playing(now))
                self._echo(marks)
                for digit in tick.keys:
                    self.send({"event": "dtmf", "streamSid": self.stream_sid,
                               "dtmf": {"track": "inbound_track", "digit": digit}})
                if lingering:
                    self.warnings.append(
                        f"the server kept the line open {seconds(self.linger):.0f} s after the "
                        "last caller turn: hanging up"
                    )
                if tick.hangup or lingering:
                    self.hang_up("caller" if tick.hangup else "timeout")
                    return
                self.send({
                    "event": "media", "streamSid": self.stream_sid,
                    "media": {"track": "inbound", "chunk": str(n + 1),
                              "timestamp": str(now * 1000 // PHONE_RATE),
                              "payload": base64.b64encode(tick.frame).decode("ascii")},
                })
                if tick.speech_ended is not None:
                    tick.speech_ended.speech_end_wall = time.monotonic()
                n += 1
        except (websocket.WebSocketException, OSError) as exc:
            if not self.closed.is_set():
                self.errors.append(f"sending on the stream failed: {exc}")
                self.ended_by = self.ended_by or "error"
                self.closed.set()

    def hang_up(self, why: str) -> None:
        """The caller's end: ``stop`` then close, as Twilio does when the caller hangs up."""
        if self.closed.is_set():
            return
        self.ended_by = self.ended_by or why
        self.stop_sending.set()
        self._we_closed = True
        try:
            self.send({"event": "stop", "streamSid": self.stream_sid,
                       "stop": {"accountSid": self.account_sid, "callSid": self.call_sid}})
            with self.send_lock:
                self.ws.send_close(websocket.STATUS_NORMAL)
        except (websocket.WebSocketException, OSError) as exc:
            log.debug("closing after hang-up: %s", exc)

    # -------------------------------------------------------------- receiving
    def run_receiver(self) -> None:
        try:
            while True:
                try:
                    raw = self.ws.recv()
                except websocket.WebSocketConnectionClosedException:
                    if not self._we_closed:
                        self.warnings.append("the server dropped the connection without a close")
                    break
                if raw == "" or raw is None:  # close frame
                    break
                if isinstance(raw, bytes):
                    self.errors.append("server sent a binary frame (Twilio expects JSON text)")
                    continue
                self._on_message(raw)
        except (websocket.WebSocketException, OSError) as exc:
            if not self._we_closed:
                self.errors.append(f"stream receive failed: {exc}")
                self.ended_by = self.ended_by or "error"
        finally:
            self.ended_by = self.ended_by or "server"
            self.stop_sending.set()
            self.closed.set()

    def _on_message(self, raw: str) -> None:
        try:
            msg = json.loads(raw)
        except json.JSONDecodeError:
            self.errors.append(f"server sent non-JSON: {raw[:80]!r}")
            return
        event = msg.get("event") if isinstance(msg, dict) else None
        if event not in ("media", "mark", "clear"):
            self.errors.append(f"server sent an unknown message: {raw[:120]!r}")
            return
        if msg.get("streamSid") != self.stream_sid:
            self.errors.append(f"server {event} with wrong streamSid {msg.get('streamSid')!r}")
            return
        if event == "media":
            try:
                ulaw = base64.b64decode(msg["media"]["payload"], validate=True)
            except (KeyError, TypeError, binascii.Error, ValueError):
                self.errors.append("server media without a valid base64 payload")
                return
            with self.lock:
                self.playback.on_media(self.now, ulaw)
                self.arrivals.append((time.monotonic(), self.now))
        elif event == "mark":
            name = (msg.get("mark") or {}).get("name")
            if not isinstance(name, str):
                self.errors.append("server mark without a name")
                return
            with self.lock:
                self.playback.on_mark(self.now, name)
        else:
            with self.lock:
                names = self.playback.on_clear(self.now)
            self._echo(names)


# ---------------------------------------------------------------------- orchestration


def _window_report(line: _Line, record: dict[str, Any] | None, report: CallReport) -> None:
    """Attribute bot audio, server turns and latencies to the caller turn they followed."""
    logs: list[StepLog] = line.script.log
    starts = [seconds(s.start) for s in logs] + [float("inf")]
    server_turns = (record or {}).get("turns") or []

    def window(t: float) -> int:  # -1 = before the first caller turn
        return next(i for i, s in enumerate(starts) if t < s) - 1

    turns = [TurnReport(s.index, s.kind, s.label, round(seconds(s.start), 2),
                        None if s.end is None else round(seconds(s.end), 2),
                        waited_out=s.waited_out)
             for s in logs]
    for p in line.playback.prompts:
        end = p.end if p.end is not None else line.playback.end
        w = window(seconds(p.start))
        dur = seconds(end - p.start)
        if w < 0:
            report.greeting_audio_s += dur
        else:
            turns[w].bot_audio_s += dur
    for c in line.playback.clears:
        w = window(seconds(c))
        if w >= 0:
            turns[w].barged_in = True
    for st in server_turns:
        if not isinstance(st, dict):
            continue
        w = window(float(st.get("t") or 0.0))
        text = str(st.get("text") or "")
        kind = str(st.get("kind") or "")
        if st.get("speaker") == "caller":
            entry = text if kind != "no_input" else "(no input)"
            if w >= 0:
                turns[w].heard.append(entry)
        elif kind != "barge_in" and text:
            (turns[w].bot if w >= 0 else report.greeting).append(text)
    # (sliced: a call that ended before any caller turn played has no turns and no ends)
    ends = ([s.start_wall for s in logs[1:]] + [float("inf")])[:len(logs)]
    for turn, s, next_start in zip(turns, logs, ends, strict=True):
        if s.kind != "speech" or s.speech_end_wall is None:
            continue
        first = next((w for w, _ in line.arrivals if w > s.speech_end_wall), None)
        if first is not None and first < next_start:
            turn.latency_ms = round((first - s.speech_end_wall) * 1000, 1)
    report.turns = turns


def play_call(
    fixture_or_wav: Fixture | str | Path,
    url: str,
    auth_token: str | None,
    *,
    speed: float = 1.0,
    out_wav: str | Path | None = None,
    timeout_s: float = 300.0,
    public_url: str | None = None,
    linger_s: float = 60.0,
    ws_url: str | None = None,
    action_url: str | None = None,
) -> CallReport:
    """Play one call against the server at ``url`` and check the fixture's expectations.

    ``speed`` scales the pace of caller frames (2.0 = twice real time; the bot's audio then
    also "plays" twice as fast). ``public_url`` is the base the server believes it is reached at
    (its ``--public-url``), which is what signatures cover; default ``url``. ``linger_s`` (stream
    seconds) is how long the line stays open after the last caller turn before the caller gives
    up. Never raises for a failed call: problems land in ``report.errors``.

    ``ws_url`` / ``action_url``: send the WebSocket / the action request (and the record fetch)
    to these servers instead of ``url``, as a load balancer in front of several processes may
    (all must share one store and one ``--public-url``, which is what every request is signed
    over).
    """
    if not 0.05 <= speed <= 50:
        raise ValueError(f"speed {speed} out of range (0.05..50)")
    fixture = (fixture_or_wav if isinstance(fixture_or_wav, Fixture)
               else load_fixture(fixture_or_wav))
    report = CallReport(fixture=fixture.name or "(ad hoc)", description=fixture.description)
    started = time.monotonic()
    try:
        _run(fixture, report, url.rstrip("/"), (public_url or url).rstrip("/"), auth_token,
             speed, out_wav, timeout_s, linger_s,
             (ws_url or url).rstrip("/"), (action_url or url).rstrip("/"))
    except CallError as exc:
        report.errors.append(str(exc))
        report.ended_by = report.ended_by or "error"
    report.duration_s = round(time.monotonic() - started, 2)
    check_expectations(fixture, report)
    return report


def _run(fixture: Fixture, report: CallReport, base: str, public: str, auth_token: str | None,
         speed: float, out_wav: str | Path | None, timeout_s: float, linger_s: float,
         ws_base: str | None = None, action_base: str | None = None) -> None:
    ws_base, action_base = ws_base or base, action_base or base
    http = TwilioHttp(auth_token)
    if not auth_token:
        report.warnings.append(
            "no auth token: requests are unsigned (the server must run --insecure-dev)"
        )
    steps = compile_steps(fixture)
    call_sid, account_sid, stream_sid = twilio_sid("CA"), twilio_sid("AC"), twilio_sid("MZ")
    report.call_sid = call_sid
    form = {"CallSid": call_sid, "AccountSid": account_sid, "From": fixture.from_number,
            "To": fixture.to_number, "Caller": fixture.from_number, "Called": fixture.to_number,
            "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
    voice_url = public + VOICE_PATH
    res = http.request(base + VOICE_PATH, voice_url, form)
    if res.status != 200:
        raise CallError(f"voice webhook answered HTTP {res.status}: {res.body[:300]}")
    twiml = parse_voice_twiml(res.body, voice_url)
    if isinstance(twiml, TwimlOutcome):
        report.twiml, report.ended_by = res.body, "server"
        report.outcome, report.transfer_target = twiml.outcome(), twiml.target
        report.warnings.append("the voice webhook did not <Connect> a stream")
        return

    noise = line_noise(fixture.noise_dbfs) if fixture.noise_dbfs is not None else None
    script = CallerScript(steps, noise)
    ws_url = route_via(twiml.stream_url, ws_base, websocket_=True)
    # Twilio signs the upgrade over the stream URL exactly as TwiML gave it, with no params.
    header = [f"{k.lower()}: {v}" for k, v in http.signature(twiml.stream_url, {}).items()]
    try:
        ws = websocket.create_connection(ws_url, timeout=HTTP_TIMEOUT_S, header=header,
                                         enable_multithread=True)
    except (websocket.WebSocketException, OSError) as exc:
        raise CallError(f"could not open the media stream {ws_url}: {exc}") from exc
    ws.settimeout(None)
    line = _Line(ws, script, speed, stream_sid, call_sid, account_sid, samples_of(linger_s))
    receiver = threading.Thread(target=line.run_receiver, name=f"rx-{call_sid[:8]}", daemon=True)
    sender = threading.Thread(target=line.run_sender, name=f"tx-{call_sid[:8]}", daemon=True)
    try:
        try:
            line.open(twiml.parameters)
        except (websocket.WebSocketException, OSError) as exc:
            raise CallError(f"the media stream closed before 'start' was sent: {exc}") from exc
        receiver.start()
        sender.start()
        if not line.closed.wait(timeout_s):
            line.warnings.append(f"call still running after {timeout_s:.0f} s: hanging up")
            line.hang_up("timeout")
            report.failures.append(f"timeout: no decision within {timeout_s:.0f} s")
        line.stop_sending.set()
        sender.join(5.0)
        receiver.join(3.0)  # wait for the server's close reply after our hang-up
    finally:
        ws.shutdown()
        receiver.join(2.0)
    for thread in (sender, receiver):
        if thread.is_alive():
            report.errors.append(f"{thread.name} did not stop")
    report.ended_by = line.ended_by
    report.errors += line.errors
    report.warnings += line.warnings
    for step in script.unplayed:
        report.failures.append(
            f"turn {step.index + 1} {step.label} never played: the call ended first"
        )
    for s in script.log:
        if s.waited_out:
            step = steps[s.index]
            report.failures.append(
                f"turn {s.index + 1} {s.label}: '{step.after}' never came within "
                f"{seconds(step.wait):.0f} s; played anyway"
            )

    # Twilio posts the action URL once the stream is over, however it ended.
    # A stream the server side ended, cleanly or not (a crashed process), leaves the call
    # in progress: Twilio moves on to the action URL. Only the caller's hang-up completes it.
    status = "in-progress" if line.ended_by in ("server", "error") else "completed"
    if twiml.action_url is not None:
        action = {**{k: form[k] for k in ("CallSid", "AccountSid", "From", "To", "Direction",
                                           "ApiVersion")}, "CallStatus": status}
        res = http.request(route_via(twiml.action_url, action_base), twiml.action_url, action)
        if res.status != 200:
            report.errors.append(f"action URL answered HTTP {res.status}: {res.body[:300]}")
            after: TwimlOutcome | None = None
        else:
            report.twiml = res.body
            try:
                after = parse_twiml(res.body)
            except TwimlError as exc:
                report.errors.append(str(exc))
                after = None
            if fixture.transfer is not None and after is not None and after.kind == "transfer":
                _follow_transfer(fixture, report, http, base, action, res.body, twiml.action_url)
    else:
        report.twiml = twiml.after_connect
        after = parse_twiml(twiml.after_connect)

    record = _fetch_record(http, action_base, twiml.action_url or voice_url, call_sid, report)
    if record is not None:
        report.record = record
        report.record_available = True
        report.intent = record.get("intent") if isinstance(record.get("intent"), str) else None
        report.server_latency_ms = [float(x) for x in record.get("latency_ms") or []]
    record_outcome = (record or {}).get("outcome")
    if status == "completed":
        report.outcome = "caller_hangup" if line.ended_by == "caller" else None
    elif after is not None:
        report.outcome = after.outcome(record_outcome if isinstance(record_outcome, str)
                                       else None)
        report.transfer_target = after.target
    _window_report(line, record, report)
    if out_wav is not None:
        with line.lock:
            bot = line.playback.render(line.now)
        write_wav_file(out_wav, bot, PHONE_RATE)


def _follow_transfer(fixture: Fixture, report: CallReport, http: TwilioHttp, base: str,
                     call: dict[str, str], body: str, url: str) -> None:
    """Play what Twilio does after the transfer TwiML (agent legs, queue), signed."""
    from ivr.caller.transfer import Agents, Caller, TransferFollower

    script = fixture.transfer
    assert script is not None

    def post(to: str, params: dict[str, str]) -> str:
        res = http.request(route_via(to, base), to, params)
        if res.status not in (200, 204):
            raise TwimlError(f"{to} answered HTTP {res.status}: {res.body[:300]}")
        return res.body

    follower = TransferFollower(
        post, {**call, "CallStatus": "in-progress"},
        Agents(behaviour=dict(script.agents), default=script.default),
        Caller(press=script.press, say=script.say, after_s=script.after_s,
               patience_s=script.patience_s))
    try:
        done = follower.run(body, url)
    except (TwimlError, CallError) as exc:
        report.errors.append(f"following the transfer: {exc}")
        done = follower.report
    report.routed = done.outcome or None
    report.routed_says = list(done.says)
    report.routed_events = list(done.events)


def _fetch_record(http: TwilioHttp, base: str, public_ref: str, call_sid: str,
                  report: CallReport) -> dict[str, Any] | None:
    """The server's developer view of the call; None (with a warning) when it has none."""
    parts = urllib.parse.urlsplit(public_ref)
    signed = f"{parts.scheme}://{parts.netloc}/calls/{call_sid}"
    record: dict[str, Any] | None = None
    for _ in range(10):  # the session may still be storing its final record
        try:
            res = http.request(route_via(signed, base), signed, None, method="GET")
        except CallError as exc:
            report.warnings.append(f"call record unavailable: {exc}")
            return None
        if res.status != 200:
            report.warnings.append(
                f"GET /calls/{call_sid} answered HTTP {res.status}: transcript checks skipped"
            )
            return None
        try:
            data = json.loads(res.body)
        except json.JSONDecodeError:
            report.errors.append(f"GET /calls/{call_sid} did not return JSON")
            return None
        record = data if isinstance(data, dict) else None
        if record is None or record.get("outcome") is not None:
            return record
        time.sleep(0.1)
    return record

