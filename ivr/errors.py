"""One flat error hierarchy with machine-readable codes.

Every error the product raises on purpose derives from :class:`IvrError` and carries a stable
``code`` (for logs, metrics and HTTP bodies) beside its human message. Mapping errors to responses
happens in one place (``ivr.app``), so routes and sessions never invent their own.
"""

from __future__ import annotations


class IvrError(Exception):
    """Base of all deliberate errors. ``code`` is stable; the message is for people."""

    code = "ivr_error"


class ConfigError(IvrError):
    """The server was started with settings it cannot run with."""

    code = "config_invalid"


class ForbiddenRequest(IvrError):
    """A webhook or WebSocket upgrade failed Twilio signature or stream-token validation."""

    code = "forbidden"


class ProtocolError(IvrError):
    """A Media Streams message we cannot parse (bad JSON, missing field, bad base64...)."""

    code = "protocol_error"


class ModelError(IvrError):
    """ASR or TTS failed to load or run."""

    code = "model_error"


class UnknownCall(IvrError):
    """A request names a call we hold no record of."""

    code = "unknown_call"
