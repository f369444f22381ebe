"""A phone line with Twilio's playout semantics, in stream time, for session tests and benches.

Unlike the instant fake in test_session_pipeline.py, audio we send *plays*: every inbound frame
the line delivers consumes 20 ms of the outbound queue, a ``mark`` is echoed when the audio before
it has played, ``clear`` drops what is queued and echoes the pending marks at once (Twilio's
documented behaviour). What plays is mixed back into the inbound audio at ``echo_gain`` (0.1 =
-20 dB, a speakerphone), optionally ``echo_delay_s`` later and through an ``echo_path`` impulse
response (a room), on top of the caller's own audio, so barge-in decisions see the echo a real
line would carry. Everything the session sends is logged with the inbound frame index.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ivr.audio import pcm16_to_float, to_phone_ulaw, ulaw_to_pcm16

FRAME = 160


def start_messages(token: str) -> list[str]:
    start = {"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
             "start": {"accountSid": "AC1", "streamSid": "MZ1", "callSid": "CA1",
                       "tracks": ["inbound"],
                       "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000,
                                       "channels": 1},
                       "customParameters": {"token": token}}}
    return ['{"event":"connected","protocol":"Call","version":"1.0.0"}', json.dumps(start)]


class CountingExecutor(ThreadPoolExecutor):
    """A worker pool that knows how many of its jobs have not finished. A line that waits for
    ``session.backlog() + pool.in_flight()`` to reach 0 before each frame runs a call the same
    way however loaded the machine is: work (engine, TTS, ASR) takes no stream time, and its
    results are handled before the next frame, not wherever the scheduler lets them land."""

    def __init__(self, max_workers: int = 2) -> None:
        super().__init__(max_workers=max_workers)
        self._count_lock = threading.Lock()
        self._in_flight = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._count_lock:
            self._in_flight += 1
        try:
            future = super().submit(fn, *args, **kwargs)
        except BaseException:
            self._done(None)
            raise
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any] | None) -> None:
        with self._count_lock:
            self._in_flight -= 1

    def in_flight(self) -> int:
        return self._in_flight


@dataclass
class Sent:
    frame: int
    event: str
    name: str = ""


@dataclass
class PacedLine:
    """``caller``: the caller's side as 8 kHz float audio (the whole call; silence follows)."""

    token: str
    caller: np.ndarray
    echo_gain: float = 0.0
    echo_delay_s: float = 0.0
    """How much later than it plays our audio comes back (network, buffers, the far end)."""
    echo_path: np.ndarray | None = None
    """Impulse response of the echo path (a room, a hybrid): None is a pure gain."""
    max_s: float = 30.0
    pace_s: float = 0.001
    """Wall time per 20 ms frame at least (20x real time): time for the worker pool to run."""
    sent: list[Sent] = field(default_factory=list)
    closed: bool = False
    backlog: Callable[[], int] | None = None
    """The session's :meth:`~ivr.call.session.CallSession.backlog`: the line waits until the
    session has taken every message before it delivers the next frame, so stream time on both
    sides agrees however loaded the machine is (Twilio's real-time pacing does this for us)."""

    def __post_init__(self) -> None:
        self._pre = deque(start_messages(self.token))
        self._queue: deque[tuple[str, Any]] = deque()  # ("audio", float samples) | ("mark", name)
        self._echo_out: deque[str] = deque()
        self.frame = 0
        tail = int(round(self.echo_delay_s * 8000))
        tail += 0 if self.echo_path is None else self.echo_path.size - 1
        self._played = np.zeros(tail + FRAME, dtype=np.float32)  # recent output, for the echo
        self._lock = threading.Lock()  # receive() runs on the reader thread, send() elsewhere

    # ---------------------------------------------------------------- the socket interface
    def receive(self, timeout: float | None = None) -> str:
        if self._pre:
            return self._pre.popleft()
        if self._echo_out:
            return self._echo_out.popleft()
        if self.closed:
            raise ConnectionError("closed")
        if self.frame * FRAME >= self.max_s * 8000:
            raise ConnectionError("caller gone")
        time.sleep(self.pace_s)  # let the worker pool run, as a real-time stream would
        while self.backlog is not None and self.backlog() > 0 and not self.closed:
            time.sleep(0.0002)
        with self._lock:
            inbound = self._caller_frame() + self.echo_gain * self._echo_frame(self._play_frame())
            self.frame += 1
        ulaw = to_phone_ulaw(np.clip(inbound, -1, 1).astype(np.float32), 8000)
        return json.dumps({"event": "media", "streamSid": "MZ1",
                           "media": {"track": "inbound", "chunk": str(self.frame),
                                     "timestamp": str(self.frame * 20),
                                     "payload": base64.b64encode(ulaw).decode()}})

    def send(self, data: str) -> None:
        with self._lock:
            self._send(json.loads(data))

    def _send(self, msg: dict[str, Any]) -> None:
        event = msg["event"]
        if event == "media":
            pcm = pcm16_to_float(ulaw_to_pcm16(base64.b64decode(msg["media"]["payload"])))
            self._queue.append(("audio", pcm))
            self.sent.append(Sent(self.frame, "media"))
        elif event == "mark":
            self._queue.append(("mark", msg["mark"]["name"]))
            self.sent.append(Sent(self.frame, "mark", msg["mark"]["name"]))
        elif event == "clear":
            for kind, value in self._queue:
                if kind == "mark":
                    self._echo(value)
            self._queue.clear()
            self.sent.append(Sent(self.frame, "clear"))

    def close(self, reason: int | None = None, message: str | None = None) -> None:
        self.closed = True

    # ---------------------------------------------------------------- helpers
    def events(self) -> list[str]:
        return [s.event for s in self.sent]

    def first(self, event: str, after: int = -1) -> int | None:
        return next((s.frame for s in self.sent if s.event == event and s.frame > after), None)

    def _caller_frame(self) -> np.ndarray:
        chunk = self.caller[self.frame * FRAME : (self.frame + 1) * FRAME]
        out = np.zeros(FRAME, dtype=np.float32)
        out[: chunk.size] = chunk
        return out

    def _play_frame(self) -> np.ndarray:
        out = np.zeros(FRAME, dtype=np.float32)
        filled = 0
        while self._queue and filled < FRAME:
            kind, value = self._queue[0]
            if kind == "mark":
                self._queue.popleft()
                self._echo(value)
                continue
            take = min(FRAME - filled, value.size)
            out[filled : filled + take] = value[:take]
            filled += take
            if take == value.size:
                self._queue.popleft()
            else:
                self._queue[0] = ("audio", value[take:])
        while self._queue and self._queue[0][0] == "mark":  # played up to the mark
            self._echo(self._queue.popleft()[1])
        return out

    def _echo_frame(self, played: np.ndarray) -> np.ndarray:
        """What of our audio comes back in this frame: delayed, through the echo path."""
        self._played = np.concatenate([self._played[FRAME:], played])
        delay = int(round(self.echo_delay_s * 8000))
        past = self._played[: self._played.size - delay] if delay else self._played
        if self.echo_path is None:
            return past[-FRAME:]
        return np.convolve(past, self.echo_path, mode="valid")[-FRAME:].astype(np.float32)

    def _echo(self, name: str) -> None:
        self._echo_out.append(json.dumps({"event": "mark", "streamSid": "MZ1",
                                          "mark": {"name": name}}))


