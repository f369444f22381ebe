"""Example custom action: verify who is calling from their account number and PIN.

Caller ID proves nothing (numbers are shared, withheld or spoofed), so the contact-centre plan
reads a customer's profile out (``routing.verified_say``: "Thank you, Ana") only after this
action says the account number and PIN match. A real operator checks them against their own
system here (a CRM, an identity service); this one reads an in-memory table so the example
runs anywhere. It is an ordinary rasa_sdk Action, so it also runs on a Rasa action server.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

ACCOUNTS: dict[str, dict[str, str]] = {
    # account number -> the PIN on file and this morning's transfer (the self-service answer)
    "55501234": {"pin": "4321", "transfer": "complete: 250 dollars reached the payee at 9:12"},
    "55509876": {"pin": "8642", "transfer": "still pending and should arrive by noon"},
}


class VerifyCallerAction(Action):
    """Sets ``caller_verified`` (bool) and, when verified, ``transfer_status``."""

    def name(self) -> str:
        return "action_verify_caller"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[dict[str, Any]]:
        account = ACCOUNTS.get(str(tracker.get_slot("account_number") or ""))
        if account is None or str(tracker.get_slot("pin") or "") != account["pin"]:
            return [SlotSet("caller_verified", False), SlotSet("transfer_status", None)]
        return [SlotSet("caller_verified", True), SlotSet("transfer_status", account["transfer"])]
