"""Kept for existing imports: the call session now lives in :mod:`ivr.call.session`."""

from ivr.call.closing import APOLOGY
from ivr.call.session import CallSession, Services, WebSocketLike

__all__ = ["APOLOGY", "CallSession", "Services", "WebSocketLike"]
