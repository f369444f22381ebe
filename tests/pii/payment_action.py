"""Test action: approves only the exact test card and PIN, so an approval proves the action
received both values in clear (in memory) while every stored artefact has them masked."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

CARD = "4242424242424242"
PIN = "246810"


class TakePayment(Action):
    def name(self) -> str:
        return "action_take_payment"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
            domain: dict[str, Any]) -> list[dict[str, Any]]:
        ok = tracker.get_slot("card_number") == CARD and tracker.get_slot("pin") == PIN
        return [SlotSet("payment_ok", ok)]
