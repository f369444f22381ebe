"""Custom actions: rasa_sdk Actions run in-process or through a Rasa action server."""

from __future__ import annotations

from ivr.actions.loading import load_action_class
from ivr.actions.runner import (
    ActionCall,
    ActionFailed,
    ActionResult,
    ActionRunner,
    InProcessRunner,
    WebhookRunner,
    tracker_state,
)

__all__ = [
    "ActionCall",
    "ActionFailed",
    "ActionResult",
    "ActionRunner",
    "InProcessRunner",
    "WebhookRunner",
    "load_action_class",
    "tracker_state",
]
