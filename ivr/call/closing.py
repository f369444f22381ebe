"""How a call ends: a transfer or hang-up is stored at once, the stream closes once our last
words have played (or a deadline passes), and a failure becomes an apology and a transfer.

Wall-clock only here: Twilio stops sending media once we close, so the close deadline cannot be
counted in stream time.
"""

from __future__ import annotations

import time

from ivr.dialog import DialogFactory, Directive, Hangup, Say, Transfer
from ivr.store import Decision

APOLOGY = "Sorry, something went wrong on our side. Let me connect you with someone who can help."
CLOSE_GRACE_S = 3.0


class Closing:
    def __init__(self) -> None:
        self.decision: Decision | None = None
        self.deadline = 0.0
        self.playing_until = 0.0  # wall clock estimate of when sent audio finishes

    def sent(self, seconds: float) -> None:
        """``seconds`` more of our audio went out; it plays after what is queued."""
        self.playing_until = max(self.playing_until, time.monotonic()) + seconds

    def stopped(self) -> None:
        """``clear``: nothing of ours plays any more."""
        self.playing_until = time.monotonic()

    def decide(self, decision: Decision) -> None:
        self.decision = decision
        self.deadline = max(self.playing_until, time.monotonic()) + CLOSE_GRACE_S

    def wait_s(self) -> float | None:
        """How long the loop may sleep: until the close deadline, else until something comes."""
        if self.decision is not None:
            return max(0.0, self.deadline - time.monotonic())
        return None

    def due(self, audio_left: bool) -> bool:
        """Close now? Once decided, when our audio has played or the deadline passed."""
        if self.decision is None:
            return False
        return not (audio_left and time.monotonic() < self.deadline)


def decision_for(d: Transfer | Hangup, factory: DialogFactory) -> tuple[Decision, str, str | None]:
    """The stored decision, the call's outcome and (for a transfer) the intent it carries."""
    if isinstance(d, Transfer):
        target = factory.agent_group(d.group)
        intent = d.context.get("intent")
        return (Decision("transfer", target, dict(d.context)), f"transfer: {d.group}",
                intent if isinstance(intent, str) else None)
    return Decision("hangup", None, {"reason": d.reason}), "hangup", None


def apology(group: str, error: BaseException) -> list[Directive]:
    """Never drop a caller silently: say sorry and hand them to a person."""
    return [Say(APOLOGY), Transfer(group, {"error": str(error)})]
