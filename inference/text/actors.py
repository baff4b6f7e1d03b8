"""Perpetrator spans to actor ids through an alias table in YAML.

``normalise_actor("Assad regime forces") == "syrian government or russian troops"``. The shipped
table (``inference/text/data/actors_syria.yaml``) covers the Syrian war, with FA-KES's actor category
strings as ids; ``load_actor_table(path)`` reads a replacement of the same shape::

    generic_words: [forces, fighters, ...]    # stripped from the ends of a span before lookup
    actors:
      <actor id>: [alias, alias, ...]

Lookup (see the YAML file's header): the whole normalised span, then the phrase after "of" /
"from" / "loyal to" / "linked to" / "led by", then either with generic words stripped from the
end and then from the start. A span that matches no alias gets ``None``: unknown stays unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from inference.text.counts import edits1
from inference.text.lexicon import ARTICLES

DEFAULT_TABLE = "actors_syria.yaml"
_AFTER = re.compile(r"\b(?:of|from|loyal to|linked to|led by|affiliated with)\s+(.+)$")


def actor_key(text: str) -> str:
    """Lower case, straight quotes, no possessive, no leading determiner, single spaces."""
    key = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    key = re.sub(r"[\u2010-\u2014]", "-", key)
    key = re.sub(r"'s\b|'$", "", key)
    key = re.sub(r"[^\w'./ -]+", " ", key)
    words = key.split()
    while words and words[0] in ARTICLES:
        words = words[1:]
    return " ".join(words).strip(" .")


@dataclass(frozen=True)
class ActorTable:
    aliases: dict[str, str]  # normalised alias -> actor id
    generic_words: frozenset[str] = frozenset()
    vocabulary: frozenset[str] = field(default=frozenset())

    @classmethod
    def from_mapping(cls, data: dict) -> ActorTable:
        actors = data.get("actors") or {}
        if not isinstance(actors, dict):
            raise ValueError("actor table: 'actors' must map actor ids to lists of aliases")
        aliases: dict[str, str] = {}
        for actor, names in actors.items():
            for name in [actor, *(names or [])]:
                key = actor_key(str(name))
                if key in aliases and aliases[key] != actor:
                    raise ValueError(f"actor table: alias {name!r} given for {aliases[key]!r} and {actor!r}")
                aliases[key] = str(actor)
        generic = frozenset(actor_key(str(w)) for w in data.get("generic_words") or [])
        words = {w for key in [*aliases, *generic] for w in key.split()}
        return cls(aliases, generic, frozenset(words))

    @property
    def ids(self) -> list[str]:
        return sorted(set(self.aliases.values()))

    def lookup(self, text: str) -> str | None:
        """The actor id of a perpetrator span, or None when no alias matches."""
        key = " ".join(self._spell(w) for w in actor_key(text).split())
        if not key:
            return None
        candidates = [key]
        after = _AFTER.search(key)
        if after:
            candidates.append(actor_key(after.group(1)))
        for candidate in candidates:
            found = self._match(candidate)
            if found is not None:
                return found
        return None

    def _match(self, key: str) -> str | None:
        if key in self.aliases:
            return self.aliases[key]
        first = key.split()
        for words in (first, first[::-1]):  # generic words off the end, then off the start
            reverse = words is not first
            while len(words) > 1 and words[-1] in self.generic_words:
                words = words[:-1]
                phrase = " ".join(words[::-1] if reverse else words)
                if phrase in self.aliases:
                    return self.aliases[phrase]
        return None

    def _spell(self, word: str) -> str:
        if word in self.vocabulary or len(word) < 5 or not word.isalpha():
            return word
        candidates = edits1(word) & self.vocabulary
        return candidates.pop() if len(candidates) == 1 else word


def load_actor_table(path: str | Path | None = None) -> ActorTable:
    """The alias table at ``path``, or the shipped Syrian-war table."""
    if path is None:
        text = resources.files("inference.text").joinpath("data", DEFAULT_TABLE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ValueError(f"actor table {path or DEFAULT_TABLE}: expected a mapping")
    return ActorTable.from_mapping(data)


@lru_cache(maxsize=1)
def default_actor_table() -> ActorTable:
    return load_actor_table()


def normalise_actor(text: str, table: ActorTable | None = None) -> str | None:
    """Actor id for a perpetrator span's text (``None`` if the table does not know it)."""
    return (table or default_actor_table()).lookup(text)
