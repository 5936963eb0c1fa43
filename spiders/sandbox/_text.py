"""Seeded English text for sandbox posts (a fake may bring its own language).

Every function takes the caller's ``random.Random`` so a seed fixes the words.
Each post carries one deliberate typo (see :func:`with_typo`) so that a
"minor typo fix" edit is always possible.
"""

from __future__ import annotations

import random

_ADJ = [
    "quiet",
    "crowded",
    "rainy",
    "bright",
    "narrow",
    "local",
    "hidden",
    "early",
    "late",
    "strange",
    "careful",
    "sudden",
    "public",
    "small",
    "curious",
    "familiar",
    "distant",
]
_NOUN = [
    "council",
    "market",
    "library",
    "bridge",
    "harbour",
    "school",
    "festival",
    "river",
    "station",
    "garden",
    "museum",
    "bakery",
    "committee",
    "newspaper",
    "tram",
    "archive",
]
_VERB = [
    "postponed",
    "announced",
    "reopened",
    "questioned",
    "published",
    "rejected",
    "approved",
    "cancelled",
    "discussed",
    "revealed",
    "moved",
    "renamed",
    "repaired",
    "investigated",
]
_OBJ = [
    "the budget",
    "the new timetable",
    "its opening hours",
    "the survey results",
    "the building permit",
    "an open letter",
    "the annual report",
    "the rent increase",
    "the street closure",
    "the audit",
    "the photo exhibition",
    "the night schedule",
]
_PLACE = [
    "the old town",
    "the riverside",
    "the north district",
    "the square",
    "the harbour",
    "the university quarter",
    "the east side",
    "the central station",
]
_TAIL = [
    "Nobody expected it.",
    "More details tomorrow.",
    "Residents were not consulted.",
    "The minutes are public.",
    "Officials declined to comment.",
    "It happened quietly.",
    "Several people confirmed it independently.",
    "The decision can still be appealed.",
]
_HASHTAGS = ["localnews", "transparency", "city", "photography", "openaccess", "community"]


def english_sentence(rng: random.Random) -> str:
    """One plain English sentence."""
    return (
        f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)} {rng.choice(_VERB)} "
        f"{rng.choice(_OBJ)} near {rng.choice(_PLACE)}."
    )


def english_sentences(rng: random.Random, low: int, high: int) -> list[str]:
    """Between ``low`` and ``high`` sentences; the last one is a short remark."""
    n = rng.randint(low, high)
    out = [english_sentence(rng) for _ in range(max(1, n - 1))]
    out.append(rng.choice(_TAIL))
    return out


def english_title(rng: random.Random) -> str:
    noun = rng.choice(_NOUN)
    return f"{rng.choice(_ADJ).capitalize()} {noun} {rng.choice(_VERB)} {rng.choice(_OBJ)}"


def hashtags(rng: random.Random) -> list[str]:
    return rng.sample(_HASHTAGS, rng.randint(0, 2))


def with_typo(rng: random.Random, sentences: list[str]) -> tuple[list[str], tuple[int, str] | None]:
    """Put one typo into ``sentences``; return them and ``(index, correct sentence)``."""
    order = list(range(len(sentences)))
    rng.shuffle(order)
    for index in order:
        correct = sentences[index]
        wrong = _misspell(rng, correct)
        if wrong != correct:
            out = list(sentences)
            out[index] = wrong
            return out, (index, correct)
    return list(sentences), None


def _misspell(rng: random.Random, sentence: str) -> str:
    if "的" in sentence:
        return sentence.replace("的", "得", 1)
    words = sentence.split(" ")
    candidates = [i for i, w in enumerate(words) if w.isalpha() and len(w) >= 5]
    if not candidates:
        return sentence
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randint(1, len(word) - 3)
    swapped = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    if swapped == word:
        return sentence
    words[i] = swapped
    return " ".join(words)


def english_rewrite(rng: random.Random, count: int) -> list[str]:
    """Entirely new sentences for a "major rewrite" edit."""
    return [english_sentence(rng) for _ in range(max(2, count))]


def nth_name(names: list[str], i: int) -> str:
    """The ``i``-th of ``names``, numbered once they run out."""
    return names[i] if i < len(names) else f"{names[i % len(names)]}{i // len(names)}"
