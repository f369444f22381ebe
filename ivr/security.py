"""Twilio request authentication, kept pure so it is tested against Twilio's official vectors.

Twilio signs every webhook (HMAC-SHA1 of the full URL plus sorted POST parameters, keyed with the
account's auth token) in ``X-Twilio-Signature``; the Media Streams WebSocket upgrade carries the
same header computed over the ``wss://`` URL with no parameters.
"""

from __future__ import annotations

from collections.abc import Mapping

from twilio.request_validator import RequestValidator

from ivr.errors import ForbiddenRequest


def check_signature(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> None:
    """Raise :class:`ForbiddenRequest` unless ``signature`` is Twilio's for ``url`` + ``params``."""
    if not signature:
        raise ForbiddenRequest("missing X-Twilio-Signature")
    if not auth_token.strip():  # a blank or whitespace-only token is no secret at all
        raise ForbiddenRequest("no auth token configured to check X-Twilio-Signature")
    if not RequestValidator(auth_token).validate(url, dict(params), signature):
        raise ForbiddenRequest(f"bad X-Twilio-Signature for {url}")
