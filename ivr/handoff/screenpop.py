"""Screen-pop for the agent desktop: ``/agent/calls/<CallSid>`` behind a signed, expiring link.

The link carried in the handoff (``screen_pop_url``) is ``/agent/calls/<sid>?exp=<unix>&sig=<hex>``
with ``sig = HMAC-SHA256(secret, "<sid>:<exp>")``. The secret is the screen-pop's own
(``IVR_SCREEN_POP_SECRET``), never the Twilio auth token: an agent desktop that leaks a link leaks
one call's page for a few hours, not the power to forge webhooks.

The page shows the summary, the full (redacted) transcript, the profile, the top 3 knowledge-base
articles for what the caller asked, and a suggested first sentence; while the caller is still with
the bot or in the queue it refreshes from ``/agent/calls/<sid>.json`` (same signature).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, abort, jsonify, render_template, request

from ivr.handoff.context import HandoffContext
from ivr.handoff.redact import scrub
from ivr.transcript import Turn

SCREEN_POP_PATH = "/agent/calls/"
LINK_TTL_S = 4 * 3600
REFRESH_MS = 2000


def sign(secret: str, call_sid: str, exp: int) -> str:
    msg = f"{call_sid}:{exp}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def signed_url(base: str, secret: str, call_sid: str, ttl_s: int = LINK_TTL_S,
               now: float | None = None) -> str:
    """The page's link. Expiry is rounded up to the hour, so every process of a fleet (sharing
    the secret) hands out the same link for a call within the hour: valid ``ttl_s`` to
    ``ttl_s`` + 1 h."""
    t = (time.time() if now is None else now) + ttl_s
    exp = int(-(-t // 3600) * 3600)
    query = urlencode({"exp": exp, "sig": sign(secret, call_sid, exp)})
    return f"{base}{SCREEN_POP_PATH}{call_sid}?{query}"


def default_secret(auth_token: str) -> str:
    """The key when ``IVR_SCREEN_POP_SECRET`` is unset: derived one-way from the Twilio token so
    all processes of a fleet agree (a leaked link key never reveals the token); random when
    there is no token (development)."""
    if not auth_token:
        return secrets.token_hex(32)
    return hmac.new(auth_token.encode(), b"ivr screen-pop link key v1", hashlib.sha256).hexdigest()


def check(secret: str, call_sid: str, exp: str, sig: str, now: float | None = None) -> bool:
    """A valid, unexpired signature for this call (constant-time comparison)."""
    if not exp.isdigit() or int(exp) < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(sign(secret, call_sid, int(exp)), sig)


@dataclass
class Article:
    id: str
    question: str
    answer: str
    score: float


@dataclass
class ScreenPop:
    """What the page shows; built from the live record and (once handed over) the context."""

    call_sid: str
    status: str
    """with the bot | in queue / ringing an agent | ended"""
    summary: str
    transcript: list[Turn]
    profile: dict[str, str] | None
    articles: list[Article]
    first_sentence: str
    frustrated: bool = False
    intent: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = {
            "call_sid": self.call_sid, "status": self.status, "summary": self.summary,
            "transcript": [t.to_json() for t in self.transcript], "profile": self.profile,
            "articles": [a.__dict__ for a in self.articles], "first_sentence": self.first_sentence,
            "frustrated": self.frustrated, "intent": self.intent, "slots": self.slots,
        }
        result: dict[str, Any] = scrub(data)  # a backstop: every source is redacted already
        return result


Searcher = Callable[[str, int], Sequence[tuple[Any, float]]]


def top_articles(search: Searcher | None, words: Sequence[str], k: int = 3) -> list[Article]:
    """The ``k`` best KB entries for what the caller said (their longest utterance first)."""
    if search is None or not words:
        return []
    query = max(words, key=lambda w: len(w.split()))
    out = []
    for entry, score in search(query, k)[:k]:
        questions = getattr(entry, "questions", ()) or ("",)
        out.append(Article(str(getattr(entry, "id", "") or ""), str(questions[0]),
                           str(getattr(entry, "answer", "")), round(float(score), 3)))
    return out


def first_sentence(ctx: HandoffContext | None, intent: str | None) -> str:
    """What the agent could open with: proves they know why the caller called."""
    about = (ctx.intent if ctx is not None else None) or intent
    sorry = "I'm sorry for the trouble. " if ctx is not None and ctx.sentiment.frustrated else ""
    if about and about != "agent":
        topic = about.replace("faq:", "").replace("_", " ")
        detail = ""
        if ctx is not None:
            facts = [f"{k.replace('_', ' ')} {v.value}" for k, v in ctx.slots.items()
                     if v.verified and v.value not in (None, "") and not isinstance(v.value, bool)]
            if facts:
                detail = f" and I have your {facts[0]}"
        return f"{sorry}Hi, I can see you're calling about {topic}{detail}. Let me sort that out."
    return f"{sorry}Hi, I've got your call from our assistant. How can I help you today?"


def build(call_sid: str, record_turns: Sequence[Turn], ctx: HandoffContext | None,
          outcome: str | None, intent: str | None, search: Searcher | None) -> ScreenPop:
    if ctx is not None and outcome and outcome.startswith("transfer"):
        status = "in queue / ringing an agent"
    elif outcome:
        status = "ended"
    else:
        status = "with the bot"
    transcript = list(record_turns)
    if not transcript and ctx is not None:
        transcript = [Turn(t.speaker, t.text, "say" if t.speaker == "bot" else "speech", t.t)
                      for t in ctx.transcript]
    words = [t.text for t in transcript if t.speaker == "caller" and t.kind == "speech"]
    summary = ctx.summary if ctx is not None else (
        "With the bot" + (f": caller said '{words[-1]}'" if words else "") + ".")
    return ScreenPop(
        call_sid=call_sid, status=status, summary=summary, transcript=transcript,
        profile=ctx.profile if ctx is not None else None,
        articles=top_articles(search, words), first_sentence=first_sentence(ctx, intent),
        frustrated=bool(ctx is not None and ctx.sentiment.frustrated),
        intent=(ctx.intent if ctx is not None else None) or intent,
        slots={k: v.value for k, v in ctx.slots.items()} if ctx is not None else {},
    )


def blueprint(view: Callable[[str], ScreenPop | None], secret: Callable[[], str]) -> Blueprint:
    """The ``/agent/calls`` pages. ``view`` builds a call's :class:`ScreenPop` (None: unknown)."""
    bp = Blueprint("screenpop", __name__, template_folder="templates")

    def _authorised(call_sid: str) -> None:
        if not check(secret(), call_sid, request.args.get("exp", ""),
                     request.args.get("sig", "")):
            abort(403, description="screen-pop link is invalid or expired")

    @bp.get(SCREEN_POP_PATH + "<call_sid>.json")
    def data(call_sid: str) -> Response | tuple[Response, int]:
        _authorised(call_sid)
        pop = view(call_sid)
        if pop is None:
            return jsonify(error="unknown_call"), 404
        return jsonify(pop.to_json())

    @bp.get(SCREEN_POP_PATH + "<call_sid>")
    def page(call_sid: str) -> str | tuple[str, int]:
        _authorised(call_sid)
        pop = view(call_sid)
        if pop is None:
            abort(404)
        query = urlencode({"exp": request.args["exp"], "sig": request.args["sig"]})
        return render_template("screenpop.html", pop=pop.to_json(), refresh_ms=REFRESH_MS,
                               data_url=f"{SCREEN_POP_PATH}{call_sid}.json?{query}")

    return bp
