"""What Twilio would do with the TwiML the ``<Connect action>`` URL returned, as one outcome string.

Fixtures compare outcomes, not XML, so they survive harmless TwiML changes (a ``<Say>`` before a
``<Dial>``, a different dial timeout). The first verb that decides where the caller goes wins:
``<Dial>``/``<Enqueue>`` -> ``transfer: GROUP``, ``<Hangup/>`` -> ``hangup``, ``<Redirect>`` ->
``redirect: URL``; a response with none of them ends the call (``none``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ivr.errors import IvrError


class TwimlError(IvrError):
    code = "twiml_invalid"


@dataclass(frozen=True, slots=True)
class TwimlOutcome:
    """``kind``: transfer | hangup | redirect | none. ``group`` is the agent group when the TwiML
    names it (``<Enqueue><Task>`` JSON or a ``<Client>`` parameter); ``target`` is where Twilio
    would connect the caller (``number +1555...``, ``sip sip:..``, ``client alice``,
    ``enqueue WW..``); ``says`` are ``<Say>`` texts spoken before it."""

    kind: str
    target: str = ""
    group: str | None = None
    says: tuple[str, ...] = ()
    task: dict[str, object] | None = None

    def outcome(self, record_outcome: str | None = None) -> str:
        """The outcome string; the group comes from the TwiML, else the server's call record,
        else the dial target itself."""
        if self.kind == "transfer":
            if self.group:
                return f"transfer: {self.group}"
            if record_outcome and record_outcome.startswith("transfer:"):
                return "transfer: " + record_outcome.split(":", 1)[1].strip()
            return f"transfer: {self.target.split(' ', 1)[-1]}"
        if self.kind == "redirect":
            return f"redirect: {self.target}"
        return self.kind


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(el: ET.Element) -> str:
    return (el.text or "").strip()


def _dial(dial: ET.Element) -> tuple[str, str | None]:
    number = _text(dial)
    if number:
        return f"number {number}", None
    for child in dial:
        kind = _local(child.tag).lower()
        if kind in ("number", "sip", "queue", "conference"):
            return f"{kind} {_text(child)}", None
        if kind == "client":
            identity = next((_text(c) for c in child if _local(c.tag) == "Identity"), "")
            params = {c.get("name"): c.get("value") for c in child if _local(c.tag) == "Parameter"}
            return f"client {identity or _text(child)}", params.get("group") or None
    return "dial (no target)", None


def parse_twiml(body: str) -> TwimlOutcome:
    """Parse a ``<Response>``; raises :class:`TwimlError` for anything that is not TwiML."""
    try:
        root = ET.fromstring(body.strip())
    except ET.ParseError as exc:
        raise TwimlError(f"action URL did not return XML: {exc}: {body[:200]!r}") from None
    if _local(root.tag) != "Response":
        raise TwimlError(f"action URL returned <{_local(root.tag)}>, not <Response>")
    says: list[str] = []
    for verb in root:
        name = _local(verb.tag)
        if name == "Say":
            says.append(_text(verb))
        elif name == "Dial":
            target, group = _dial(verb)
            return TwimlOutcome("transfer", target, group, tuple(says))
        elif name == "Enqueue":
            task_el = next((c for c in verb if _local(c.tag) == "Task"), None)
            task: dict[str, object] | None = None
            if task_el is not None and _text(task_el):
                try:
                    parsed = json.loads(_text(task_el))
                except json.JSONDecodeError as exc:
                    raise TwimlError(f"<Task> is not JSON: {exc}") from None
                task = parsed if isinstance(parsed, dict) else None
            group = str(task["group"]) if task and task.get("group") else None
            where = verb.get("workflowSid") or _text(verb)
            return TwimlOutcome("transfer", f"enqueue {where}",
                                group, tuple(says), task)
        elif name == "Hangup":
            return TwimlOutcome("hangup", says=tuple(says))
        elif name == "Redirect":
            return TwimlOutcome("redirect", _text(verb), says=tuple(says))
    return TwimlOutcome("none", says=tuple(says))
