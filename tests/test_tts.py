"""Piper behind ivr.tts.Speaker: the in-memory cache of repeated dynamic replies."""

from __future__ import annotations

import pytest

from ivr.tts import Speaker, VoiceConfig


@pytest.fixture(scope="module")
def speaker() -> Speaker:
    return Speaker(VoiceConfig(cache_dir=""))


def test_a_repeated_dynamic_reply_comes_from_memory(speaker: Speaker) -> None:
    text = "You can say, for example, damaged item. Or say agent."
    first = list(speaker.stream(text))
    assert len(first) == 2  # streamed sentence by sentence the first time
    again = list(speaker.stream(text))
    assert again == [b"".join(first)]  # the same audio, in one piece, without Piper
    assert len(list(speaker.stream(text, cache=False))) == 2  # cache=False renders again


def test_replies_with_digits_are_not_kept(speaker: Speaker) -> None:
    text = "Your order 4 5 6 ships on Friday."
    one = list(speaker.stream(text))
    assert len(one) == 1 and text not in speaker._dynamic
    assert speaker.render("Thanks for calling.", cache=False)


def test_one_thread_voice_sounds_like_the_default(speaker: Speaker) -> None:
    """Our onnxruntime options change the threads, not the voice (Piper adds random noise,
    so the two renderings are compared by length)."""
    default = Speaker(VoiceConfig(cache_dir="", threads=0))
    text = "Thanks for calling Example Shop."
    a, b = default.render(text, cache=False), speaker.render(text, cache=False)
    assert abs(len(a) - len(b)) < 0.15 * len(a)
