"""A call's work on the shared worker pool: engine turns (one after another), ASR, TTS.

Workers never touch call state: every result goes back as an item on the call's inbox, tagged
with the turn generation it was computed for, so the socket thread can drop results of a turn
the call has moved past. Engine jobs are chained (each waits for the call's previous one)
because a dialogue is not thread-safe and a taken-back turn's restore must follow the turn it
undoes. Any exception becomes a :class:`~ivr.call.items.Failed` item: never lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, wait

from ivr.call.items import Audio, Control, EndOfSay, Failed, Item
from ivr.dialog import Directive, Say
from ivr.tts import Speaker

log = logging.getLogger(__name__)

Work = Callable[[], Iterator[Item]]


class CallJobs:
    def __init__(self, executor: Executor, speaker: Speaker, post: Callable[[Item], None],
                 current_gen: Callable[[], int], call_sid: Callable[[], str]) -> None:
        self._executor = executor
        self._speaker = speaker
        self._post = post
        self._gen = current_gen
        self._sid = call_sid
        self._last: Future[None] | None = None

    def submit(self, work: Work, gen: int) -> None:
        """Independent work (ASR, a rendering with no engine in it)."""
        self._executor.submit(self._guard(work, gen))

    def engine(self, work: Work, gen: int) -> None:
        """Work that touches the dialogue: runs after the call's previous engine job."""
        prev = self._last
        guarded = self._guard(work, gen)

        def run() -> None:
            if prev is not None:
                wait([prev])
            guarded()

        self._last = self._executor.submit(run)

    def render(self, turn: list[Directive], gen: int) -> Iterator[Item]:
        """Worker side: synthesise Says in order, then pass the control directive through."""
        for d in turn:
            if gen != self._gen():
                return  # the caller has moved on
            if isinstance(d, Say):
                if not d.text.strip():
                    continue
                if d.static:
                    yield Audio(gen, self._speaker.render(d.text), d.barge_in, d.text)
                else:
                    for chunk in self._speaker.stream(d.text):
                        yield Audio(gen, chunk, d.barge_in, d.text)
                yield EndOfSay(gen, d.text)
            else:
                yield Control(gen, d)

    def _guard(self, work: Work, gen: int) -> Callable[[], None]:
        def run() -> None:
            try:
                for item in work():
                    self._post(item)
            except BaseException as exc:
                log.exception("call %s: turn failed", self._sid())
                self._post(Failed(gen, exc))

        return run
