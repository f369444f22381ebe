"""Turn on the handoff sinks of a server from the environment (kept here so server.py needs one
line): records DB + call QA when ``IVR_DB_URL`` is set, plus automatic tickets when
``IVR_TICKETS_WEBHOOK`` (and ``IVR_TICKETS_SECRET``) are set.

``IVR_DB_URL``: any SQLAlchemy URL (``sqlite:///calls.db``); ``IVR_DB_SPOOL``: the records
spool directory (default ``records-spool``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ivr.errors import ConfigError
from ivr.store.base import RecordSink

log = logging.getLogger(__name__)


def _notice(factory: object) -> str | None:
    """The plan's recording notice: an unskippable answer node that mentions recording."""
    plan = getattr(factory, "plan", None)
    for node in getattr(plan, "nodes", {}).values():
        say = getattr(node, "say", None)
        if isinstance(say, str) and getattr(node, "barge_in", True) is False and "record" in say:
            return say
    return None


def handoff_sinks(factory: object, public_url: str = "",
                  env: Mapping[str, str] | None = None) -> list[RecordSink]:
    env = os.environ if env is None else env
    url = env.get("IVR_DB_URL", "")
    if not url:
        return []
    from ivr.handoff.qa import QaSink
    from ivr.handoff.tickets import Deliverer, TicketSink
    from ivr.store.records import RecordsDB

    db = RecordsDB(url, env.get("IVR_DB_SPOOL", "records-spool"))
    name = str(getattr(getattr(factory, "plan", None), "name", "") or "dialplan")
    sinks: list[RecordSink] = [db, QaSink(db, name, _notice(factory))]
    hook = env.get("IVR_TICKETS_WEBHOOK", "")
    if hook:
        secret = env.get("IVR_TICKETS_SECRET", "")
        if not secret:
            raise ConfigError("IVR_TICKETS_WEBHOOK is set but IVR_TICKETS_SECRET is not")
        deliverer = Deliverer(db, hook, secret).start()
        base = public_url.rstrip("/")
        sinks.append(TicketSink(db, lambda sid: f"{base}/calls/{sid}", deliverer))
        log.info("tickets: outbox in %r, delivered to %s", db, hook)
    return sinks
