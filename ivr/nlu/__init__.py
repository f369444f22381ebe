"""Natural-language understanding for the IVR: intents, slot values, FAQ answers.

Everything runs on CPU without torch: a MiniLM sentence encoder through onnxruntime
(:mod:`ivr.nlu.embedder`) plus lexical matching (:mod:`ivr.nlu.lexical`). Importing this package
loads no model; the embedder is created on first use.
"""

from __future__ import annotations

from ivr.nlu.embedder import Embedder, default_embedder
from ivr.nlu.entities import (
    parse_amount,
    parse_date,
    parse_digits,
    parse_number,
    parse_yes_no,
)
from ivr.nlu.intents import IntentClassifier, IntentResult
from ivr.nlu.kb import FaqEntry, KnowledgeBase

__all__ = [
    "Embedder",
    "FaqEntry",
    "IntentClassifier",
    "IntentResult",
    "KnowledgeBase",
    "default_embedder",
    "parse_amount",
    "parse_date",
    "parse_digits",
    "parse_number",
    "parse_yes_no",
]
