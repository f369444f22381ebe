"""Who is calling and where they go: profiles, routing rules, agent groups, occupancy, queue and
callbacks.

The engine decides *that* a caller needs a person (a :class:`~ivr.dialog.Transfer` to a group);
this package decides *who*, when Twilio asks what to do next: the plan's ``routing:`` rules over
the caller's profile and history pick preferred groups, skills and a priority; live occupancy
(counted from Twilio's own ``<Dial>`` callbacks) picks a group with a free seat, an overflow
group, or our priority queue; and a caller nobody can take is offered a call back instead of
being hung up on.
"""

from ivr.contact.choice import Choice, choose
from ivr.contact.occupancy import MemoryOccupancy, Occupancy
from ivr.contact.profiles import MemoryDirectory, MemoryHistory, Profile, normalise_number
from ivr.contact.queue import CallbackRequest, MemoryCallbacks, MemoryQueue, QueueEntry
from ivr.contact.rules import RouteFacts, RouteSpec, evaluate, explain

__all__ = [
    "CallbackRequest",
    "Choice",
    "MemoryCallbacks",
    "MemoryDirectory",
    "MemoryHistory",
    "MemoryOccupancy",
    "MemoryQueue",
    "Occupancy",
    "Profile",
    "QueueEntry",
    "RouteFacts",
    "RouteSpec",
    "choose",
    "evaluate",
    "explain",
    "normalise_number",
]
