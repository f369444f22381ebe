"""A customer directory behind a rasa-sdk custom action (the operator's CRM), with a timeout.

The action is the plan's own (``routing.directory_action`` names one under ``actions:``), run by
the engine's runner (in-process class or action server). It sees the caller's number in the
tracker's metadata (``from``) and answers with SlotSet events for the profile fields.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from ivr.actions.runner import ActionCall, ActionFailed, ActionRunner
from ivr.contact.profiles import Profile

log = logging.getLogger(__name__)
FIELDS = ("name", "tier", "language", "segments", "open_tickets", "account")
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="crm")


def _many(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(p.strip() for p in value.split(";") if p.strip())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return (str(value),)


class ActionDirectory:
    """:class:`~ivr.contact.profiles.Directory` asking a custom action, bounded by
    ``timeout_s`` (also for in-process actions, which run on a small pool)."""

    def __init__(self, runner: ActionRunner, action_name: str, timeout_s: float) -> None:
        self.runner, self.action_name, self.timeout_s = runner, action_name, timeout_s

    def lookup(self, number: str) -> Profile | None:
        call = ActionCall(self.action_name, sender_id=number, slots={},
                          slot_names=list(FIELDS), metadata={"from": number})
        future = _POOL.submit(self.runner.run, call)
        try:
            result = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            log.warning("directory action %s: no answer within %.1f s for %s; routing the "
                        "caller as unknown", self.action_name, self.timeout_s, number)
            return None
        except ActionFailed as exc:
            log.warning("directory action %s failed (%s); routing the caller as unknown",
                        self.action_name, exc)
            return None
        values: dict[str, Any] = {}
        for event in result.events:
            if event.get("event") == "slot" and event.get("name") in FIELDS:
                values[str(event["name"])] = event.get("value")
        if not values:
            return None  # the CRM does not know this number
        return Profile(number=number, name=str(values.get("name") or ""),
                       tier=str(values.get("tier") or "standard"),
                       language=str(values.get("language") or ""),
                       segments=_many(values.get("segments")),
                       open_tickets=_many(values.get("open_tickets")),
                       account=str(values.get("account") or ""))


def directory_for(plan: Any, factory: Any, default: Any) -> Any:
    """The plan's CRM action as a directory when ``routing.directory_action`` is set (the
    engine's runner for it), else ``default`` (the customer table)."""
    name = plan.routing.directory_action if plan.routing is not None else None
    if not name:
        return default
    runner = getattr(factory, "runners", {}).get(name)
    if runner is None:
        raise ActionFailed(f"directory action {name!r} has no runner (is it under actions:?)")
    return ActionDirectory(runner, plan.actions[name].action_name or name,
                           plan.actions[name].timeout_s)
