"""What the synthetic corpus says: read sentences, keywords, spoken commands, emotion presets."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

# Speech Commands v1: the 10 keywords of SUPERB KS, and the other 20 words (-> _unknown_).
KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
UNKNOWN_WORDS = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin",
    "nine", "one", "seven", "sheila", "six", "three", "tree", "two", "wow", "zero",
)
UNKNOWN_LABEL, SILENCE_LABEL = "_unknown_", "_silence_"


@lru_cache(maxsize=1)
def sentences() -> tuple[str, ...]:
    """2,561 distinct whole, common-word English sentences (WordNet examples, shipped with the package)."""
    text = resources.files("codec2vec.data.resources").joinpath("sentences.txt").read_text(encoding="utf-8")
    return tuple(line for line in text.splitlines() if line and not line.startswith("#"))


# Fluent Speech Commands: its 31 intents (action, object, location), each with several phrasings.
_LOCATION_PHRASES = {"kitchen": ["in the kitchen"], "bedroom": ["in the bedroom"],
                     "washroom": ["in the washroom", "in the bathroom"]}
_PHRASES = {
    ("activate", "lights"): ["turn on the lights", "switch on the lights", "lights on", "switch the lights on"],
    ("deactivate", "lights"): ["turn off the lights", "switch off the lights", "lights off", "switch the lights off"],
    ("activate", "lamp"): ["turn on the lamp", "switch the lamp on", "lamp on"],
    ("deactivate", "lamp"): ["turn off the lamp", "switch the lamp off", "lamp off"],
    ("activate", "music"): ["play the music", "turn on the music", "put on some music", "start the music"],
    ("deactivate", "music"): ["stop the music", "turn off the music", "pause the music", "music off"],
    ("increase", "volume"): ["turn up the volume", "louder please", "increase the volume", "make it louder"],
    ("decrease", "volume"): ["turn down the volume", "quieter please", "decrease the volume", "make it quieter"],
    ("increase", "heat"): ["turn up the heat", "increase the heating", "make it warmer", "heat up"],
    ("decrease", "heat"): ["turn down the heat", "decrease the heating", "make it cooler", "less heat"],
    ("bring", "newspaper"): ["bring me the newspaper", "get me the newspaper", "fetch the newspaper"],
    ("bring", "juice"): ["bring me some juice", "get me the juice", "fetch me a juice"],
    ("bring", "socks"): ["bring me my socks", "get my socks", "fetch the socks"],
    ("bring", "shoes"): ["bring me my shoes", "get my shoes", "fetch the shoes"],
    ("change language", "none"): ["change the language", "switch the language", "language settings"],
}
_LANGUAGE_PHRASES = ["change the language to {}", "switch to {}", "use {}", "set my language to {}"]
_LANGUAGES = ("Chinese", "Korean", "English", "German")
_LOCATED = {("activate", "lights"), ("deactivate", "lights"), ("increase", "heat"), ("decrease", "heat")}


def intent_label(action: str, obj: str, location: str) -> str:
    return f"{action}|{obj}|{location}"


@lru_cache(maxsize=1)
def intents() -> dict[str, tuple[str, ...]]:
    """The 31 Fluent-Speech-Commands intents ('action|object|location') and their phrasings."""
    table: dict[str, tuple[str, ...]] = {}
    for (action, obj), phrases in _PHRASES.items():
        table[intent_label(action, obj, "none")] = tuple(phrases)
        if (action, obj) in _LOCATED:
            for location, suffixes in _LOCATION_PHRASES.items():
                table[intent_label(action, obj, location)] = tuple(f"{p} {s}" for p in phrases for s in suffixes)
    for language in _LANGUAGES:
        table[intent_label("change language", language, "none")] = tuple(p.format(language) for p in _LANGUAGE_PHRASES)
    return table


@dataclass(frozen=True)
class EmotionPreset:
    """A prosody preset standing in for an emotion. A SYNTHETIC PROXY: it changes only rate,
    pitch, pitch range and loudness, which is a small part of what emotion is in real speech."""

    rate: float
    pitch: float
    pitch_range: float
    gain_db: float


EMOTIONS = {
    "neutral": EmotionPreset(rate=1.0, pitch=0, pitch_range=0, gain_db=0.0),
    "happy": EmotionPreset(rate=1.12, pitch=18, pitch_range=35, gain_db=2.0),
    "sad": EmotionPreset(rate=0.8, pitch=-15, pitch_range=-35, gain_db=-6.0),
    "angry": EmotionPreset(rate=1.2, pitch=6, pitch_range=25, gain_db=6.0),
}
