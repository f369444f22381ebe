"""What Twilio does with a transfer's TwiML: dials agents, posts their progress, holds a queue.

The player stops at the ``<Connect action>`` answer; this follows it the way Twilio's docs
describe, with simulated agents: a ``<Dial>`` leg is placed to the ``<Number>``/``<Sip>``/
``<Client>``, its ``statusCallback`` gets the requested events (``initiated``, ``ringing``,
``answered`` as ``CallStatus=in-progress``, ``completed`` with the leg's final status), then the
``<Dial action>`` gets ``DialCallStatus``; an ``<Enqueue waitUrl>`` is polled with
``QueuePosition``/``QueueTime``/``AvgQueueTime`` and its ``<Say>/<Pause>/<Gather>/<Leave>``
executed; the ``<Enqueue action>`` gets ``QueueResult``. Every request is signed like Twilio's.
Time is simulated (a ``<Pause length=10>`` adds 10 s of queue time, instantly).
"""

from __future__ import annotations

import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from ivr.caller.twiml import TwimlError

Post = Callable[[str, dict[str, str]], str]
"""POST signed form ``params`` to absolute ``url`` (signed over that URL); returns the body."""

LegResult = Literal["answer", "no-answer", "busy", "failed"]
DIAL_NOUNS = ("Number", "Sip", "Client")


@dataclass
class Agents:
    """How the simulated agents' phones behave, by address (number, sip URI, client identity).
    ``during_call`` runs while an answered leg is up (tests look at live occupancy there)."""

    behaviour: Mapping[str, LegResult] = field(default_factory=dict)
    default: LegResult = "answer"
    talk_s: int = 120
    during_call: Callable[[str], None] | None = None

    def result(self, address: str) -> LegResult:
        return self.behaviour.get(address, self.default)


@dataclass
class Caller:
    """What the caller does in a queue: ``press`` keys (or ``say``) at the first offer made
    after ``after_s`` of waiting; ``patience_s``: hang up after this long in the queue."""

    press: str = ""
    say: str = ""
    after_s: float = 0.0
    patience_s: float = 900.0
    on_wait: Callable[[int], None] | None = None
    """Called before each waitUrl request with its index (tests free a seat there)."""


@dataclass
class TransferReport:
    says: list[str] = field(default_factory=list)
    dials: list[tuple[str, str]] = field(default_factory=list)
    """(address, final leg status) for every leg placed, in order."""
    events: list[str] = field(default_factory=list)
    """Every request made: ``dial-event ringing``, ``dial-action no-answer``, ``wait``..."""
    tasks: list[dict[str, str]] = field(default_factory=list)
    """TaskRouter ``<Task>`` bodies with their priority/timeout attributes."""
    queued_s: float = 0.0
    outcome: str = ""
    """``connected ADDRESS``, ``taskrouter WW..``, ``hangup``, ``caller_hangup``, ``ended``."""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(el: ET.Element) -> str:
    return (el.text or "").strip()


def _parse(body: str) -> ET.Element:
    try:
        root = ET.fromstring(body.strip())
    except ET.ParseError as exc:
        raise TwimlError(f"not TwiML: {exc}: {body[:200]!r}") from None
    if _local(root.tag) != "Response":
        raise TwimlError(f"<{_local(root.tag)}> is not <Response>")
    return root


def _say_s(text: str) -> float:
    return max(1.0, len(text) / 15.0)  # ~15 characters a second, like Twilio's voices


