"""Example custom action: look an order up and say where it is.

A real shop would query its order system here; this one reads an in-memory table so the example
runs anywhere. It is an ordinary rasa_sdk Action, so the same file also runs unchanged on a Rasa
action server (point the dialplan's ``url:`` at the server instead of ``python:`` at this file).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

ORDERS: dict[str, dict[str, str]] = {
    "123456": {"status": "shipped", "eta": "Thursday"},
    "234567": {"status": "processing", "eta": "next week"},
    "345678": {"status": "delivered", "eta": "yesterday"},
}


class OrderStatusAction(Action):
    """Sets ``order_found`` (bool) and ``order_status``; says the result."""

    def name(self) -> str:
        return "action_order_status"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[dict[str, Any]]:
        number = str(tracker.get_slot("order_number") or "")
        order = ORDERS.get(number)
        if order is None:
            return [SlotSet("order_found", False), SlotSet("order_status", None)]
        spoken = " ".join(number)
        if order["status"] == "delivered":
            dispatcher.utter_message(text=f"Order {spoken} was delivered {order['eta']}.")
        else:
            dispatcher.utter_message(
                text=f"Order {spoken} is {order['status']} and should arrive {order['eta']}.")
        return [SlotSet("order_found", True), SlotSet("order_status", order["status"])]
