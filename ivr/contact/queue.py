"""Our queue (priority first, then arrival) and stored call-back requests.

Twilio's ``<Enqueue>`` holds the audio; the order callers leave in is ours: the waitUrl lets the
caller at the head of *our* queue ``<Leave>`` as soon as a seat frees, so a priority caller goes
ahead of earlier standard ones.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class QueueEntry:
    call_sid: str
    group: str
    priority: int
    enqueued_at: float
    number: str = ""
    intent: str = ""
    leaving: str = ""
    """Why we let the caller out: ``seat:<group>`` (claimed) or ``callback``."""
    tried: tuple[str, ...] = ()
    """Groups whose <Dial> went unanswered on this call: not offered a seat again."""
    skills: tuple[str, ...] = ()
    """Skills the routing rule required (a freed seat must have them too)."""
    polled_at: float = 0.0
    """When Twilio last polled this caller's waitUrl (0: never, e.g. the simulator). A caller
    not polled for :data:`STALE_S` has gone without an ``<Enqueue action>`` reaching us: they
    no longer hold anyone back."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tried", tuple(self.tried))  # JSON gives lists
        object.__setattr__(self, "skills", tuple(self.skills))


STALE_S = 120.0


class CallQueue(Protocol):
    def add(self, entry: QueueEntry) -> None: ...

    def touch(self, call_sid: str, now: float) -> None:
        """Twilio polled this caller's waitUrl at ``now``."""
        ...

    def get(self, call_sid: str) -> QueueEntry | None: ...

    def remove(self, call_sid: str) -> QueueEntry | None: ...

    def mark_leaving(self, call_sid: str, why: str) -> None: ...

    def waiting(self, group: str) -> list[QueueEntry]:
        """Callers still waiting for ``group``, in the order they will be served."""
        ...

    def groups(self) -> list[str]: ...


def served_order(entries: list[QueueEntry]) -> list[QueueEntry]:
    return sorted(entries, key=lambda e: (-e.priority, e.enqueued_at, e.call_sid))


class MemoryQueue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, QueueEntry] = {}

    def add(self, entry: QueueEntry) -> None:
        with self._lock:
            self._entries.setdefault(entry.call_sid, entry)

    def get(self, call_sid: str) -> QueueEntry | None:
        with self._lock:
            return self._entries.get(call_sid)

    def touch(self, call_sid: str, now: float) -> None:
        with self._lock:
            e = self._entries.get(call_sid)
            if e is not None:
                self._entries[call_sid] = replace(e, polled_at=now)

    def remove(self, call_sid: str) -> QueueEntry | None:
        with self._lock:
            return self._entries.pop(call_sid, None)

    def mark_leaving(self, call_sid: str, why: str) -> None:
        with self._lock:
            e = self._entries.get(call_sid)
            if e is not None:
                self._entries[call_sid] = replace(e, leaving=why)

    def waiting(self, group: str) -> list[QueueEntry]:
        with self._lock:
            return served_order(
                [e for e in self._entries.values() if e.group == group and not e.leaving]
            )

    def groups(self) -> list[str]:
        with self._lock:
            return sorted({e.group for e in self._entries.values()})


# --- callbacks ----------------------------------------------------------------------------------

CallbackStatus = Literal["pending", "dialling", "done", "failed"]


@dataclass(frozen=True, slots=True)
class CallbackRequest:
    """A caller asked to be called back. Holds no slot values (they may be card numbers or
    PINs): only what the outbound dialler and the agent need to place and open the call."""

    number: str
    group: str
    intent: str
    priority: int
    requested_at: float
    call_sid: str
    window: str = "asap"
    reason: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: CallbackStatus = "pending"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallbackStore(Protocol):
    """What the future outbound dialler consumes: ``pending`` in serve order, ``claim`` one
    (atomically: two diallers never place the same call), then ``set_status``."""

    def add(self, request: CallbackRequest) -> None: ...

    def pending(self) -> list[CallbackRequest]: ...

    def claim(self) -> CallbackRequest | None: ...

    def set_status(self, request_id: str, status: CallbackStatus) -> None: ...


def _serve_order(reqs: list[CallbackRequest]) -> list[CallbackRequest]:
    return sorted(reqs, key=lambda r: (-r.priority, r.requested_at))


class MemoryCallbacks:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reqs: dict[str, CallbackRequest] = {}

    def add(self, request: CallbackRequest) -> None:
        with self._lock:
            self._reqs[request.id] = request

    def pending(self) -> list[CallbackRequest]:
        with self._lock:
            return _serve_order([r for r in self._reqs.values() if r.status == "pending"])

    def claim(self) -> CallbackRequest | None:
        with self._lock:
            waiting = _serve_order([r for r in self._reqs.values() if r.status == "pending"])
            if not waiting:
                return None
            taken = replace(waiting[0], status="dialling")
            self._reqs[taken.id] = taken
            return taken

    def set_status(self, request_id: str, status: CallbackStatus) -> None:
        with self._lock:
            self._reqs[request_id] = replace(self._reqs[request_id], status=status)


class FileCallbacks(MemoryCallbacks):
    """Call-back requests that survive a restart: every change is appended (and fsynced) to a
    JSON-lines journal, replayed on start. One process; the shared store replaces it for many."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self._path = Path(path)
        if self._path.exists():
            for line in self._path.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    req = CallbackRequest(**json.loads(line))
                    self._reqs[req.id] = req

    def _journal(self, req: CallbackRequest) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(req.to_json()) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def add(self, request: CallbackRequest) -> None:
        super().add(request)
        self._journal(request)

    def claim(self) -> CallbackRequest | None:
        taken = super().claim()
        if taken is not None:
            self._journal(taken)
        return taken

    def set_status(self, request_id: str, status: CallbackStatus) -> None:
        super().set_status(request_id, status)
        with self._lock:
            req = self._reqs[request_id]
        self._journal(req)
