"""Turn on the handoff sinks of a server (kept here so server.py needs one line).

When the store has a records database (``--db``/``IVR_DB_URL``; ``store.records``), every
finished call also gets its QA findings stored there, and, when ``IVR_TICKETS_WEBHOOK`` and
``IVR_TICKETS_SECRET`` are set, a ticket queued in the same database's outbox and delivered by a
background worker.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ivr.errors import ConfigError
from ivr.store import CallStore

log = logging.getLogger(__name__)


def _notice(factory: object) -> str | None:
    """The plan's recording notice: an unskippable answer node that mentions recording."""
    plan = getattr(factory, "plan", None)
    for node in getattr(plan, "nodes", {}).values():
        say = getattr(node, "say", None)
        if isinstance(say, str) and getattr(node, "barge_in", True) is False and "record" in say:
            return say
    return None


def add_handoff_sinks(store: CallStore, factory: object, public_url: str = "",
                      env: Mapping[str, str] | None = None) -> CallStore:
    env = os.environ if env is None else env
    from ivr.store.records import RecordsDB

    db = getattr(store, "records", None)
    hook = env.get("IVR_TICKETS_WEBHOOK", "")
    if not isinstance(db, RecordsDB):
        if hook:
            raise ConfigError("IVR_TICKETS_WEBHOOK needs a records database (--db) for its outbox")
        return store
    from ivr.handoff.qa import QaSink
    from ivr.handoff.tickets import Deliverer, TicketSink

    name = str(getattr(getattr(factory, "plan", None), "name", "") or "dialplan")
    store.sinks.append(QaSink(db, name, _notice(factory)))
    if hook:
        secret = env.get("IVR_TICKETS_SECRET", "")
        if not secret:
            raise ConfigError("IVR_TICKETS_WEBHOOK is set but IVR_TICKETS_SECRET is not")
        deliverer = Deliverer(db, hook, secret).start()
        base = public_url.rstrip("/")
        store.sinks.append(TicketSink(db, lambda sid: f"{base}/calls/{sid}", deliverer))
        log.info("tickets: outbox in %r, delivered to %s", db, hook)
    return store
