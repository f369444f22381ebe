"""Example actions for dialplans/bank.yaml, served by a real Rasa action server.

bank.yaml calls ``action_check_transfer`` over the Rasa action-server ``/webhook`` protocol, as a
bank whose self-service logic already lives in a Rasa deployment would. Run the server with::

    cd dialplans/actions && python -m rasa_sdk --actions bank_actions --port 5055

A real bank would query its payments system; this reads an in-memory table so it runs anywhere.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

# Pending transfers by the caller's number (ivr sends it in latest_message.metadata["from"]).
PENDING: dict[str, str] = {
    "+15005550006": "Your transfer of 250 dollars to J Smith was sent yesterday and will arrive "
                    "by the end of today.",
}


class ActionCheckTransfer(Action):
    """Says where the caller's latest transfer is; sets ``transfer_status``."""

    def name(self) -> str:
        return "action_check_transfer"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[dict[str, Any]]:
        caller = str((tracker.latest_message.get("metadata") or {}).get("from", ""))
        status = PENDING.get(caller)
        if status is None:
            dispatcher.utter_message(
                text="I can't see a pending transfer on your account. Transfers usually arrive "
                     "within one working day.")
            return [SlotSet("transfer_status", "none")]
        dispatcher.utter_message(text=status)
        return [SlotSet("transfer_status", "pending")]
