"""Small fakes for fast tests of pure logic and routing (beside, never instead of, real models)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from ivr.dialog import (
    AgentTarget,
    CallDialog,
    CallerInput,
    CallInfo,
    Directive,
    Hangup,
    Listen,
    Say,
    Transfer,
)
from ivr.session import Services
from ivr.store import MemoryStore


@dataclass
class ScriptedDialog:
    """Greets; then '1' or speech with 'bill' -> billing, 'bye' -> hangup, else reprompt."""

    inputs: list[CallerInput] = field(default_factory=list)

    def start(self) -> list[Directive]:
        return [Say("Welcome. Say billing or press 1."), Listen(timeout_s=2.0)]

    def handle(self, event: CallerInput) -> list[Directive]:
        self.inputs.append(event)
        if event.digits == "1" or "bill" in event.text.lower():
            return [Say("Transferring you to billing."),
                    Transfer("billing", {"intent": "billing", "transcript": []})]
        if "bye" in event.text.lower():
            return [Say("Goodbye."), Hangup()]
        if event.kind == "no_input":
            return [Say("Connecting you to an agent."), Transfer("general", {})]
        return [Say("Sorry, say billing or press 1."), Listen(timeout_s=2.0)]


class FakeFactory:
    default_group = "general"

    def __init__(self) -> None:
        self.dialogs: list[ScriptedDialog] = []

    def new_call(self, info: CallInfo) -> CallDialog:
        d = ScriptedDialog()
        self.dialogs.append(d)
        return d

    def agent_group(self, name: str) -> AgentTarget:
        targets = {
            "billing": AgentTarget("billing", "number", "+15550001111"),
            "general": AgentTarget("general", "taskrouter", "WW0123456789abcdef"),
            "support": AgentTarget("support", "client", "alice"),
        }
        return targets[name]

    def asr_vocabulary(self) -> tuple[str, ...]:
        return ("billing",)


def fake_services(factory: FakeFactory | None = None, transcriber: Any = None,
                  speaker: Any = None) -> Services:
    f = factory or FakeFactory()
    return Services(
        transcriber=cast(Any, transcriber),
        speaker=cast(Any, speaker),
        executor=ThreadPoolExecutor(max_workers=2),
        store=MemoryStore(),
        plan=lambda: f,
    )


class FixedSpeaker:
    """Speaks every prompt as the same audio (e.g. a real recorded voice, so echo tests have a
    real echo): the session's barge-in logic is under test, not TTS."""

    def __init__(self, ulaw: bytes) -> None:
        self.ulaw = ulaw

    def render(self, text: str, *, cache: bool = True) -> bytes:
        return self.ulaw

    def stream(self, text: str) -> Any:
        yield self.ulaw
