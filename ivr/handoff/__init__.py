"""Handing a caller to a person: context schema, summary, delivery forms, redaction, sentiment.

The engine captures facts (already redacted at the source); :class:`HandoffContext` types them once;
:mod:`ivr.handoff.delivery` renders them as TaskRouter attributes, ``<Client>`` parameters, SIP
headers and the agent whisper.
"""

from ivr.handoff.context import SCHEMA, HandoffContext
from ivr.handoff.delivery import transfer_twiml, whisper_twiml

__all__ = ["SCHEMA", "HandoffContext", "transfer_twiml", "whisper_twiml"]