class TransferFollower:
    """Follows one call's TwiML from the action URL's answer until the caller is connected,
    hung up on, or hangs up. ``call`` holds the standard parameters (CallSid, From, To...)."""

    def __init__(self, post: Post, call: Mapping[str, str], agents: Agents | None = None,
                 caller: Caller | None = None, base_url: str = "", max_requests: int = 200,
                 queue_position: int = 1, avg_queue_time_s: int = 0) -> None:
        self.post = post
        self.call = dict(call)
        self.agents = agents or Agents()
        self.caller = caller or Caller()
        self.base_url = base_url
        self.report = TransferReport()
        self._budget = max_requests
        self._position = queue_position
        self._avg = avg_queue_time_s
        self._seq = 0

    def run(self, body: str, url: str) -> TransferReport:
        self.report.outcome = self._execute(body, url, in_queue=False) or "ended"
        return self.report

    # --- requests -------------------------------------------------------------------------------

    def _request(self, url: str, params: dict[str, str], what: str) -> str:
        self._budget -= 1
        if self._budget < 0:
            raise TwimlError("too many requests following the transfer (a redirect loop?)")
        self.report.events.append(what)
        return self.post(url, {**self.call, **params})

    def _abs(self, url: str | None, doc_url: str) -> str | None:
        return urllib.parse.urljoin(doc_url, url) if url else None

    # --- verbs ----------------------------------------------------------------------------------

    def _execute(self, body: str, url: str, in_queue: bool) -> str | None:
        """Run a document; returns an outcome when the call's fate is settled, or ``leave``
        / None (document ran out) inside a queue's wait."""
        for verb in _parse(body):
            name = _local(verb.tag)
            if name == "Say":
                self.report.says.append(_text(verb))
                self.report.queued_s += _say_s(_text(verb)) if in_queue else 0
            elif name in ("Pause", "Play"):
                if in_queue:
                    self.report.queued_s += float(verb.get("length") or 10)
            elif name == "Hangup":
                return "hangup"
            elif name == "Leave":
                if in_queue:
                    return "leave"
            elif name == "Redirect":
                target = self._abs(_text(verb), url)
                assert target is not None
                return self._execute(self._request(target, {}, "redirect"), target, in_queue)
            elif name == "Gather":
                done = self._gather(verb, url, in_queue)
                if done is not None:
                    return done
            elif name == "Dial" and not in_queue:
                done = self._dial(verb, url)
                if done is not None:
                    return done
            elif name == "Enqueue" and not in_queue:
                return self._enqueue(verb, url)
            else:
                raise TwimlError(f"<{name}> is not allowed here (in queue: {in_queue})")
        return None

    def _gather(self, verb: ET.Element, url: str, in_queue: bool) -> str | None:
        for child in verb:
            if _local(child.tag) == "Say":
                self.report.says.append(_text(child))
        c = self.caller
        if (c.press or c.say) and self.report.queued_s >= c.after_s:
            action = self._abs(verb.get("action"), url) or url
            params = {"Digits": c.press} if c.press else {"SpeechResult": c.say,
                                                           "Confidence": "0.9"}
            self.caller = Caller(patience_s=c.patience_s, on_wait=c.on_wait)  # said once
            return self._execute(self._request(action, params, "gather"), action, in_queue)
        return None  # no input: Twilio goes on with the next verb

    def _dial(self, verb: ET.Element, url: str) -> str | None:
        nouns = [c for c in verb if _local(c.tag) in DIAL_NOUNS]
        if not nouns:
            raise TwimlError("<Dial> without a <Number>, <Sip> or <Client>")
        noun = nouns[0]
        if _local(noun.tag) == "Client":
            address = next((_text(c) for c in noun if _local(c.tag) == "Identity"), _text(noun))
        else:
            address = _text(noun)
        result = self.agents.result(address)
        leg = "CA" + uuid.uuid4().hex
        callback = self._abs(noun.get("statusCallback"), url)
        wanted = (noun.get("statusCallbackEvent") or "completed").split()
        final = "completed" if result == "answer" else result

        def event(name: str, status: str) -> None:
            if callback and name in wanted:
                self._seq += 1
                self._request(callback, {
                    "CallSid": leg, "ParentCallSid": self.call.get("CallSid", ""),
                    "CallStatus": status, "Direction": "outbound-dial",
                    "CallbackSource": "call-progress-events", "SequenceNumber": str(self._seq),
                    "To": address, "Called": address}, f"dial-event {status}")

        event("initiated", "initiated")
        if result != "failed":
            event("ringing", "ringing")
        if result == "answer":
            event("answered", "in-progress")
            if self.agents.during_call is not None:
                self.agents.during_call(address)
        event("completed", final)
        self.report.dials.append((address, final))
        action = self._abs(verb.get("action"), url)
        if action is None:
            return f"connected {address}" if result == "answer" else None
        params = {"DialCallStatus": final, "DialCallSid": leg, "CallStatus": "in-progress"}
        if result == "answer":
            params["DialCallDuration"] = str(self.agents.talk_s)
        outcome = self._execute(self._request(action, params, f"dial-action {final}"), action,
                                in_queue=False)
        if result == "answer" and outcome in (None, "hangup", "ended"):
            return f"connected {address}"
        return outcome

    def _enqueue(self, verb: ET.Element, url: str) -> str | None:
        workflow = verb.get("workflowSid")
        if workflow:
            for task in (c for c in verb if _local(c.tag) == "Task"):
                self.report.tasks.append({"body": _text(task), **task.attrib})
            return f"taskrouter {workflow}"
        wait = self._abs(verb.get("waitUrl"), url)
        action = self._abs(verb.get("action"), url)
        result = "hangup"
        polls = 0
        while self.report.queued_s < self.caller.patience_s:
            if self.caller.on_wait is not None:
                self.caller.on_wait(polls)
            polls += 1
            if wait is None:
                self.report.queued_s = self.caller.patience_s
                break
            before = self.report.queued_s
            body = self._request(wait, {
                "QueueSid": "QU" + uuid.uuid4().hex, "QueuePosition": str(self._position),
                "QueueTime": str(int(self.report.queued_s)), "AvgQueueTime": str(self._avg),
                "CurrentQueueSize": str(self._position)}, "wait")
            done = self._execute(body, wait, in_queue=True)
            if done == "leave":
                result = "leave"
                break
            if done == "hangup":
                return "hangup"
            if self.report.queued_s == before:
                self.report.queued_s += 1  # Twilio re-requests a document that took no time
        if action is None:
            return None if result == "leave" else "caller_hangup"
        params = {"QueueResult": result, "QueueTime": str(int(self.report.queued_s))}
        if result == "hangup":
            params["CallStatus"] = "completed"
        body = self._request(action, params, f"queue-action {result}")
        if result == "hangup":
            return "caller_hangup"
        return self._execute(body, action, in_queue=False)