def onset_s(audio: np.ndarray, rate: int = 8000) -> float:
    """Where speech starts in a clip: the first 10 ms window (DC removed) within 14 dB of the
    clip's loudest window; recordings carry an offset and room noise before the word."""
    win = rate // 100
    n = audio.size // win
    x = audio[: n * win] - float(np.mean(audio))
    rms = np.sqrt(np.mean(x.reshape(n, win) ** 2, axis=1))
    above = np.nonzero(rms > max(0.003, 0.2 * float(rms.max(initial=0.0))))[0]
    return float(above[0]) * win / rate if above.size else 0.0


def place(total_s: float, clips: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """A caller track of ``total_s`` seconds with each clip starting at its time."""
    out = np.zeros(int(total_s * 8000), dtype=np.float32)
    for at, clip in clips:
        i = int(at * 8000)
        seg = clip[: max(0, out.size - i)]
        out[i : i + seg.size] += seg
    return out


def cough(seconds: float = 0.25, seed: int = 0, level: float = 0.4) -> np.ndarray:
    """A synthetic cough: a burst of low-passed noise with a sharp attack and a decay."""
    rng = np.random.default_rng(seed)
    n = int(seconds * 8000)
    noise = rng.standard_normal(n + 16).astype(np.float32)
    noise = np.convolve(noise, np.ones(6, dtype=np.float32) / 6, mode="same")[:n]
    t = np.arange(n) / 8000
    env = np.minimum(1.0, t / 0.01) * np.exp(-t / (seconds / 3))
    burst = noise * env
    return (level * burst / (np.max(np.abs(burst)) + 1e-9)).astype(np.float32)


def noise_burst(seconds: float = 0.4, seed: int = 0, level: float = 0.3) -> np.ndarray:
    """Line noise: a flat burst of white noise (a door, a crackle)."""
    rng = np.random.default_rng(seed)
    return (level * np.clip(rng.standard_normal(int(seconds * 8000)) / 3, -1, 1)).astype(
        np.float32)


def room(seed: int = 0, taps: int = 240) -> np.ndarray:
    """A speakerphone room's echo path: a direct path then ~30 ms of decaying reflections,
    normalised to unit energy (``echo_gain`` sets the level)."""
    rng = np.random.default_rng(seed)
    h = rng.standard_normal(taps) * np.exp(-np.arange(taps) / (taps / 4))
    h[0] = 3.0
    return (h / np.sqrt(np.sum(h ** 2))).astype(np.float32)


def line_noise(seconds: float, level: float = 0.01, seed: int = 0) -> np.ndarray:
    """Steady line hiss (white noise at RMS ``level``; 0.01 is -40 dBFS)."""
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal(int(seconds * 8000))).astype(np.float32)


def false_trial_set(trials: list[tuple[str, str, np.ndarray]], times: tuple[float, ...],
                    echoes: list[str] | tuple[str, ...], echo_only: tuple[str, ...],
                    hiss_dbfs: tuple[int, ...], hiss_seed: int = 0,
                    ) -> list[tuple[str, str, np.ndarray, str]]:
    """The non-speech trials of a barge-in set as (kind, name, caller track, echo condition):
    each (kind, name, clip) of ``trials`` placed in a 10 s track at ``times`` in turn, under
    every echo of ``echoes``; then, under each of ``echo_only``, the caller silent (our echo
    alone) and silent but for line hiss at each of ``hiss_dbfs``."""
    out = []
    for i, (kind, name, clip) in enumerate(trials):
        at = times[i % len(times)]
        for echo in echoes:
            out.append((kind, f"{name}/at{at}/{echo}", place(10.0, [(at, clip)]), echo))
    silent = np.zeros(10 * 8000, dtype=np.float32)
    for echo in echo_only:
        out.append(("echo", f"echo_only/{echo}", silent, echo))
        for k, dbfs in enumerate(hiss_dbfs):
            hiss = line_noise(10.0, 10 ** (dbfs / 20), seed=hiss_seed + k)
            out.append(("echo+line_noise", f"hiss{dbfs}/{echo}", hiss, echo))
    return out
