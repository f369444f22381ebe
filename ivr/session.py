"""Kept for existing imports: the call session now lives in :mod:`ivr.call.session`."""

from ivr.call.session import APOLOGY, CallSession, Services, WebSocketLike

__all__ = ["APOLOGY", "CallSession", "Services", "WebSocketLike"]
