"""Piper behind ivr.tts.Speaker: the in-memory cache of repeated dynamic replies, and the short
lead a reply rendered on the fly starts with."""

from __future__ import annotations

import pytest

from ivr.asr import Transcriber
from ivr.audio import ulaw_to_pcm16
from ivr.tts import Speaker, VoiceConfig, split_lead


@pytest.fixture(scope="module")
def speaker() -> Speaker:
    return Speaker(VoiceConfig(cache_dir=""))


def test_a_repeated_dynamic_reply_comes_from_memory(speaker: Speaker) -> None:
    text = "You can say, for example, damaged item. Or say agent."
    first = list(speaker.stream(text))
    assert len(first) == 3  # streamed the first time: the lead, the rest of its sentence, the next
    again = list(speaker.stream(text))
    assert again == [b"".join(first)]  # the same audio, in one piece, without Piper
    assert len(list(speaker.stream(text, cache=False))) == 3  # cache=False renders again


def test_replies_with_digits_are_not_kept(speaker: Speaker) -> None:
    text = "Your order 4 5 6 ships on Friday."
    pieces = list(speaker.stream(text))
    assert len(pieces) == 2 and text not in speaker._dynamic
    assert speaker.render("Thanks for calling.", cache=False)


def test_one_thread_voice_sounds_like_the_default(speaker: Speaker) -> None:
    """Our onnxruntime options change the threads, not the voice (Piper adds random noise,
    so the two renderings are compared by length)."""
    default = Speaker(VoiceConfig(cache_dir="", threads=0))
    text = "Thanks for calling Example Shop."
    a, b = default.render(text, cache=False), speaker.render(text, cache=False)
    assert abs(len(a) - len(b)) < 0.15 * len(a)


@pytest.mark.parametrize(("text", "lead"), [
    ("I heard 3 4 5 6 7 9. Is that right? Say yes or press 1.", "I heard"),  # before the number
    ("I couldn't find order 345678. Would you like to try again?", "I couldn't find order"),
    ("You can say, for example, damaged item.", "You can say"),  # at the comma
    ("Okay, connecting you to billing now.", "Okay"),
    ("Thanks for waiting while I look that up for you.", "Thanks for waiting"),  # 3 words
])
def test_the_lead_is_cut_where_a_speaker_would_breathe(text: str, lead: str) -> None:
    got = split_lead(text, 3)
    assert got is not None and got[0] == lead
    assert f"{got[0]} {got[1]}".replace(" ,", ",") in (text, text.replace(",", "", 1))


@pytest.mark.parametrize("text", ["Thanks. I am connecting you now.", "Yes, I can help.", ""])
def test_short_first_sentences_are_rendered_whole(text: str) -> None:
    assert split_lead(text, 3) is None
    assert split_lead("I heard 3 4 5 6 7 9.", 0) is None  # lead_words 0: off


def test_a_reply_with_a_lead_is_heard_as_one_sentence(speaker: Speaker) -> None:
    """The lead and the rest, played back to back down the phone line, are transcribed as the
    whole reply by the real recogniser: the seam costs no words. (Piper adds random noise and
    Whisper tiny.en drops a digit now and then on whole sentences too: five of six must come.)"""
    text = "Your order 4 5 6 7 8 9 was delivered yesterday."
    audio = b"".join(speaker.stream(text, cache=False))
    heard = Transcriber().transcribe_phone(ulaw_to_pcm16(audio)).text.lower()
    assert "order" in heard and "delivered yesterday" in heard
    assert len(set(ch for ch in heard if ch.isdigit()) & set("456789")) >= 5


def test_a_lead_is_rendered_once_and_never_with_a_number(speaker: Speaker) -> None:
    """Leads repeat across calls ("I heard ..."): prepared at startup, served from memory;
    a lead holding caller digits is never kept."""
    speaker.prepare_lead("I heard 1 2 3 4 5 6. Is that right?")
    assert "I heard" in speaker._dynamic
    lead = next(speaker.stream("I heard 9 8 7 6 5 4. Is that right?"))
    assert lead == speaker._dynamic.get("I heard")
    speaker.prepare_lead("Order 12 34 56 78 is on its way.")  # "Order 12": digits, not kept
    assert not any(_ch.isdigit() for key in list(speaker._dynamic._items) for _ch in key)
