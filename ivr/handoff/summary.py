"""One sentence for the agent, generated from the handoff facts (never from free text alone).

e.g. "Wants order status (confidence 0.91); order number 123456 (confirmed); declined billing;
already heard FAQ delivery times; sounded upset, said 'this is useless'; caller said: 'where is my
order'." Facts come first because an agent skims; the caller's own last words close it so nothing
the engine did not understand is lost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ivr.handoff.context import HandoffContext

MAX_SUMMARY = 400

_REASONS = {
    "caller_request": "asked for a person",
    "frustration": "was getting frustrated",
    "no_match": "was not understood",
    "no_input": "did not answer",
    "invalid_value": "could not give a valid value",
    "error": "hit a system error",
    "action_error": "hit a failed lookup",
}


def _human(name: str) -> str:
    return name.replace("faq:", "FAQ ").replace("_", " ")


def _said(words: list[str]) -> list[str]:
    """The caller's own words worth quoting: the first and last turns of three words or more
    (the first usually states the problem; "yes", "agent" and digits say nothing new)."""
    long = [w for w in words if len(w.split()) >= 3]
    if not long:
        return words[-2:]
    return list(dict.fromkeys([long[0], long[-1]]))


def summarize(ctx: HandoffContext) -> str:
    parts: list[str] = []
    if ctx.intent and ctx.intent != "agent":
        conf = f" (confidence {ctx.intent_confidence:.2f})" if ctx.intent_confidence else ""
        parts.append(f"Wants {_human(ctx.intent)}{conf}")
    if ctx.reason in _REASONS:
        parts.append(_REASONS[ctx.reason])
    for name, slot in ctx.slots.items():
        if slot.value in (None, ""):
            continue
        mark = " (confirmed)" if slot.verified else ""
        value = ("yes" if slot.value else "no") if isinstance(slot.value, bool) else slot.value
        parts.append(f"{_human(name)} {value}{mark}")
    if ctx.options_rejected:
        parts.append("declined " + ", ".join(_human(o) for o in ctx.options_rejected))
    if ctx.kb_answers:
        parts.append("already heard " + ", ".join(_human(a) for a in ctx.kb_answers))
    s = ctx.sentiment
    if s.frustrated or s.upset_turns:
        upset = "sounded upset"
        if s.evidence:
            quoted = s.evidence[-1]
            times = f" {s.upset_turns} times" if s.upset_turns > 1 else ""
            upset += f", said '{quoted}'{times}"
        parts.append(upset)
    said = _said(ctx.caller_words())
    if said:
        parts.append("caller said: " + " / ".join(f"'{w}'" for w in said))
    if not parts:
        return "Transferred caller; nothing was said to the bot."
    text = "; ".join(parts)
    text = text[0].upper() + text[1:] + "."
    if len(text) > MAX_SUMMARY:
        text = text[: MAX_SUMMARY - 1].rstrip() + "…"
    return text
