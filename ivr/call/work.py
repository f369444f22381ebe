"""The jobs a call hands to the worker pool, built on the socket thread as closures over values
(never over call state): ASR of an utterance, an engine turn and its rendering, a restore.

Each yields :mod:`ivr.call.items` for the call's inbox; :class:`~ivr.call.jobs.CallJobs` runs
them and turns any exception into a ``Failed`` item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ivr.call.items import Heard, Item, Timing
from ivr.call.jobs import CallJobs, Work
from ivr.call.turntaking import TakeBack
from ivr.dialog import CallDialog, Directive


def transcribe(transcriber: Any, audio: np.ndarray, hints: tuple[str, ...], gen: int, seq: int,
               completeness: Callable[[str], float] | None, ended: bool,
               wanted: Callable[[], bool] | None = None,
               needs_model: Callable[[str], bool] | None = None) -> Work:
    """ASR of the utterance so far (a guess at a pause when ``ended`` is False). ``wanted``:
    asked when a worker picks the job up; False (the guess went stale while it queued) skips
    the decode and yields nothing, which is what the call would have done with its result.
    ``needs_model``: whether the end-of-turn verdict will read the completeness score of these
    words (None: always computed)."""

    def work() -> Iterator[Item]:
        if wanted is not None and not wanted():
            return
        t0 = time.perf_counter()
        heard = transcriber.transcribe_phone(audio, hints)
        asr_ms = (time.perf_counter() - t0) * 1000
        # Only a guess at a pause needs the model: a turn ended by silence is over anyway.
        complete = completeness(heard.text) \
            if (completeness is not None and heard.text and not ended
                and (needs_model is None or needs_model(heard.text))) else None
        yield Heard(gen, seq, heard.text, heard.confidence, heard.dropped, asr_ms, complete)

    return work


def turn(jobs: CallJobs, compute: Callable[[], list[Directive]], gen: int,
         asr_ms: float = 0.0) -> Work:
    """One engine turn, timed, then its directives rendered in order."""

    def work() -> Iterator[Item]:
        t0 = time.perf_counter()
        directives = compute()
        yield Timing(gen, asr_ms, (time.perf_counter() - t0) * 1000)
        yield from jobs.render(directives, gen)

    return work


def restore(dialog: CallDialog, tb: TakeBack) -> Work:
    """Undo the turn ``tb`` took (its snapshot was taken on the worker before the turn ran)."""

    def work() -> Iterator[Item]:
        if tb.snapshot is not None:
            dialog.restore(tb.snapshot)  # type: ignore[attr-defined]
        yield from ()

    return work


def render(jobs: CallJobs, directives: list[Directive], gen: int) -> Work:
    def work() -> Iterator[Item]:
        yield from jobs.render(directives, gen)

    return work
