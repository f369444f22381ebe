"""Which topic (entity) a conversation is about, and FAQ titles that spell it out.

Pure lexical logic first (ivr.nlu.lexical.CoverageIndex), then the knowledge base with the real
MiniLM: each case is one of the failure kinds found on DSTC10's spoken turns, rebuilt here with
names and texts of our own.
"""

from __future__ import annotations

import numpy as np
import pytest

from ivr.nlu.embedder import default_embedder
from ivr.nlu.kb import FaqEntry, KnowledgeBase, _question_forms
from ivr.nlu.lexical import CoverageIndex, name_forms

NAMES = [
    "Blue Door Cafe - Harbour",
    "Blue Door Cafe - Old Town",
    "Restaurant Two",
    "Golden Restaurant",
    "Riverside Restaurant",
    "Harbour Restaurant",
    "Laurel Inn, a Garden Hotel",
    "FishHouse",
]


def cov(index: CoverageIndex, text: str, **kw: bool) -> dict[str, float]:
    return {n: round(float(c), 3) for n, c in zip(NAMES, index.coverage(text, **kw), strict=True)}


def test_a_name_has_its_head_as_a_second_form() -> None:
    assert name_forms("Blue Door Cafe - Harbour") == ["Blue Door Cafe - Harbour", "Blue Door Cafe"]
    assert name_forms("Laurel Inn, a Garden Hotel") == ["Laurel Inn, a Garden Hotel", "Laurel Inn"]
    assert name_forms("Card (Europe)") == ["Card (Europe)", "Card"]
    assert name_forms("Pay-as-you-go") == ["Pay-as-you-go"]  # a hyphen inside a word is no cut
    assert name_forms("The - Place") == ["The - Place"]  # a head of stop words alone is no name


def test_the_head_names_every_branch_and_the_full_name_wins() -> None:
    index = CoverageIndex(NAMES)
    said = cov(index, "it's called the blue door cafe")
    assert said["Blue Door Cafe - Harbour"] == said["Blue Door Cafe - Old Town"] == 0.9
    said = cov(index, "the blue door cafe in old town")
    assert said["Blue Door Cafe - Old Town"] == 1.0
    # The other branch's head was said too, but only as part of this branch's full name.
    assert said["Blue Door Cafe - Harbour"] == 0.45
    assert cov(index, "the laurel inn has rooms")["Laurel Inn, a Garden Hotel"] == 0.9
    # heads=False: only the full name counts (the knowledge base's tie-break).
    full = cov(index, "the blue door cafe in old town", heads=False)
    assert full["Blue Door Cafe - Old Town"] == 1.0 > full["Blue Door Cafe - Harbour"]


def test_a_name_of_common_words_is_not_named_by_one_of_them() -> None:
    index = CoverageIndex(NAMES)
    said = cov(index, "what's the restaurant's phone number")
    assert said["Restaurant Two"] == 0.0
    # Said in full it is a mention, though never as sure a one as a distinctive name.
    assert 0.6 <= cov(index, "i'd like restaurant two")["Restaurant Two"] < 1.0


def test_a_name_written_as_one_word_is_named_by_its_spoken_parts() -> None:
    index = CoverageIndex(NAMES)
    assert cov(index, "one option is fish house on the pier")["FishHouse"] == 1.0
    assert cov(index, "fish and a house")["FishHouse"] == 0.0


def test_a_name_with_digits_is_also_named_in_words() -> None:
    assert name_forms("Pier 39") == ["Pier 39", "Pier thirty nine"]
    assert name_forms("The 16th Steps") == ["The 16th Steps", "The sixteenth Steps"]
    assert name_forms("Museum Of 3D Art - Downtown") == [
        "Museum Of 3D Art - Downtown", "Museum Of three D Art - Downtown",
        "Museum Of 3D Art", "Museum Of three D Art",
    ]
    names = ["Museum Of 3D Art - Downtown", "Pier 39", "Pier 7", "Wax Museum"]
    index = CoverageIndex(names)
    said = dict(zip(names, index.coverage("the second is the museum of three d. art"), strict=True))
    assert said["Museum Of 3D Art - Downtown"] == pytest.approx(0.9)  # the head, in words
    assert said["Wax Museum"] == 0.0
    said = dict(zip(names, index.coverage("meet me at pier thirty nine"), strict=True))
    # "pier" alone would name Pier 7 (a number is weak evidence), but it was said inside Pier 39.
    assert said["Pier 39"] == 1.0 and said["Pier 7"] < 0.5
    assert index.coverage("the museum of 3d art downtown", heads=False)[0] == 1.0


def test_the_longest_name_said_shadows_the_names_inside_it() -> None:
    names = ["Orchard Hotel", "Orchard Garden Hotel", "Sea Wind Hotel", "Garden Court"]
    index = CoverageIndex(names)
    said = dict(zip(names, index.coverage("so the orchard garden hotel is in the north"),
                    strict=True))
    assert said["Orchard Garden Hotel"] == 1.0
    assert said["Orchard Hotel"] == 0.5  # its words were said, as part of the longer name
    # Two names said side by side, neither inside the other: both stay whole.
    said = dict(zip(names, index.coverage("orchard hotel or sea wind hotel"), strict=True))
    assert said["Orchard Hotel"] == 1.0 and said["Sea Wind Hotel"] == 1.0


def test_a_title_that_names_its_topic_also_reads_as_callers_say_it() -> None:
    entry = FaqEntry(("Does the Blue Door Cafe serve alcohol?", "Is there parking?"), "Yes.",
                     "a", topic="Blue Door Cafe - Harbour")
    assert _question_forms(entry) == [
        "Does the Blue Door Cafe serve alcohol?", "Is there parking?", "Does it serve alcohol?"
    ]
    assert _question_forms(FaqEntry(("Does Blue Door Cafe serve alcohol?",), "Yes.", "b")) == [
        "Does Blue Door Cafe serve alcohol?"
    ]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    entries = [
        FaqEntry(("Does Blue Door Cafe - Harbour serve alcohol?",), "Beer and wine.", "harbour",
                 topic="Blue Door Cafe - Harbour"),
        FaqEntry(("Do you serve alcohol?",), "No alcohol, sorry.", "old_town",
                 topic="Blue Door Cafe - Old Town"),
        FaqEntry(("Is alcohol served at this restaurant?",), "A full bar.", "two",
                 topic="Restaurant Two"),
        FaqEntry(("Does Golden Restaurant serve alcohol?",), "Wine only.", "golden",
                 topic="Golden Restaurant"),
    ]
    return KnowledgeBase(entries, default_embedder())


def test_the_branch_the_conversation_placed_gets_the_answer(kb: KnowledgeBase) -> None:
    context = [
        "I'm looking for somewhere to eat in the harbour area",
        "Let me see what's in the harbour.",
        "something cheap please",
        "I found one place, it's called the Blue Door Cafe.",
        "great what's their address",
        "It's 12 Quay Street.",
    ]
    hits = kb.search("do they serve alcohol at this restaurant", k=2, context=context)
    assert hits[0][0].id == "harbour"
    assert hits[1][0].id == "old_town"


def test_a_generic_word_does_not_pull_in_a_generically_named_place(kb: KnowledgeBase) -> None:
    context = ["Golden Restaurant is on Main Street.", "and the restaurant's phone number?"]
    assert kb.search("do they serve alcohol", k=1, context=context)[0][0].id == "golden"
    scores = kb.scores("do they serve alcohol", context=context)
    assert np.argmax(scores) == 3
