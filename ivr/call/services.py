"""What every call shares (models, pool, store, plan, turn-taking settings) and the socket shape.

Kept apart from the session so the Flask app, the server wiring and the tests can build
:class:`Services` without reading the socket loop.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ivr.asr import Transcriber
from ivr.call.bargein import BargeInConfig
from ivr.call.completeness import default_completeness
from ivr.call.endofturn import EndOfTurnPolicy
from ivr.dialog import DialogFactory
from ivr.store import CallStore
from ivr.tts import Speaker
from ivr.vad import EndpointConfig, NeuralVadPool


class WebSocketLike(Protocol):
    def receive(self, timeout: float | None = None) -> str | bytes | None: ...
    def send(self, data: str) -> None: ...
    def close(self, reason: int | None = None, message: str | None = None) -> None: ...


@dataclass
class Services:
    """What every call shares: models, the worker pool, the store, the current dialplan."""

    transcriber: Transcriber
    speaker: Speaker
    executor: Executor
    store: CallStore
    plan: Callable[[], DialogFactory]
    endpoint: EndpointConfig = field(default_factory=EndpointConfig)
    vad_aggressiveness: int = 2
    record_dir: Path | None = None
    end_of_turn: EndOfTurnPolicy = field(default_factory=EndOfTurnPolicy)
    barge_in: BargeInConfig = field(default_factory=BargeInConfig)
    neural_vad: NeuralVadPool | None = field(default_factory=NeuralVadPool)
    """Silero instances leased while a prompt plays (None: webrtcvad and the echo floor only)."""
    completeness: Callable[[str], float] | None = field(default_factory=default_completeness)
    """The end-of-turn text model, run in the ASR worker after each decode (None: rules only)."""
    speculate_when_busy: bool = False
    """Decode speculatively at a pause even while every ASR slot is taken (True: the policy
    measured on an idle machine; False: load-aware, a pause then waits for the end-of-turn
    silence and one decode, so a loaded server does not spend its CPU on guesses)."""
    take_back_s: float = 1.0
    """A speech turn may be taken back this long after it was committed, if the caller goes
    on talking (0: never): the reply is cancelled or cleared, the engine restored, and the
    joined words handled as one turn."""

    def may_speculate(self) -> bool:
        """May a call start a speculative decode now? (``TurnTaker``'s ``may_speculate``.)"""
        if self.speculate_when_busy:
            return True
        return not bool(getattr(self.transcriber, "saturated", False))
