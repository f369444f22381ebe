"""ASR-noised copies of a plan's examples: train on what callers sound like after the ASR.

Each example is spoken once by Piper (:data:`ivr.nlu.spoken.NOISED_STYLES`: varied speed, pitch
and line noise), put through the phone line and transcribed by the real ASR with the menu's
hints; a transcript that differs from its example ("the ATM 8 my card") becomes one more
example of the same option, and the calibration folds hold it out with its example
(:func:`ivr.nlu.calibration.calibrate`). Transcripts are cached on disk per utterance
(:class:`ivr.nlu.spoken.SpokenChannel`), so only new or edited examples are ever spoken.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ivr.nlu.lexical import normalize
from ivr.nlu.spoken import NOISED_STYLES, Progress, SpokenChannel


def heard_examples(
    examples: Mapping[str, Sequence[str]],
    hints: tuple[str, ...] = (),
    *,
    channel: SpokenChannel | None = None,
    progress: Progress | None = None,
    cached_only: bool = False,
    asr_model: str = "",
) -> dict[str, str]:
    """``{example: what the ASR heard}`` for every distinct example text.

    ``asr_model``: the server's ASR model (``IVR_ASR_MODEL``; empty: tiny.en), so the copies
    carry the errors of the recogniser that will hear the callers.

    ``cached_only``: only what earlier builds heard (no TTS/ASR at all; what a server start
    uses, so start-up never waits for speech synthesis).
    """
    texts = list(dict.fromkeys(t for ex in examples.values() for t in ex if normalize(t)))
    if not texts:
        return {}
    ch = channel or SpokenChannel(NOISED_STYLES, model=asr_model)
    if cached_only:
        return ch.lookup(texts, [hints] * len(texts))
    heard = ch.hear(texts, [hints] * len(texts), progress=progress)
    return dict(zip(texts, heard, strict=True))


def menu_hints(vocabulary: Sequence[str], options: Sequence[str], agents: Sequence[str]
               ) -> tuple[str, ...]:
    """The decoder hints a menu's examples are spoken with (the engine's order, fitted)."""
    from ivr.asr import fit_hints

    return fit_hints(tuple(dict.fromkeys([*vocabulary, *options, *agents])))
